"""Portfolio and national aggregation on PostgreSQL: latency of every widget, load, rescoring.

    python -m benchmarks.portfolio [--sizes 10000 100000] [--million] [--repeat 30]

For each size: a fresh database `utsyn_bench` (dropped at the end), migrated, loaded with
`portfolio.synthetic` (timed), analysed; then every aggregation runs `--repeat` times
(p50/p95 in ms), and every organisation is rescored for the next day through the bulk path
(`store.rescore.save_snapshots`; one in ten loses a finding), timed as organisations/second.
`--append` adds the Markdown table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from utsyn.portfolio import aggregate
from utsyn.portfolio.aggregate import NATIONAL, Scope, Source
from utsyn.portfolio.synthetic import Spec, load
from utsyn.rules.rulebook import load_rulebook
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import ScoreSnapshot
from utsyn.store.rescore import Scored, save_snapshots

ADMIN_URL = os.environ.get(
    "UTSYN_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASE = "utsyn_bench"
RESULTS = Path(__file__).with_name("RESULTS.md")
BOOK = load_rulebook()
RESCORE_BATCH = 50_000
RESCORE_WORKERS = 2  # connections writing batches at once: one per core
# The server settings that decide the rescoring's speed, printed with the results: at the
# defaults (128 MB of shared buffers, checkpoints every 1 GB of WAL) a million snapshot
# inserts thrash the buffer cache and the 1M rescoring takes twice as long. docs/scaling.md
# gives the settings for a national server.
SERVER_SETTINGS = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression")


@dataclass(frozen=True)
class Timing:
    name: str
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class SizeResult:
    orgs: int
    load_s: float
    timings: list[Timing]
    rescore_s: float | None  # None: not run


def server_settings() -> str:
    with _admin() as admin:
        shown = [(name, admin.execute(f"SHOW {name}").fetchone()) for name in SERVER_SETTINGS]
    return ", ".join(f"{name} {row[0] if row else '?'}" for name, row in shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="Add 1,000,000 organisations.")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--rescore-max", type=int, default=1_000_000, help="Skip rescoring above this size."
    )
    parser.add_argument("--append", action="store_true", help="Append to benchmarks/RESULTS.md.")
    args = parser.parse_args()
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    settings = server_settings()
    print(f"PostgreSQL: {settings}", flush=True)
    results = [run_size(n, args.repeat, n <= args.rescore_max) for n in sizes]
    report = render(results, args.repeat, settings)
    print(report)
    if args.append:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + report)


def run_size(orgs: int, repeat: int, rescoring: bool) -> SizeResult:
    url = _fresh_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        loaded = load(engine, Spec(orgs=orgs, portfolio_size=1000))
        load_s = time.perf_counter() - started
        _analyse()
        print(f"{orgs:>9} organisations loaded in {load_s:.1f} s", flush=True)
        with session_factory(engine)() as session:
            timings = measure(session, Source(loaded.portfolio_id), repeat)
        rescore_s = rescore(engine, Spec(orgs=orgs)) if rescoring else None
        engine.dispose()
        return SizeResult(orgs, load_s, timings, rescore_s)
    finally:
        _drop_database()


def measure(session: Session, portfolio: Source, repeat: int) -> list[Timing]:
    biggest = max(aggregate.breakdown(session, "municipality"), key=lambda a: a.summary.orgs)
    county = Scope(county="46")
    town = Scope(municipality=biggest.key)
    last = aggregate.latest_day(session)
    assert last is not None
    year = last - timedelta(days=364)
    cases: list[tuple[str, Callable[[], Any]]] = [
        (
            "national overview (summary, worst 10, issues, 365-day trend)",
            lambda: aggregate.dashboard(session, BOOK, NATIONAL, since=year),
        ),
        (
            "national overview, one county",
            lambda: aggregate.dashboard(session, BOOK, NATIONAL, county, since=year),
        ),
        (
            "national overview, largest municipality",
            lambda: aggregate.dashboard(session, BOOK, NATIONAL, town, since=year),
        ),
        ("summary (average, grades, active)", lambda: aggregate.summary(session)),
        ("worst 10", lambda: aggregate.worst(session)),
        ("worst 10, largest municipality", lambda: aggregate.worst(session, scope=town)),
        ("issues (critical + common)", lambda: aggregate.issues(session, BOOK)),
        ("trend, 365 days", lambda: aggregate.trend(session, since=year)),
        (
            "trend, 365 days, largest municipality",
            lambda: aggregate.trend(session, scope=town, since=year),
        ),
        ("breakdown by sector", lambda: aggregate.breakdown(session, "sector")),
        ("breakdown by county", lambda: aggregate.breakdown(session, "county")),
        ("breakdown by municipality", lambda: aggregate.breakdown(session, "municipality")),
        (
            "portfolio of 1,000: whole dashboard",
            lambda: aggregate.dashboard(session, BOOK, portfolio, since=year),
        ),
    ]
    return [_time(name, call, repeat) for name, call in cases]


def _time(name: str, call: Callable[[], Any], repeat: int) -> Timing:
    call()  # warm the caches once: the dashboard is read again and again
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return Timing(name, statistics.median(samples), cuts[18])


def rescore(engine: Engine, spec: Spec) -> float:
    """Every organisation rescored for the next day; one in ten lost a finding."""
    day = spec.last_day + timedelta(days=1)
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)
    with session_factory(engine)() as session:
        scored = _next_day(session)
        started = time.perf_counter()
        save_snapshots(session, scored, day, now, batch=RESCORE_BATCH, workers=RESCORE_WORKERS)
        return time.perf_counter() - started


def _next_day(session: Session) -> list[Scored]:
    rng = random.Random(5)
    snap = ScoreSnapshot
    rows = session.execute(
        select(
            snap.org_id, snap.rulebook_version, snap.score, snap.grade, snap.factors, snap.penalties
        )
    )
    scored = []
    for org_id, version, score, grade, factors, penalties in rows:
        if penalties and rng.random() < 0.1:
            fixed = min(penalties)
            score = min(100.0, round(score + penalties.pop(fixed), 1))
        scored.append(Scored(org_id, version, score, grade, factors, penalties))
    session.rollback()
    return scored


def render(results: list[SizeResult], repeat: int, settings: str) -> str:
    sizes = [f"{r.orgs:,}" for r in results]
    lines = [
        "## Portfolio and national aggregation",
        "",
        f"`python -m benchmarks.portfolio` on {platform.node()} ({os.cpu_count()} cores), "
        f"PostgreSQL ({settings}), {datetime.now(UTC):%Y-%m-%d}; synthetic data from "
        "`utsyn.portfolio.synthetic` (about 16 rules per organisation, a year of daily "
        f"rollups); p50 / p95 over {repeat} runs after one warm-up, in milliseconds.",
        "",
        "| aggregation | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(results),
    ]
    for i, timing in enumerate(results[0].timings):
        cells = [f"{r.timings[i].p50_ms:.1f} / {r.timings[i].p95_ms:.1f}" for r in results]
        lines.append(f"| {timing.name} | " + " | ".join(cells) + " |")
    lines.append(
        "| load (COPY, counts rebuilt in SQL), s | "
        + " | ".join(f"{r.load_s:.1f}" for r in results)
        + " |"
    )
    lines.append(
        f"| rescoring every organisation (bulk path, {RESCORE_WORKERS} connections), s | "
        + " | ".join(f"{r.rescore_s:.1f}" if r.rescore_s else "not run" for r in results)
        + " |"
    )
    lines.append(
        "| rescoring rate, organisations/s | "
        + " | ".join(f"{r.orgs / r.rescore_s:,.0f}" if r.rescore_s else "–" for r in results)
        + " |"
    )
    return "\n".join(lines) + "\n"


def _admin() -> psycopg.Connection[tuple[Any, ...]]:
    url = make_url(ADMIN_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        dbname=url.database,
        autocommit=True,
    )


def _fresh_database() -> str:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    return make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)


def _analyse() -> None:
    url = make_url(ADMIN_URL)
    with psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=DATABASE, autocommit=True
    ) as connection:
        connection.execute("VACUUM ANALYZE")


def _drop_database() -> None:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
