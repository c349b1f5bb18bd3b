"""Faults on the real services with real worker processes: a worker killed mid-scan, Redis
restarted (losing every queued task), PostgreSQL dropping connections during writes.

In each case the run finishes with every planned target stored exactly once and the same
observations an in-process scan makes (none lost, none doubled), and every organisation
rated. Redis here is a server of the test's own on 127.0.0.1:6380 without persistence.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from utsyn.clock import now_utc
from utsyn.settings import Settings
from utsyn.testing.workers import run_state, wait_for_run, wait_until
from utsyn.worker.scheduler import Scheduler

from .conftest import (
    ObservationKey,
    StartWorker,
    WorkerLab,
    observation_keys,
    producer,
    seed_orgs,
    start_run,
    unavailable,
    worker_env,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]
OWN_REDIS_PORT = 6380
UNITS = 18  # the worker lab's zones and hosts


def _stored_lines(log: str) -> int:
    return log.count('"message": "target stored')


def test_a_worker_killed_mid_scan_leaves_its_targets_to_another(
    worker_lab: WorkerLab,
    pg_url: str,
    redis_url: str,
    start_worker: StartWorker,
    tmp_path: Path,
    baseline: Counter[ObservationKey],
) -> None:
    seed_orgs(pg_url, worker_lab.manifest)
    # Each task sleeps 1.5 s first, so the killed worker holds tasks it has not finished;
    # they return to the queue once the visibility timeout (5 s) has passed.
    env = worker_env(
        pg_url, redis_url, tmp_path, worker_test_delay=1.5, worker_visibility_timeout=5
    )
    doomed = start_worker("doomed", env, concurrency=3)
    queued = start_run(pg_url, redis_url, worker_lab)
    assert wait_until(lambda: _stored_lines(doomed.log_text()) >= 2, 40)
    doomed.kill()  # SIGKILL to the whole process group: no goodbye, no acknowledgement
    stored_before = run_state(pg_url, queued.run_id).targets
    assert stored_before < UNITS, "the worker finished before it could be killed"

    survivor = start_worker("survivor", env, concurrency=4)
    # Generous: redelivery waits for the visibility timeout and kombu's restore cycle, and
    # a loaded 2-core CI machine can be slow to run it.
    state = wait_for_run(pg_url, queued.run_id, timeout=160)
    assert (state.status, state.targets, state.rated) == ("done", UNITS, 3)
    assert _stored_lines(survivor.log_text()) == UNITS - stored_before
    assert observation_keys(pg_url, queued.run_id) == baseline


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class OwnRedis:
    """A redis-server on 127.0.0.1:6380 that keeps nothing on disk: a restart loses all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{OWN_REDIS_PORT}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(OWN_REDIS_PORT), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.tmp)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        if not wait_until(lambda: _pings(client), 10):
            unavailable(f"own redis-server on port {OWN_REDIS_PORT} did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_a_redis_restart_loses_the_queue_and_the_scheduler_sends_it_again(
    worker_lab: WorkerLab,
    pg_url: str,
    own_redis: OwnRedis,
    start_worker: StartWorker,
    tmp_path: Path,
    baseline: Counter[ObservationKey],
) -> None:
    seed_orgs(pg_url, worker_lab.manifest)
    env = worker_env(pg_url, own_redis.url, tmp_path, worker_test_delay=1.0)
    worker = start_worker("steady", env, concurrency=2)
    queued = start_run(pg_url, own_redis.url, worker_lab)
    assert wait_until(lambda: _stored_lines(worker.log_text()) >= 2, 40)
    own_redis.kill()
    time.sleep(1.0)
    own_redis.start()  # empty: the queued tasks are gone
    assert run_state(pg_url, queued.run_id).targets < UNITS

    settings = Settings(database_url=pg_url, broker_url=own_redis.url, reconcile_after=3)
    scheduler = Scheduler(
        producer(own_redis.url), worker_lab.config(), settings, periodic=False,
        last_feed_check=now_utc(),
    )  # fmt: skip
    resent = []

    def done_or_reconcile() -> bool:
        if run_state(pg_url, queued.run_id).status == "done":
            return True
        resent.extend(scheduler.tick().reconciled)
        return False

    assert wait_until(done_or_reconcile, 120, interval=1.0)
    assert worker.alive(), "the worker should reconnect to Redis, not exit"
    assert sum(q.targets for q in resent) > 0
    state = run_state(pg_url, queued.run_id)
    assert (state.targets, state.rated) == (UNITS, 3)
    assert observation_keys(pg_url, queued.run_id) == baseline


def test_postgres_dropping_connections_during_writes_loses_and_doubles_nothing(
    worker_lab: WorkerLab,
    pg_url: str,
    redis_url: str,
    start_worker: StartWorker,
    tmp_path: Path,
    baseline: Counter[ObservationKey],
) -> None:
    seed_orgs(pg_url, worker_lab.manifest)
    env = worker_env(pg_url, redis_url, tmp_path, worker_test_delay=0.3)
    worker = start_worker("persistent", env, concurrency=4)
    stop = threading.Event()
    terminated: list[int] = []
    queued = start_run(pg_url, redis_url, worker_lab)
    killer = threading.Thread(target=_terminate_backends, args=(pg_url, stop, terminated))
    killer.start()
    try:
        state = wait_for_run(pg_url, queued.run_id, timeout=90)
    finally:
        stop.set()
        killer.join()
    assert sum(terminated) > 0, "no connection was dropped: the test proved nothing"
    assert (state.status, state.targets, state.rated) == ("done", UNITS, 3)
    assert observation_keys(pg_url, queued.run_id) == baseline
    assert "database unit of work retried" in worker.log_text()


def _terminate_backends(url: str, stop: threading.Event, terminated: list[int]) -> None:
    """Drop connections to the test database while the workers write: every 50 ms, each
    backend caught in the middle of a statement (so a unit of work is interrupted for sure,
    not only by luck); every 0.7 s, every connection but this one (idle ones in the pool too)."""
    parsed = make_url(url)
    everyone = "datname = %s AND pid <> pg_backend_pid()"
    writing = f"{everyone} AND state = 'active'"
    with psycopg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username,
        dbname="postgres", autocommit=True,
    ) as admin:  # fmt: skip
        ticks = 0
        while not stop.wait(0.05):
            ticks += 1
            which = everyone if ticks % 14 == 0 else writing
            rows = admin.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {which}",
                (parsed.database,),
            ).fetchall()
            terminated.append(sum(1 for (ok,) in rows if ok))
