"""Starting a distributed scan run, and sending again what the broker lost.

`start_scan` records the run and its plan in the database first, then queues one
`scan_target` task per zone and host; organisations without targets are queued for rating
at once. `reconcile` compares a run's plan with what is stored and queues the difference.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.engine import units
from utsyn.scan.family import ScanConfig
from utsyn.scan.model import Footprint
from utsyn.store import distributed
from utsyn.store.distributed import Plan
from utsyn.store.models import ScanRun
from utsyn.worker.codec import config_to_json
from utsyn.worker.queues import QUEUES, URGENT

SCAN_TARGET = "utsyn.scan_target"
RATE_ORG = "utsyn.rate_org"
REFRESH_FEEDS = "utsyn.refresh_feeds"

log = logging.getLogger("utsyn.worker.runs")


@dataclass(frozen=True)
class Queued:
    run_id: int
    targets: int  # scan tasks queued
    ratings: int  # rating tasks queued (organisations without a pending target)


def plan_of(footprints: Iterable[Footprint]) -> Plan:
    plan: Plan = {}
    for footprint in footprints:
        targets = plan.setdefault(footprint.org, [])
        targets.extend(
            (u.kind, u.name) for u in units(footprint) if (u.kind, u.name) not in targets
        )
    return plan


def distinct_names(targets: Iterable[tuple[str, str]]) -> int:
    """Targets an organisation's scan stores: one per name (a zone scanned as a host too
    is stored once, as in the in-process pipeline), so the count that completes it."""
    return len({name for _, name in targets})


def start_scan(
    celery: Celery,
    session: Session,
    footprints: Iterable[Footprint],
    config: ScanConfig,
    *,
    queue: str = URGENT,
    label: str = "request",
) -> Queued:
    """Record a run for `footprints` (organisations already in the store) and queue it."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; one of {', '.join(QUEUES)}")
    plan = plan_of(footprints)
    config_json = config_to_json(config)
    scope = {"mode": config.scope.mode, "queue": queue, "config": config_json}
    version = load_rulebook().version
    run = distributed.start_planned_run(session, plan, scope, version, label, now_utc())
    empty = [org for org, targets in plan.items() if not targets]
    queued = send_work(celery, run.id, plan, empty, config_json, queue)
    log.info(
        "scan run queued",
        extra={"run": run.id, "queue": queue, "task": "start_scan", "target": label},
    )
    return queued


def send_work(
    celery: Celery,
    run_id: int,
    targets: Plan,
    ratings: list[str],
    config_json: dict[str, Any],
    queue: str,
    expected: dict[str, int] | None = None,
) -> Queued:
    """Queue scan tasks for `targets` and rating tasks for `ratings`, on one connection.

    `expected` is each organisation's planned number of targets (default: as in `targets`).
    """
    sent = 0
    with celery.producer_or_acquire() as producer:
        for org, planned in targets.items():
            total = (expected or {}).get(org, distinct_names(planned))
            for kind, name in planned:
                args = [run_id, org, kind, name, config_json, total]
                celery.send_task(SCAN_TARGET, args=args, queue=queue, producer=producer)
                sent += 1
        for org in ratings:
            celery.send_task(RATE_ORG, args=[run_id, org], queue=queue, producer=producer)
    return Queued(run_id, sent, len(ratings))


def reconcile(celery: Celery, session: Session, run_id: int) -> Queued:
    """Queue again whatever of a running run is neither stored nor (for ratings) done.

    Safe to repeat: a task for a target already stored only checks whether its organisation
    is complete, and rating twice stores the same snapshot.
    """
    run = session.get_one(ScanRun, run_id)
    missing = distributed.missing_work(session, run)
    expected = {org: distinct_names(t) for org, t in distributed.run_plan(run).items()}
    queue = str(run.scope.get("queue", URGENT))
    config_json = dict(run.scope["config"])
    queued = send_work(
        celery, run_id, missing.targets, missing.ratings, config_json, queue, expected
    )
    if queued.targets or queued.ratings:
        log.warning(
            "run reconciled: lost work queued again",
            extra={"run": run_id, "queue": queue, "task": "reconcile", "reason": str(queued)},
        )
    return queued


def reconcile_stale(
    celery: Celery, session: Session, stale_after: float, now: datetime | None = None
) -> list[Queued]:
    """Reconcile every running distributed run without progress for `stale_after` seconds."""
    cutoff = (now or now_utc()) - timedelta(seconds=stale_after)
    stale = [
        run_id
        for run_id in distributed.running_planned_runs(session)
        if distributed.last_progress(session, run_id) < cutoff
    ]
    return [reconcile(celery, session, run_id) for run_id in stale]
