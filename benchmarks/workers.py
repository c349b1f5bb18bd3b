"""Lab scan throughput: the in-process default against 1 and 2 worker processes.

    .venv/bin/python -m benchmarks.workers [--orgs 35] [--seed 7] [--threads 16]

One generated scenario (35 organisations: about 200 zones and hosts) is served by a lab in
its own process on 127.150.x.y with DNS on 127.57.0.1. Three ways scan and store all of it:

- in-process: `pipeline.scan_and_store` on SQLite (what `utsyn scan --scenario` does);
- 1 worker and 2 workers: `worker.runs.start_scan` on PostgreSQL, tasks on Redis (database
  6, flushed alone), each worker a `python -m utsyn worker` process.

Reported per mode: wall time from the first task queued (or the scan started) to the run
done (every target stored and every organisation rated), targets per second, and cost per
target: the CPU seconds of the scanning processes (the benchmark itself in-process; the
worker processes otherwise, read from /proc) divided by the targets. The lab's CPU is not
counted. Prints a markdown table; `--append` adds it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis

from utsyn.clock import now_utc
from utsyn.lab.generate import generate
from utsyn.lab.manifest import Manifest
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.runtime import LabInfo, read_state
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import scan_and_store
from utsyn.scan.engine import units
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy
from utsyn.settings import Settings, get_settings
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.orgs import upsert_organisations
from utsyn.testing.egress import egress_guard
from utsyn.testing.workers import WorkerProcess, wait_for_run, wait_until
from utsyn.worker.app import make_app
from utsyn.worker.runs import start_scan

REPO = Path(__file__).resolve().parent.parent
LAB_DNS_IP, LAB_FIRST_OCTET = "127.57.0.1", 150
BROKER = "redis://127.0.0.1:6379/6"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    mode: str
    targets: int
    wall: float
    cpu: float
    stored: Stored | None = None  # what PostgreSQL holds after the run (distributed only)

    def row(self) -> str:
        rate = self.targets / self.wall
        cost = self.cpu / self.targets
        return (
            f"| {self.mode} | {self.targets} | {self.wall:.1f} | {rate:.2f} | {cost * 1000:.0f} |"
        )


@dataclass(frozen=True)
class Stored:
    """Per target: the mean scan seconds, observations, and database bytes it added."""

    seconds: float
    observations: float
    bytes: float

    @classmethod
    def measure(cls, url: str, targets: int, bytes_before: int) -> Stored:
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as db:
            row = db.execute(
                "SELECT avg(seconds), (SELECT count(*) FROM observation),"
                " pg_database_size(current_database()) FROM target_scan"
            ).fetchone()
        assert row is not None
        return cls(float(row[0]), row[1] / targets, (row[2] - bytes_before) / targets)


def database_bytes(url: str) -> int:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as db:
        row = db.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def lab_process(orgs: int, seed: int, data_dir: Path) -> Iterator[LabInfo]:
    """`utsyn lab up` in a process of its own, so its CPU is not counted as the scanner's."""
    env = {**os.environ, "UTSYN_DATA_DIR": str(data_dir)}
    command = [
        *(sys.executable, "-m", "utsyn", "lab", "up", "--orgs", str(orgs), "--seed", str(seed)),
        *("--dns-ip", LAB_DNS_IP, "--first-octet", str(LAB_FIRST_OCTET)),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    state = data_dir / "lab" / "lab.json"
    try:
        if not wait_until(lambda: read_state(state) is not None, 180, 0.5):
            raise RuntimeError("the benchmark lab did not start in 180 s")
        found = read_state(state)
        assert found is not None
        yield found[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def lab_config(info: LabInfo) -> ScanConfig:
    return ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=(info.dns_ip,),
        dns_port=info.dns_port,
        ca_file=info.ca_file,
        trust_anchor_file=info.trust_anchor_file,
    )


def seed(url: str, manifest: Manifest) -> None:
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        upsert_organisations(session, records_from_manifest(manifest), "lab:bench", now_utc())
    engine.dispose()


def in_process(manifest: Manifest, config: ScanConfig, tmp: Path) -> Measured:
    url = f"sqlite:///{tmp / 'inprocess.db'}"
    seed(url, manifest)
    footprints = from_manifest(manifest)
    engine = make_engine(url)
    cpu0, began = _own_cpu(), time.perf_counter()
    with session_factory(engine)() as session:
        outcome = asyncio.run(scan_and_store(session, footprints, config))
    wall, cpu = time.perf_counter() - began, _own_cpu() - cpu0
    engine.dispose()
    return Measured("in-process (SQLite)", outcome.targets, wall, cpu)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def pg_database(name: str) -> Iterator[str]:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def distributed(
    manifest: Manifest, config: ScanConfig, workers: int, threads: int, tmp: Path
) -> Measured:
    client = redis.Redis.from_url(BROKER)
    client.flushdb()
    with pg_database(f"utsyn_bench_workers_{workers}") as url:
        seed(url, manifest)
        bytes_before = database_bytes(url)
        env = {"UTSYN_DATABASE_URL": url, "UTSYN_BROKER_URL": BROKER,
               "UTSYN_DATA_DIR": str(tmp / "data"), "UTSYN_WORKER_METRICS_PORT": "0"}  # fmt: skip
        started = [
            WorkerProcess(
                f"bench{n}", env, tmp / f"w{workers}-{n}.log", concurrency=threads
            ).start()
            for n in range(workers)
        ]
        try:
            cpu0 = sum(_process_cpu(w) for w in started)
            began = time.perf_counter()
            engine = make_engine(url)
            with session_factory(engine)() as session:
                queued = start_scan(make_app(Settings(broker_url=BROKER)), session,
                                    from_manifest(manifest), config)  # fmt: skip
            engine.dispose()
            state = wait_for_run(url, queued.run_id, timeout=900)
            wall = time.perf_counter() - began
            cpu = sum(_process_cpu(w) for w in started) - cpu0
            stored = Stored.measure(url, state.targets, bytes_before)
        finally:
            for worker in started:
                worker.stop()
    client.flushdb()
    if state.status != "done":
        raise RuntimeError(f"the run did not finish: {state}")
    label = f"{workers} worker{'s' if workers > 1 else ''} × {threads} threads (PostgreSQL)"
    return Measured(label, state.targets, wall, cpu, stored)


def _process_cpu(worker: WorkerProcess) -> float:
    """User + system CPU seconds of a worker process (threads included), from /proc."""
    assert worker.process is not None
    fields = Path(f"/proc/{worker.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def report(results: list[Measured], orgs: int, seed_: int, threads: int) -> str:
    load = os.getloadavg()[0]
    lines = [
        "## Workers",
        "",
        f"`python -m benchmarks.workers --orgs {orgs} --seed {seed_} --threads {threads}`, "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, load average {load:.1f} "
        "at the end (the machine is shared). Targets = zones and hosts; wall = first task "
        "queued to the run done (stored and rated); cost = CPU of the scanning processes "
        "(not the lab's) per target.",
        "",
        "| mode | targets | wall s | targets/s | CPU ms/target |",
        "|---|---|---|---|---|",
        *(r.row() for r in results),
        "",
        *(_stored_line(r) for r in results if r.stored is not None),
    ]
    return "\n".join(lines)


def _stored_line(result: Measured) -> str:
    assert result.stored is not None
    s = result.stored
    return (
        f"- {result.mode}: mean scan {s.seconds:.2f} s per target, {s.observations:.0f} "
        f"observations and {s.bytes / 1024:.0f} KiB of PostgreSQL (tables, indexes, WAL-free "
        "size) per target."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=35)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=get_settings().worker_concurrency)
    parser.add_argument("--append", action="store_true", help="add to benchmarks/RESULTS.md")
    args = parser.parse_args()
    manifest = generate(args.orgs, args.seed)
    print(f"{sum(1 for f in from_manifest(manifest) for _ in units(f))} targets", flush=True)
    with tempfile.TemporaryDirectory() as folder, egress_guard():
        tmp = Path(folder)
        with lab_process(args.orgs, args.seed, tmp / "lab") as info:
            config = lab_config(info)
            results = [in_process(manifest, config, tmp)]
            print(results[-1].row(), flush=True)
            for workers in (1, 2):
                results.append(distributed(manifest, config, workers, args.threads, tmp))
                print(results[-1].row(), flush=True)
    text = report(results, args.orgs, args.seed, args.threads)
    print(text)
    if args.append:
        with (REPO / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
