"""A scan run carried out by real worker processes on Redis and PostgreSQL gives what the
in-process pipeline gives: every target stored once, every organisation rated once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.lab.targets import from_manifest
from utsyn.pipeline import scan_and_store
from utsyn.store.db import make_engine, session_factory
from utsyn.store.models import Organisation, ScoreSnapshot
from utsyn.testing.workers import wait_for_run
from utsyn.worker.queues import PERIODIC, URGENT
from utsyn.worker.runs import start_scan

from .conftest import StartWorker, WorkerLab, observation_keys, producer, seed_orgs, worker_env

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]


def test_two_workers_store_every_target_once_and_rate_like_the_pipeline(
    worker_lab: WorkerLab,
    pg_url: str,
    redis_url: str,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    seed_orgs(pg_url, worker_lab.manifest)
    env = worker_env(pg_url, redis_url, tmp_path)
    start_worker("a", env)
    start_worker("b", env)
    footprints = from_manifest(worker_lab.manifest)
    engine = make_engine(pg_url)
    with session_factory(engine)() as session:
        queued = start_scan(producer(redis_url), session, footprints, worker_lab.config())
    state = wait_for_run(pg_url, queued.run_id, timeout=90)
    assert state.status == "done", state
    assert state.targets == queued.targets == 18
    assert state.rated == 3

    with session_factory(engine)() as session:
        distributed = _grades(session)
        outcome = asyncio.run(scan_and_store(session, footprints, worker_lab.config()))
        in_process = {org: r.grade for org, r in outcome.ratings.items()}
    engine.dispose()
    seen_by_workers = observation_keys(pg_url, queued.run_id)
    seen_in_process = observation_keys(pg_url, outcome.run_id)
    assert distributed == in_process
    assert seen_by_workers == seen_in_process


def _grades(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(Organisation.orgnr, ScoreSnapshot.grade).join(
            Organisation, Organisation.id == ScoreSnapshot.org_id
        )
    )
    return {orgnr: grade for orgnr, grade in rows}


def test_an_urgent_scan_goes_ahead_of_the_periodic_queue(
    worker_lab: WorkerLab,
    pg_url: str,
    redis_url: str,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    """A backlog of periodic work is queued first; the user's scan still runs first."""
    seed_orgs(pg_url, worker_lab.manifest)
    first, second, third = from_manifest(worker_lab.manifest)
    engine = make_engine(pg_url)
    with session_factory(engine)() as session:
        celery = producer(redis_url)
        backlog = start_scan(celery, session, [first, third], worker_lab.config(), queue=PERIODIC)
        asked = start_scan(celery, session, [second], worker_lab.config(), queue=URGENT)
    engine.dispose()
    worker = start_worker("single", worker_env(pg_url, redis_url, tmp_path), concurrency=1)
    assert wait_for_run(pg_url, backlog.run_id, timeout=90).status == "done"
    order = [line["queue"] for line in _stored(worker.log_text())]
    assert order == [URGENT] * asked.targets + [PERIODIC] * backlog.targets


def _stored(log: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return [line for line in lines if line["message"].startswith("target stored")]
