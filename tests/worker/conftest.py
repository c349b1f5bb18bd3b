"""Real services for the worker tests: Redis (database 5 of 127.0.0.1:6379, flushed alone),
PostgreSQL (a database of their own per test), a lab on 127.150.x.y with DNS on 127.57.0.1,
and real worker processes.

Without Redis or PostgreSQL the tests skip, or fail when UTSYN_REQUIRE_SERVICES is set (CI).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psycopg
import pytest
import redis
from celery import Celery
from sqlalchemy import select
from sqlalchemy.engine import make_url

from utsyn.clock import now_utc
from utsyn.lab.generate import generate
from utsyn.lab.manifest import Manifest
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.targets import from_manifest
from utsyn.scan.family import ScanConfig
from utsyn.scan.model import TargetResult
from utsyn.settings import Settings, get_settings
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Observation, Organisation, TargetScan
from utsyn.store.orgs import upsert_organisations
from utsyn.testing.egress import egress_guard
from utsyn.testing.workers import WorkerProcess
from utsyn.worker.app import make_app
from utsyn.worker.runs import Queued, start_scan

from ..scan.conftest import lab_config
from ..services import unavailable

REDIS_URL = os.environ.get("UTSYN_TEST_REDIS", "redis://127.0.0.1:6379/5")
ADMIN_URL = os.environ.get(
    "UTSYN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
LAB_DNS_IP = "127.57.0.1"  # beside the default lab other test runs use (127.53.0.1)
LAB_FIRST_OCTET = 150
_numbers = count()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 5, empty before and after the test (FLUSHDB of that database only)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is unreachable: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(ADMIN_URL)
    try:
        return psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
            connect_timeout=3, autocommit=True,
        )  # fmt: skip
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {url.host}:{url.port} is unreachable: {exc}")
        raise


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, migrated PostgreSQL database (`utsyn_worker_<pid>_<n>`), dropped afterwards."""
    admin = _admin()
    name = f"utsyn_worker_{os.getpid()}_{next(_numbers)}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass(frozen=True)
class WorkerLab:
    manifest: Manifest
    info: LabInfo

    def config(self) -> ScanConfig:
        # Short timeouts: the lab answers at once, except the hosts made to be slow.
        return lab_config(self.info, host_deadline=20.0)


@pytest.fixture(scope="session")
def worker_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerLab]:
    """Three generated organisations (18 zones and hosts) on 127.150.x.y."""
    manifest = generate(3, 11)
    state_dir = tmp_path_factory.mktemp("worker-lab")
    with (
        egress_guard(),
        running_lab(
            manifest, state_dir, get_settings().cache_dir,
            dns_ip=LAB_DNS_IP, first_octet=LAB_FIRST_OCTET,
        ) as info,
    ):  # fmt: skip
        yield WorkerLab(manifest, info)


def seed_orgs(url: str, manifest: Manifest) -> None:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            upsert_organisations(session, records_from_manifest(manifest), "lab:test", now_utc())
    finally:
        engine.dispose()


def worker_env(
    db_url: str, broker_url: str, tmp: Path, **settings: str | float | int
) -> dict[str, str]:
    env = {
        "UTSYN_DATABASE_URL": db_url,
        "UTSYN_BROKER_URL": broker_url,
        "UTSYN_DATA_DIR": str(tmp / "data"),
        "UTSYN_CACHE_DIR": str(get_settings().cache_dir),
        "UTSYN_WORKER_METRICS_PORT": "0",
        "UTSYN_WORKER_VISIBILITY_TIMEOUT": "30",
    }
    env.update({f"UTSYN_{key.upper()}": str(value) for key, value in settings.items()})
    return env


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """start_worker(name, env, concurrency=4): a real worker process, stopped after the test."""
    started: list[WorkerProcess] = []

    def start(name: str, env: dict[str, str], concurrency: int = 4) -> WorkerProcess:
        log_path = tmp_path / f"{name}.log"
        worker = WorkerProcess(name, env, log_path, concurrency=concurrency)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def producer(broker_url: str) -> Celery:
    """A Celery app that only sends (by task name) to the test broker."""
    return make_app(Settings(broker_url=broker_url))


ObservationKey = tuple[str, str, str, str, str]


@pytest.fixture(scope="session")
def baseline(worker_lab: WorkerLab) -> Counter[ObservationKey]:
    """What an in-process scan of the worker lab observes (enriched, as the store keeps it)."""
    from utsyn.lab.targets import from_manifest
    from utsyn.scan.engine import Scanner
    from utsyn.vuln import load_snapshot
    from utsyn.vuln.enrich import enrich

    scanner = Scanner(worker_lab.config())

    async def scan() -> list[TargetResult]:
        return [r async for r in scanner.scan(from_manifest(worker_lab.manifest))]

    with egress_guard():
        results = [enrich(r, load_snapshot()) for r in asyncio.run(scan())]
    return Counter(
        (r.org, r.target, o.target, o.check, o.probe) for r in results for o in r.observations
    )


def observation_keys(url: str, run_id: int) -> Counter[ObservationKey]:
    """Each stored observation of the run by (org, scanned target, target, check, probe)."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(
                    Organisation.orgnr,
                    TargetScan.target,
                    Observation.target,
                    Observation.check,
                    Observation.probe,
                )
                .join(TargetScan, TargetScan.id == Observation.target_scan_id)
                .join(Organisation, Organisation.id == TargetScan.org_id)
                .where(TargetScan.run_id == run_id)
            )
            return Counter((a, b, c, d, e) for a, b, c, d, e in rows)
    finally:
        engine.dispose()


def start_run(url: str, broker_url: str, lab: WorkerLab, queue: str = "urgent") -> Queued:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            footprints = from_manifest(lab.manifest)
            return start_scan(producer(broker_url), session, footprints, lab.config(), queue=queue)
    finally:
        engine.dispose()
