"""What the tasks do, without Celery: scan one target and store it, rate one organisation.

These are the in-process pipeline's own steps (`Scanner.scan_unit`, `enrich`,
`write_target_result`, `rate_organisation`) in units a worker can take, retry and repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.pipeline import rate_organisation, store_result
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.engine import Scanner, Unit, mx_units, split_host_port
from utsyn.scan.family import ScanConfig
from utsyn.scan.model import TargetResult
from utsyn.store import distributed
from utsyn.store.db import one_transaction
from utsyn.vuln.enrich import enrich
from utsyn.vuln.feeds import load_current
from utsyn.worker.database import with_retry
from utsyn.worker.ratelimit import TargetRateLimit

log = logging.getLogger("utsyn.worker.work")


@dataclass(frozen=True)
class TargetJob:
    run_id: int
    org: str
    kind: Literal["domain", "host"]
    name: str
    expected: int  # the organisation's planned targets: the last one stored rates it


@dataclass(frozen=True)
class TargetDone:
    result: TargetResult | None  # None: a re-delivery of a target already stored
    org_complete: bool
    waited: float  # seconds spent waiting for the per-target rate limit


def scan_target(
    job: TargetJob,
    config: ScanConfig,
    limiter: TargetRateLimit | None = None,
    max_wait: float = 30.0,
    delay: float = 0.0,
) -> TargetDone:
    """Scan and store one target of a run; a target already stored is not scanned again."""
    if with_retry(lambda s: distributed.is_stored(s, job.run_id, job.org, job.kind, job.name)):
        return TargetDone(None, _org_complete(job), 0.0)
    waited = limiter.acquire(job.name, max_wait) if limiter is not None else 0.0
    if delay:
        time.sleep(delay)  # tests only: a slow scan to kill a worker in the middle of
    index = load_current()
    result = enrich(scan_unit(Unit(job.org, job.kind, job.name), config), index)
    # A zone's mail exchangers outside the plan are followed here, before the zone is
    # stored: once it is, the organisation may be rated, and they must be in by then.
    known = with_retry(lambda s: distributed.planned_hosts(s, job.run_id, job.org))
    for follow in mx_units(result, {split_host_port(h)[0] for h in known}):
        _store(job.run_id, enrich(scan_unit(follow, config), index))
    _store(job.run_id, result)
    return TargetDone(result, _org_complete(job), waited)


def _store(run_id: int, result: TargetResult) -> None:
    with_retry(lambda s: _write(s, run_id, result))


def scan_unit(unit: Unit, config: ScanConfig) -> TargetResult:
    """One zone or host scanned on an event loop of its own (one per worker thread)."""
    scanner = Scanner(config)
    return asyncio.run(scanner.scan_unit(unit, scanner._context()))


def _write(session: Session, run_id: int, result: TargetResult) -> int:
    run = distributed.light_run(session, run_id)
    return store_result(session, run, result, load_rulebook())


def _org_complete(job: TargetJob) -> bool:
    stored = with_retry(lambda s: distributed.targets_stored(s, job.run_id, job.org))
    return stored >= job.expected


def rate_org(run_id: int, orgnr: str) -> bool:
    """Rate the organisation from what the run stored, once; True when the run is finished.

    A repeated delivery finds the organisation rated and only makes sure the run's
    bookkeeping is done. Ratings of one organisation never interleave (its row is locked).
    """
    if not with_retry(lambda s: distributed.is_rated(s, run_id, orgnr)):
        with_retry(lambda s: _rate(s, run_id, orgnr))
    return with_retry(lambda s: distributed.mark_rated(s, run_id, orgnr, now_utc()))


def _rate(session: Session, run_id: int, orgnr: str) -> None:
    book = load_rulebook()
    with one_transaction(session):  # the findings, snapshot and rollups, or nothing
        distributed.lock_organisation(session, orgnr)
        run = distributed.light_run(session, run_id)
        rating = rate_organisation(session, orgnr, book, run)
    log.info(
        f"organisation rated {rating.score:.1f} ({rating.grade})",
        extra={"task": "rate_org", "run": run_id, "org": orgnr},
    )
