"""Periodic planning: every organisation once a period, evenly spread, stable, never twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from utsyn.clock import now_utc
from utsyn.lab.manifest import Manifest
from utsyn.lab.orgs import records_from_manifest
from utsyn.settings import Settings
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import ScanRun
from utsyn.store.orgs import upsert_organisations
from utsyn.worker.scheduler import (
    SLOTS_PER_DAY,
    Scheduler,
    batch_label,
    due,
    hour_index,
    hours_to_plan,
    slot_of,
)

from .conftest import WorkerLab, producer

SLOT_A, SLOT_B = 160, 68  # sha256 of the number, first 8 bytes, mod 168
ORGNRS = [f"{n:09d}" for n in range(900_000_000, 900_014_000)]


def test_each_day_plans_a_seventh_of_the_organisations() -> None:
    hours = range(7 * SLOTS_PER_DAY)
    per_day = Counter(h // SLOTS_PER_DAY for h in hours for _ in due(ORGNRS, h, 7))
    assert sum(per_day.values()) == len(ORGNRS)  # every organisation exactly once a week
    assert all(abs(n - len(ORGNRS) / 7) < 0.05 * len(ORGNRS) / 7 for n in per_day.values())


def test_the_slot_is_the_same_in_every_process() -> None:
    # A digest, not Python's per-process salted hash(): every scheduler agrees.
    assert (slot_of("974760673", 168), slot_of("940192226", 168)) == (SLOT_A, SLOT_B)


def test_a_restarted_scheduler_plans_the_hours_it_missed_and_no_more() -> None:
    now = 500_000
    assert hours_to_plan(set(), now, 7) == range(now, now + 1)
    assert hours_to_plan({batch_label(now - 3, 0)}, now, 7) == range(now - 2, now + 1)
    assert hours_to_plan({batch_label(now, 0)}, now, 7) == range(now + 1, now + 1)
    assert hours_to_plan({batch_label(now - 1000, 0)}, now, 7) == range(now - 167, now + 1)


@pytest.mark.services
def test_a_tick_queues_the_hours_organisations_once(
    worker_lab: WorkerLab, redis_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'utsyn.db'}"
    upgrade(url)
    manifest: Manifest = worker_lab.manifest
    engine = make_engine(url)
    with session_factory(engine)() as session:
        upsert_organisations(session, records_from_manifest(manifest), "lab:test", now_utc())
    orgnr = manifest.organisations[0].orgnr
    # The next hour of its slot: runs are stamped with the real time, so stay near it.
    current = hour_index(now_utc())
    hour = next(h for h in range(current, current + 168) if slot_of(orgnr, 168) == h % 168)
    now = datetime.fromtimestamp(hour * 3600 + 60, UTC)
    assert hour_index(now) == hour
    # No reconciliation: the test clock runs up to a week ahead of the runs' timestamps.
    settings = Settings(database_url=url, broker_url=redis_url, reconcile_after=30 * 86400)
    scheduler = Scheduler(producer(redis_url), worker_lab.config(), settings)

    first = scheduler.tick(now)
    again = scheduler.tick(now + timedelta(minutes=1))

    planned = due([o.orgnr for o in manifest.organisations], hour, 7)
    assert orgnr in planned
    assert [q.targets for q in first.planned] == [_units(manifest, planned)]
    assert first.feeds_queued and not again.feeds_queued
    assert again.planned == []
    with session_factory(engine)() as session:
        labels = [r.stats["label"] for r in session.scalars(select(ScanRun))]
    engine.dispose()
    assert labels == [batch_label(hour, 0)]
    client = redis.Redis.from_url(redis_url)
    assert client.llen("periodic") == first.planned[0].targets + 1  # and the feed task


def _units(manifest: Manifest, orgnrs: list[str]) -> int:
    # The store keeps the organisations' domains: zones only (hosts come from discovery).
    return sum(len(o.domains) for o in manifest.organisations if o.orgnr in orgnrs)
