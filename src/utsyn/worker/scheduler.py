"""`utsyn scheduler`: periodic rescans spread evenly over the period, the daily feed task,
and reconciliation of runs whose queued work the broker lost.

Every organisation is rescanned once per period (7 days by default). The period is cut into
hourly slots and an organisation's slot is a hash of its number, so each hour plans
1/(24·7) of the organisations, each day 1/7, and an organisation keeps its slot from week
to week (adding organisations never moves the others). Planned runs are labelled
`periodic:<hour>/<batch>` in the database: a scheduler that restarts plans only the hours
(at most one period back) whose runs are missing, so no hour is planned twice or skipped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import Celery
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.scan.family import ScanConfig
from utsyn.scan.model import Footprint
from utsyn.settings import Settings
from utsyn.store import distributed
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.orgs import footprint, organisation
from utsyn.worker.queues import PERIODIC
from utsyn.worker.runs import REFRESH_FEEDS, Queued, reconcile_stale, start_scan

SLOTS_PER_DAY = 24
FEED_INTERVAL = timedelta(days=1)
log = logging.getLogger("utsyn.worker.scheduler")


def slot_of(orgnr: str, slots: int) -> int:
    """A stable slot in 0..slots-1 (a hash, so the organisations spread evenly)."""
    digest = hashlib.sha256(orgnr.encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") % slots


def hour_index(now: datetime) -> int:
    return int(now.timestamp() // 3600)


def due(orgnrs: Iterable[str], hour: int, period_days: int) -> list[str]:
    slots = period_days * SLOTS_PER_DAY
    return [orgnr for orgnr in orgnrs if slot_of(orgnr, slots) == hour % slots]


def batch_label(hour: int, batch: int) -> str:
    return f"periodic:{hour}/{batch}"


def label_hour(label: str) -> int | None:
    kind, _, rest = label.partition(":")
    if kind != "periodic":
        return None
    return int(rest.split("/")[0])


def hours_to_plan(planned: set[str], current: int, period_days: int) -> range:
    """The hours after the last one planned (within one period) up to the current hour."""
    hours = [h for h in map(label_hour, planned) if h is not None]
    oldest = current - period_days * SLOTS_PER_DAY + 1
    first = max(max(hours) + 1, oldest) if hours else current
    return range(first, current + 1)


def plan_hour(
    celery: Celery,
    session: Session,
    hour: int,
    config: ScanConfig,
    settings: Settings,
    planned: set[str],
) -> list[Queued]:
    """Queue the hour's organisations as runs of at most `run_batch_orgs` organisations."""
    orgnrs = due(distributed.all_orgnrs(session), hour, settings.schedule_period_days)
    footprints = [fp for fp in _footprints(session, orgnrs) if fp.domains or fp.hostnames or fp.ips]
    size = settings.run_batch_orgs
    queued = []
    for batch, start in enumerate(range(0, len(footprints), size)):
        label = batch_label(hour, batch)
        if label in planned:  # a scheduler that stopped within the hour made this one
            continue
        chunk = footprints[start : start + size]
        queued.append(start_scan(celery, session, chunk, config, queue=PERIODIC, label=label))
    return queued


def _footprints(session: Session, orgnrs: list[str]) -> list[Footprint]:
    return [footprint(session, organisation(session, orgnr)) for orgnr in orgnrs]


@dataclass
class Tick:
    planned: list[Queued] = field(default_factory=list)
    reconciled: list[Queued] = field(default_factory=list)
    feeds_queued: bool = False


@dataclass
class Scheduler:
    celery: Celery
    config: ScanConfig
    settings: Settings
    periodic: bool = True  # False: only reconcile and check feeds (tests, a second region)
    last_feed_check: datetime | None = None

    def __post_init__(self) -> None:
        self._sessions = session_factory(make_engine(self.settings.database_url))

    def tick(self, now: datetime | None = None) -> Tick:
        now = now or now_utc()
        tick = Tick()
        with self._sessions() as session:
            if self.periodic:
                tick.planned = self._plan(session, now)
            tick.reconciled = reconcile_stale(
                self.celery, session, self.settings.reconcile_after, now
            )
        if self.last_feed_check is None or now - self.last_feed_check >= FEED_INTERVAL:
            self.celery.send_task(REFRESH_FEEDS, queue=PERIODIC)
            self.last_feed_check = now
            tick.feeds_queued = True
        return tick

    def _plan(self, session: Session, now: datetime) -> list[Queued]:
        period = timedelta(days=self.settings.schedule_period_days)
        planned = distributed.labels_since(session, now - period)
        queued: list[Queued] = []
        for hour in hours_to_plan(planned, hour_index(now), self.settings.schedule_period_days):
            queued += plan_hour(self.celery, session, hour, self.config, self.settings, planned)
        if queued:
            log.info(
                f"planned {len(queued)} periodic runs, {sum(q.targets for q in queued)} targets",
                extra={"task": "scheduler", "queue": PERIODIC},
            )
        return queued

    def run(self, interval: float, stop: threading.Event) -> None:
        """Tick every `interval` seconds until `stop` is set; a failed tick is logged."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the next tick tries again; the scheduler must not die
                log.exception("scheduler tick failed", extra={"task": "scheduler"})
            stop.wait(interval)


def migrate(settings: Settings) -> None:
    """The scheduler migrates the schema at start (workers never do: they would race)."""
    upgrade(settings.database_url)
