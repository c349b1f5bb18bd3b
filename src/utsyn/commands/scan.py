"""`utsyn scan`: from command-line arguments to a finished scan with progress and a report."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from utsyn.errors import ConfigError
from utsyn.lab.targets import from_manifest
from utsyn.rating.model import Rating
from utsyn.scan.engine import Scanner, units
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy
from utsyn.scan.model import Footprint, TargetResult, now_iso
from utsyn.scan.output import print_summary, report_json
from utsyn.scan.targets import from_file, from_names


@dataclass(frozen=True)
class ScanRequest:
    names: tuple[str, ...] = ()
    targets_file: Path | None = None
    scenario: str | None = None
    resolvers: tuple[str, ...] = ()
    resolver_port: int = 53
    ca_file: Path | None = None
    trust_anchor: Path | None = None
    scope: str = "internet"
    as_json: bool = False
    output: Path | None = None
    store: bool | None = None  # default: store scenario scans, not ad-hoc ones
    org: str | None = None  # store an ad-hoc scan as this organisation's
    resume: bool = False  # continue the last interrupted stored run


@dataclass(frozen=True)
class Scanned:
    results: list[TargetResult]
    stats: dict[str, int]
    started: str
    footprints: list[Footprint]  # as the ratings were made (stored: the store's primaries)


def _with_vulnerabilities(results: list[TargetResult]) -> list[TargetResult]:
    """Products matched to known CVEs (the shipped feed snapshot), as `vuln.cve` facts."""
    from utsyn.vuln.enrich import enrich
    from utsyn.vuln.feeds import load_current

    index = load_current()
    return [enrich(r, index) for r in results]


def system_nameservers(path: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ()
    return tuple(line.split()[1] for line in lines if line.startswith("nameserver "))


def run_scan_command(request: ScanRequest, console: Console, err: Console) -> None:
    with ExitStack() as stack:
        footprints, config = _prepare(request, stack)
        store = (
            request.store if request.store is not None else bool(request.scenario or request.org)
        )
        if request.resume and not store:
            raise ConfigError("--resume continues a stored scan: use it with --scenario or --org")
        ratings: dict[str, Rating] = {}
        if store:
            footprints = _stored_footprints(request, footprints)
            done = asyncio.run(_scan_stored(request, footprints, config, err, ratings))
        else:
            done = asyncio.run(_scan(footprints, config, err, request.as_json))
        _report(request, done, config, console)
        if ratings and not request.as_json:
            _print_ratings(console, ratings)


def _stored_footprints(request: ScanRequest, footprints: list[Footprint]) -> list[Footprint]:
    """Scenario organisations are upserted into the store; `--org` names an existing one."""
    if request.org is None:
        return footprints
    (footprint,) = footprints
    return [Footprint(request.org, footprint.domains, footprint.hostnames, footprint.ips)]


async def _scan_stored(
    request: ScanRequest,
    footprints: list[Footprint],
    config: ScanConfig,
    err: Console,
    ratings: dict[str, Rating],
) -> Scanned:
    """Scan into the database: each target in its own transaction, then rate and snapshot.

    The footprints come back with the primary domains the store rates them by, for the
    report: `utsyn rating show --scan` on it gives the stored ratings."""
    from utsyn.lab.orgs import prepare_scenario_orgs
    from utsyn.pipeline import scan_and_store
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation
    from utsyn.store.scans import resumable_run

    started = now_iso()
    results: list[TargetResult] = []
    with open_session() as session:
        if request.scenario:
            prepare_scenario_orgs(session, request.scenario)
        footprints = [
            replace(fp, primary=organisation(session, fp.org).primary_domain) for fp in footprints
        ]
        run = resumable_run(session) if request.resume else None
        total = sum(1 for fp in footprints for _ in units(fp))
        with progress_bar(err) as bar:
            task = bar.add_task("", total=total)

            def advance(result: TargetResult) -> None:
                results.append(result)
                _advance(bar, task, result)

            outcome = await scan_and_store(session, footprints, config, run=run, progress=advance)
            if outcome.skipped:
                bar.update(task, advance=outcome.skipped)
        ratings.update(outcome.ratings)
    return Scanned(results, outcome.stats, started, footprints)


def _print_ratings(console: Console, ratings: dict[str, Rating]) -> None:
    from rich.table import Table

    table = Table(title="Ratings (stored)")
    for column in ("organisation", "score", "grade", "capped by"):
        table.add_column(column)
    for org, rating in sorted(ratings.items(), key=lambda kv: kv[1].score):
        caps = ", ".join(c.rule for c in rating.caps)
        table.add_row(org, f"{rating.score:.1f}", rating.grade, caps)
    console.print(table)


def _advance(bar: Progress, task: TaskID, result: TargetResult) -> None:
    """One more target done; a followed mail exchanger was not in the total: add it."""
    if result.via:
        bar.update(task, total=(bar.tasks[task].total or 0) + 1)
    bar.update(task, advance=1, description=result.target[:40])


def progress_bar(err: Console) -> Progress:
    columns = (
        TextColumn("[bold]Scanning[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    return Progress(*columns, console=err, disable=not err.is_terminal, transient=True)


def _prepare(request: ScanRequest, stack: ExitStack) -> tuple[list[Footprint], ScanConfig]:
    if request.scope not in ("internet", "lab"):
        raise ConfigError(f"--scope must be 'internet' or 'lab', not {request.scope!r}")
    sources = sum(bool(x) for x in (request.names, request.targets_file, request.scenario))
    if sources != 1:
        raise ConfigError("give domains, or --targets FILE, or --scenario NAME (one of them)")
    if request.scenario:
        return prepare_scenario(request, stack)
    if request.targets_file:
        footprints = [from_file(request.targets_file)]
    else:
        footprints = [from_names(request.names)]
    resolvers = request.resolvers or system_nameservers()
    if not resolvers:
        raise ConfigError("no name server: pass --resolver IP")
    policy = ScopePolicy.lab() if request.scope == "lab" else ScopePolicy.internet()
    config = ScanConfig(
        scope=policy,
        nameservers=resolvers,
        dns_port=request.resolver_port,
        ca_file=request.ca_file,
        trust_anchor_file=request.trust_anchor,
    )
    return footprints, config


def prepare_scenario(request: ScanRequest, stack: ExitStack) -> tuple[list[Footprint], ScanConfig]:
    """Use the running lab when it serves this scenario, else start one in-process."""
    from utsyn.lab.runtime import read_state, running_lab
    from utsyn.lab.sources import load_source
    from utsyn.settings import get_settings

    assert request.scenario is not None
    manifest = load_source(request.scenario)
    settings = get_settings()
    found = read_state(settings.data_dir / "lab" / "lab.json")
    if found is not None and found[1].scenario == manifest.name:
        info = found[1]
    else:
        state_dir = settings.data_dir / "lab-scan"
        info = stack.enter_context(running_lab(manifest, state_dir, settings.cache_dir))
    config = ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=(info.dns_ip,),
        dns_port=info.dns_port,
        ca_file=request.ca_file or info.ca_file,
        trust_anchor_file=request.trust_anchor or info.trust_anchor_file,
    )
    return from_manifest(manifest), config


async def _scan(
    footprints: list[Footprint], config: ScanConfig, err: Console, quiet: bool
) -> Scanned:
    started = now_iso()
    total = sum(1 for fp in footprints for _ in units(fp))
    scanner = Scanner(config)
    results: list[TargetResult] = []
    with progress_bar(err) as bar:
        task = bar.add_task("", total=total)
        async for result in scanner.scan(footprints):
            results.append(result)
            _advance(bar, task, result)
    assert scanner.last_context is not None
    net = scanner.last_context.net.stats
    stats = {
        "targets": len(results),
        "connections": net.connections,
        "dns_queries": net.dns_queries,
        "refused_by_scope": net.refused,
    }
    if not err.is_terminal and not quiet:
        err.print(f"Scanned {len(results)} targets.")
    return Scanned(results, stats, started, footprints)


def _report(request: ScanRequest, done: Scanned, config: ScanConfig, console: Console) -> None:
    results, stats, started, footprints = done.results, done.stats, done.started, done.footprints
    results = _with_vulnerabilities(results)
    stats = {"targets": len(results), "connections": 0, "dns_queries": 0,
             "refused_by_scope": 0} | stats  # fmt: skip
    document = report_json(results, started, config.scope.mode, stats, footprints)
    text = json.dumps(document, indent=1, ensure_ascii=False)
    if request.output:
        request.output.write_text(text + "\n", encoding="utf-8")
    if request.as_json:
        sys.stdout.write(text + "\n")
        return
    print_summary(console, results)
    console.print(
        f"{stats['targets']} targets, {stats['connections']} connections, "
        f"{stats['dns_queries']} DNS queries, {stats['refused_by_scope']} refused by scope."
    )
