"""`utsyn scan`: from command-line arguments to a finished scan with progress and a report."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from utsyn.cli.options import (
    LangOpt,
    ResolverOpt,
    ResolverPortOpt,
    ScopeOpt,
    checked_scope,
    scan_config,
)
from utsyn.cli.output import Words, console, err_console, progress_bar, table, words
from utsyn.errors import ConfigError, UtsynError, os_reason
from utsyn.files import open_private_text
from utsyn.scan.model import Footprint, TargetResult, now_iso
from utsyn.scan.output import report_json

if TYPE_CHECKING:
    from utsyn.rating.model import Rating
    from utsyn.scan.family import ScanConfig


def scan(
    names: Annotated[list[str] | None, typer.Argument(help="Domains, hosts or host:port.")] = None,
    targets: Annotated[
        Path | None, typer.Option("--targets", help="A file: one domain or host[:port] a line.")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scan a lab scenario (e.g. demo).")
    ] = None,
    resolver: ResolverOpt = None,
    resolver_port: ResolverPortOpt = 53,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="Extra CA file to trust.")
    ] = None,
    trust_anchor: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchor",
            help="DNSSEC trust anchor file (DS or DNSKEY lines); default: IANA's root anchors.",
        ),
    ] = None,
    scope: ScopeOpt = "internet",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the JSON report here.")
    ] = None,
    store: Annotated[
        bool | None,
        typer.Option("--store/--no-store", help="Store results (default: for --scenario/--org)."),
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Store the scan as this organisation's.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the last interrupted stored scan.")
    ] = False,
    lang: LangOpt = "nb",
) -> None:
    """Scan domains, hosts or a lab scenario, non-intrusively."""
    request = ScanRequest(
        names=tuple(names or ()),
        targets_file=targets,
        scenario=scenario,
        resolvers=tuple(resolver or ()),
        resolver_port=resolver_port,
        ca_file=ca_file,
        trust_anchor=trust_anchor,
        scope=scope,
        as_json=as_json,
        output=output,
        store=store,
        org=org,
        resume=resume,
    )
    run_scan_command(request, console, err_console, words(lang))


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
    # Lazy (start-up): the feeds and their matching cost ~850 ms CPU.
    from utsyn.vuln.enrich import enrich
    from utsyn.vuln.feeds import load_current

    index = load_current()
    return [enrich(r, index) for r in results]


def run_scan_command(request: ScanRequest, console: Console, err: Console, _: Words) -> None:
    with ExitStack() as stack:
        footprints, config = _prepare(request, stack)
        if not request.scenario:  # a scenario's name server is the lab's, just started
            _check_name_servers(config, err, _)
        store = (
            request.store if request.store is not None else bool(request.scenario or request.org)
        )
        if request.resume and not store:
            raise ConfigError("--resume continues a stored scan: use it with --scenario or --org")
        ratings: dict[str, Rating] = {}
        if store:
            footprints = _stored_footprints(request, footprints)
            done = asyncio.run(_scan_stored(request, footprints, config, err, ratings, _))
        else:
            done = asyncio.run(_scan(footprints, config, err, request.as_json, _))
        _report(request, done, config, console, _)
        if ratings and not request.as_json:
            _print_ratings(console, ratings, _)
    names = {r.target for r in done.results}
    missing = sorted(n for n in names if all(not_in_dns(r) for r in done.results if r.target == n))
    if missing and len(missing) == len(names):
        raise UtsynError(
            "nothing could be scanned: no target exists in DNS (%(names)s)",
            names=", ".join(missing),
        )


def _check_name_servers(config: ScanConfig, err: Console, _: Words) -> None:
    """Ask each name server once before the scan: a silent one is named within its
    timeout instead of holding every target for it."""
    # Lazy (start-up): the guarded resolver costs ~75 ms CPU.
    from utsyn.scan.reach import silent_servers

    servers = config.nameservers
    timeout = config.timeouts.dns
    silent = silent_servers(servers, config.dns_port, config.scope, timeout)
    if len(silent) == len(servers):
        raise ConfigError(
            "no name server answered within %(seconds)s s (%(servers)s): check --resolver",
            seconds=_.number(timeout),
            servers=", ".join(f"{s}:{config.dns_port}" for s in silent),
        )
    if silent:
        err.print(
            _(
                "[yellow]No answer[/] from the name server(s) %(servers)s within %(seconds)s "
                "s: the scan asks the others.",
                servers=", ".join(silent),
                seconds=_.number(timeout),
            )
        )


def not_in_dns(result: TargetResult) -> bool:
    """The name does not exist in DNS: its zone lookup said NXDOMAIN, or the host has no
    address (and no lookup failed)."""
    return any(
        (o.check == "dns.zone" and o.value is None and o.evidence.endswith(": NXDOMAIN"))
        or (o.check == "dns.resolve" and o.value == [] and not o.error)
        for o in result.observations
    )


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
    _: Words,
) -> Scanned:
    """Scan into the database: each target in its own transaction, then rate and snapshot.

    The footprints come back with the primary domains the store rates them by, for the
    report: `utsyn rating show --scan` on it gives the stored ratings."""
    # Lazy (start-up): the pipeline, the store and the lab cost ~900 ms CPU.
    from utsyn.lab.orgs import prepare_scenario_orgs
    from utsyn.pipeline import scan_and_store
    from utsyn.scan.engine import units
    from utsyn.store.db import open_session, patiently
    from utsyn.store.orgs import organisation
    from utsyn.store.scans import resumable_run

    started = now_iso()
    results: list[TargetResult] = []
    with open_session() as session:
        if request.scenario:
            patiently(prepare_scenario_orgs, session, request.scenario)
        footprints = [
            replace(fp, primary=organisation(session, fp.org).primary_domain) for fp in footprints
        ]
        run = resumable_run(session) if request.resume else None
        total = sum(1 for fp in footprints for _unit in units(fp))
        with progress_bar(err, _) as bar:
            task = bar.add_task("", total=total)

            def advance(result: TargetResult) -> None:
                results.append(result)
                _advance(bar, task, result)

            outcome = await scan_and_store(session, footprints, config, run=run, progress=advance)
            if outcome.skipped:
                bar.update(task, advance=outcome.skipped)
        ratings.update(outcome.ratings)
    return Scanned(results, outcome.stats, started, footprints)


def _print_ratings(console: Console, ratings: dict[str, Rating], _: Words) -> None:
    shown = table(_("Ratings (stored)"), _("Organisation"), _("Score"), _("Grade"), _("Capped by"))
    for org, rating in sorted(ratings.items(), key=lambda kv: kv[1].score):
        caps = ", ".join(c.rule for c in rating.caps)
        shown.add_row(org, _.number(rating.score), rating.grade, caps)
    console.print(shown)


def _advance(bar: Progress, task: TaskID, result: TargetResult) -> None:
    """One more target done; a followed mail exchanger was not in the total: add it."""
    if result.via:
        bar.update(task, total=(bar.tasks[task].total or 0) + 1)
    bar.update(task, advance=1, description=result.target[:40])


def _prepare(request: ScanRequest, stack: ExitStack) -> tuple[list[Footprint], ScanConfig]:
    # Lazy (start-up): the scanner's target parsing costs ~70 ms CPU.
    from utsyn.scan.targets import from_file, from_names

    checked_scope(request.scope)
    sources = sum(bool(x) for x in (request.names, request.targets_file, request.scenario))
    if sources != 1:
        raise ConfigError("give domains, or --targets FILE, or --scenario NAME (one of them)")
    if request.scenario:
        return prepare_scenario(request, stack)
    if request.targets_file:
        footprints = [from_file(request.targets_file)]
    else:
        footprints = [from_names(request.names)]
    config = scan_config(
        request.scope,
        request.resolvers,
        request.resolver_port,
        request.ca_file,
        request.trust_anchor,
    )
    return footprints, config


def prepare_scenario(request: ScanRequest, stack: ExitStack) -> tuple[list[Footprint], ScanConfig]:
    """Use the running lab when it serves this scenario, else start one in-process."""
    # Lazy (start-up): the lab's servers cost ~420 ms CPU, the scanner ~75 ms.
    from utsyn.lab.runtime import read_state, running_lab
    from utsyn.lab.sources import load_source
    from utsyn.lab.targets import from_manifest
    from utsyn.scan.family import ScanConfig
    from utsyn.scan.guard import ScopePolicy
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
    footprints: list[Footprint], config: ScanConfig, err: Console, quiet: bool, _: Words
) -> Scanned:
    # Lazy (start-up): the scan engine costs ~110 ms CPU.
    from utsyn.scan.engine import Scanner, units

    started = now_iso()
    total = sum(1 for fp in footprints for _unit in units(fp))
    scanner = Scanner(config)
    results: list[TargetResult] = []
    with progress_bar(err, _) as bar:
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
        err.print(_("Scanned %(targets)s targets.", targets=len(results)))
    return Scanned(results, stats, started, footprints)


def _report(
    request: ScanRequest, done: Scanned, config: ScanConfig, console: Console, _: Words
) -> None:
    results, stats, started, footprints = done.results, done.stats, done.started, done.footprints
    results = _with_vulnerabilities(results)
    stats = {"targets": len(results), "connections": 0, "dns_queries": 0,
             "refused_by_scope": 0} | stats  # fmt: skip
    document = report_json(results, started, config.scope.mode, stats, footprints)
    text = json.dumps(document, indent=1, ensure_ascii=False)
    if request.output:
        try:
            with open_private_text(request.output) as out:  # 0600: it lists the weaknesses found
                out.write(text + "\n")
        except OSError as exc:
            raise ConfigError(
                "%(path)s: cannot write (%(reason)s)", path=request.output, reason=os_reason(exc)
            ) from exc
    if request.as_json:
        sys.stdout.write(text + "\n")
        return
    print_summary(console, results, _)
    console.print(
        _(
            "%(targets)s targets, %(connections)s connections, %(queries)s DNS queries, "
            "%(refused)s refused by scope.",
            targets=stats["targets"],
            connections=stats["connections"],
            queries=stats["dns_queries"],
            refused=stats["refused_by_scope"],
        )
    )


# The observations a summary row highlights.
_HIGHLIGHTS = (
    "dns.zone",
    "service.kind",
    "tls.cert.status",
    "http.status",
    "dns.spf",
    "dns.dmarc",
)


def _scanned_as(result: TargetResult, _: Words) -> str:
    if not_in_dns(result):
        return _("not found in DNS")
    if result.via.startswith("mx:"):
        return _("mail exchanger of %(domain)s", domain=result.via[3:])
    if result.kind == "host":
        return _("host")
    zone = next((o.value for o in result.observations if o.check == "dns.zone"), None)
    return _("zone") if zone in (None, result.target) else _("name in zone %(zone)s", zone=zone)


def print_summary(console: Console, results: list[TargetResult], _: Words) -> None:
    """One table per organisation: each zone and host, what answered and what failed."""
    for org in sorted({r.org for r in results}):
        shown = table(
            _("Organisation %(orgnr)s", orgnr=escape(org)),
            _("Target"),
            _("Scanned as"),
            _("Observations"),
            _("Errors"),
            _("Highlights"),
        )
        for result in sorted((r for r in results if r.org == org), key=lambda r: r.target):
            errors = [o for o in result.observations if o.error]
            lights = sorted(
                f"{o.target.split(':')[-1] if ':' in o.target else ''} {o.check}={o.value}".strip()
                for o in result.observations
                if o.check in _HIGHLIGHTS and o.value is not None
            )
            shown.add_row(
                escape(result.target),
                escape(_scanned_as(result, _)),
                str(len(result.observations)),
                str(len(errors)),
                escape("\n".join(lights[:8])),
            )
        console.print(shown)
