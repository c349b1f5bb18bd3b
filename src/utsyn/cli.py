"""The `utsyn` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from utsyn import __version__
from utsyn.errors import ConfigError, LabError, UtsynError
from utsyn.lab.manifest import Manifest
from utsyn.lab.sources import load_source, source_for
from utsyn.settings import get_settings

if TYPE_CHECKING:
    from utsyn.lab.runtime import Lab
    from utsyn.pipeline import Rated
    from utsyn.rating.model import Rating

app = typer.Typer(
    help="Utsyn: an open Cyber Risk Score service for the Norwegian public sector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
lab_app = typer.Typer(help="The loopback lab of fictional public bodies.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")

console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Entry point: user errors become a message and an exit code, never a traceback."""
    try:
        app()
    except UtsynError as exc:
        err_console.print(
            f"[bold red]utsyn:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)


@app.command()
def version() -> None:
    """Print Utsyn's version."""
    console.print(__version__)


# ------------------------------------------------------------------ lab


ScenarioOpt = Annotated[
    str, typer.Option("--scenario", help="'demo' or the path of a manifest YAML file.")
]
OrgsOpt = Annotated[
    int | None, typer.Option("--orgs", help="Generate a synthetic scenario of N organisations.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the generated scenario.")]


def _state_dir() -> Path:
    return get_settings().data_dir / "lab"


def _state_file() -> Path:
    return _state_dir() / "lab.json"


@lab_app.command("up")
def lab_up(
    scenario: ScenarioOpt = "demo",
    orgs: OrgsOpt = None,
    seed: SeedOpt = 1,
    detach: Annotated[bool, typer.Option(help="Run in the background.")] = False,
    dns_port: Annotated[int, typer.Option(help="Port of the lab name server.")] = 53,
    dns_ip: Annotated[str, typer.Option(help="Address of the lab name server.")] = "127.53.0.1",
    first_octet: Annotated[
        int, typer.Option(help="Hosts on 127.FIRST+.x.y (20 by default; another runs beside).")
    ] = 20,
) -> None:
    """Start the lab and serve until interrupted (or in the background with --detach)."""
    from utsyn.lab.runtime import Lab, read_state

    if orgs is not None and orgs < 1:
        raise ConfigError("--orgs must be at least 1")
    existing = read_state(_state_file())
    if existing is not None:
        raise LabError(f"a lab is already running (pid {existing[0]}); `utsyn lab down` first")
    source = source_for(scenario, orgs, seed)
    manifest = load_source(source)
    if detach:
        _detach(source, ["--dns-port", str(dns_port), "--dns-ip", dns_ip,
                         "--first-octet", str(first_octet)])  # fmt: skip
        return
    _serve_foreground(manifest, source, Lab(manifest, _state_dir(), get_settings().cache_dir,
                                            dns_ip, dns_port, first_octet))  # fmt: skip


def _serve_foreground(manifest: Manifest, source: str, core: Lab) -> None:
    from utsyn.lab.runtime import RunningLab, write_state

    lab = RunningLab(core)
    info = lab.start()
    state = _state_file()
    write_state(state, info, os.getpid())
    _patch_source(state, source)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        _print_lab(manifest, info.to_json())
        console.print(f"[green]Lab up[/] in {info.started_in:.2f} s. Ctrl-C stops it.")
        stop.wait()
    finally:
        lab.stop()
        state.unlink(missing_ok=True)
        console.print("Lab stopped.")


def _patch_source(state: Path, source: str) -> None:
    data = json.loads(state.read_text(encoding="utf-8"))
    data["source"] = source
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(state)


def _detach(source: str, options: list[str]) -> None:
    from utsyn.lab.runtime import read_state, wait_for

    log = _state_dir() / "lab.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "utsyn", "lab", "up", *options]
    if source.startswith("generate:"):
        _, orgs, seed = source.split(":")
        args += ["--orgs", orgs, "--seed", seed]
    else:
        args += ["--scenario", source]
    with log.open("wb") as out:
        child = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def ready() -> bool:
        state = read_state(_state_file())
        return child.poll() is not None or (state is not None and state[0] == child.pid)

    wait_for(ready, timeout=60)
    if child.poll() is not None:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise LabError(f"the lab did not start:\n{tail}")
    console.print(f"[green]Lab up[/] in the background (pid {child.pid}); log: {log}")


@lab_app.command("status")
def lab_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the running lab: organisations, hosts and addresses."""
    from utsyn.lab.runtime import read_state

    found = read_state(_state_file())
    if found is None:
        raise LabError("no lab is running (start one with `utsyn lab up`)")
    data = json.loads(_state_file().read_text(encoding="utf-8"))
    manifest = load_source(str(data.get("source", data["scenario"])))
    if as_json:
        console.print_json(json.dumps(data))
        return
    _print_lab(manifest, data)
    console.print(f"pid {found[0]}")


@lab_app.command("down")
def lab_down() -> None:
    """Stop a lab started with --detach."""
    from utsyn.lab.runtime import _alive, read_state, wait_for

    found = read_state(_state_file())
    if found is None:
        raise LabError("no lab is running")
    pid = found[0]
    os.kill(pid, signal.SIGTERM)
    if not wait_for(lambda: not _alive(pid), timeout=20):
        os.kill(pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    console.print(f"Lab stopped (pid {pid}).")


@lab_app.command("expected")
def lab_expected(scenario: ScenarioOpt = "demo", orgs: OrgsOpt = None, seed: SeedOpt = 1) -> None:
    """Print the scenario's expected observations (the scanner's ground truth) as JSON."""
    from utsyn.lab.expected import expected_observations

    manifest = load_source(source_for(scenario, orgs, seed))
    rows = [o.to_json() for o in expected_observations(manifest)]
    sys.stdout.write(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def _print_lab(manifest: Manifest, state: dict[str, object]) -> None:

    addresses = state.get("addresses", {})
    assert isinstance(addresses, dict)
    table = Table(title=f"Lab '{manifest.name}': {len(manifest.organisations)} organisations")
    for column in ("organisation", "org.nr", "sector", "hosts", "services"):
        table.add_column(column)
    for org in manifest.organisations:
        hosts = "\n".join(f"{h.name} {addresses.get(h.name, '')}" for h in org.hosts)
        services = "\n".join(
            ", ".join(f"{s.kind}:{s.effective_port}" for s in h.services) or "-" for h in org.hosts
        )
        table.add_row(org.name, org.orgnr, org.sector, hosts, services)
    console.print(table)
    console.print(f"DNS: {state.get('dns_ip')}:{state.get('dns_port')}  CA: {state.get('ca_file')}")


# ------------------------------------------------------------------ demo


@app.command()
def demo(
    once: Annotated[bool, typer.Option(help="Scan, rate, report and stop at once.")] = False,
    port: Annotated[int, typer.Option(help="Port of the dashboard on 127.0.0.1.")] = 8000,
) -> None:
    """The main job on the embedded default: lab, scan, ratings and the dashboard."""
    from utsyn.commands.demo import run_demo

    run_demo(console, err_console, once, port)


# ------------------------------------------------------------------ scan


@app.command()
def scan(
    names: Annotated[list[str] | None, typer.Argument(help="Domains, hosts or host:port.")] = None,
    targets: Annotated[
        Path | None, typer.Option("--targets", help="A file: one domain or host[:port] a line.")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scan a lab scenario (e.g. demo).")
    ] = None,
    resolver: Annotated[
        list[str] | None, typer.Option("--resolver", help="Name server IP (repeatable).")
    ] = None,
    resolver_port: Annotated[int, typer.Option(help="Port of the name servers.")] = 53,
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
    scope: Annotated[str, typer.Option(help="internet, or lab (loopback only).")] = "internet",
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
) -> None:
    """Scan domains, hosts or a lab scenario, non-intrusively."""
    from utsyn.commands.scan import ScanRequest, run_scan_command

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
    run_scan_command(request, console, err_console)


# ------------------------------------------------------------------ rating

rating_app = typer.Typer(help="Scores, grades and their explanations.", no_args_is_help=True)
app.add_typer(rating_app, name="rating")

ScanOpt = Annotated[
    Path | None,
    typer.Option("--scan", help="A scan report (`utsyn scan -o FILE`); default: the database."),
]
OrgOpt = Annotated[
    str | None, typer.Option("--org", help="Organisation number (default: every one).")
]
LangOpt = Annotated[str, typer.Option("--lang", help="nb (default) or en.")]


@rating_app.command("methodology")
def rating_methodology() -> None:
    """Print docs/methodology.md, generated from the scoring constants and the rulebook."""
    from utsyn.rating.methodology import render
    from utsyn.rules.rulebook import load_rulebook

    sys.stdout.write(render(load_rulebook()))


@rating_app.command("vocabulary")
def rating_vocabulary() -> None:
    """Print docs/vocabulary.md: each outcome's checks, names and rules, from the code."""
    from utsyn.lab.expected import expected_results
    from utsyn.lab.scenarios import load_scenario
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.rules.vocabulary import VULNERABILITY_EXAMPLES, render

    results = [*expected_results(load_scenario("demo")), VULNERABILITY_EXAMPLES]
    sys.stdout.write(render(results, load_rulebook()))


def _rated(scan_file: Path | None, org: str | None, rulebook: Path | None = None) -> list[Rated]:
    from utsyn.pipeline import load_scan, rate_all
    from utsyn.rules.rulebook import load_rulebook

    if scan_file is None:
        from utsyn.pipeline import stored_rated
        from utsyn.store.db import open_session

        with open_session() as session:
            return stored_rated(session, org)
    footprints, results = load_scan(scan_file)
    rated = rate_all(footprints, results, load_rulebook(rulebook))
    if org is not None:
        rated = [r for r in rated if r.org == org]
        if not rated:
            raise ConfigError(f"organisation {org} is not in {scan_file}")
    return rated


@rating_app.command("show")
def rating_show(
    scan: ScanOpt = None,
    org: OrgOpt = None,
    lang: LangOpt = "nb",
    as_json: Annotated[
        bool, typer.Option("--json", help="Every rating whole, as JSON (one list).")
    ] = False,
) -> None:
    """Score, grade, factor scores and every finding with the points it costs."""
    from rich.markup import escape

    from utsyn.rating.codec import rating_to_json
    from utsyn.rating.explain import binding_caps, impacts
    from utsyn.rules.rulebook import load_rulebook

    book = load_rulebook()
    rated = _rated(scan, org)
    if as_json:
        sys.stdout.write(json.dumps([rating_to_json(r.rating) for r in rated], indent=1) + "\n")
        return
    for item in rated:
        r = item.rating
        console.print(
            f"[bold]{escape(r.org)}[/]: {r.score:.1f} [bold]{r.grade}[/] "
            f"(rulebook {r.rulebook_version})"
        )
        for cap in binding_caps(r):
            title = book.rule(cap.rule).title.get(lang) if book.has(cap.rule) else cap.rule
            console.print(
                f"  grade capped at {cap.grade} by: {escape(title)} on {escape(cap.asset)}"
            )
        console.print(f"  {_losses_line(r)}")
        if item.patching_days is not None:
            console.print(
                f"  patching cadence: {item.patching_days:.1f} days (median, high/critical CVEs)"
            )
        table = Table(show_header=True, box=None)
        for column in ("points", "if fixed", "rule", "asset"):
            table.add_column(column)
        for line in impacts(r):
            title = book.rule(line.rule).title.get(lang)
            asset = line.asset + (f" ({line.detail})" if line.detail else "")
            table.add_row(
                f"{line.points:.2f}", f"+{line.recover:.2f}", escape(title), escape(asset)
            )
        console.print(table)


def _losses_line(rating: Rating) -> str:
    """`points lost: web 8.1 + tls 4.0 = 12.1 (100 − 87.9)`: the parts add up."""
    from utsyn.rating.explain import area_losses

    losses = area_losses(rating)
    if not losses.parts:
        return "no points lost"
    parts = " + ".join(f"{area} {points:.1f}" for area, points in losses.parts.items())
    if losses.stopped_at_zero:
        return f"points lost: {parts} = {losses.total:.1f} (over 100: the score stops at 0)"
    return f"points lost: {parts} = {losses.total:.1f} (100 − {rating.score:.1f})"


@rating_app.command("plan")
def rating_plan(
    org: Annotated[str, typer.Option("--org", help="Organisation number.")],
    scan: ScanOpt = None,
    fix: Annotated[
        list[str] | None, typer.Option("--fix", help="Rule id or finding key (repeatable).")
    ] = None,
) -> None:
    """Projected score and grade if the chosen findings were fixed (or the best fixes)."""
    from utsyn.rating.explain import best_fixes, plan
    from utsyn.rules.rulebook import load_rulebook

    book = load_rulebook()
    (item,) = _rated(scan, org)
    if not fix:
        console.print("Fixes that give back the most points:")
        for rule, gain in best_fixes(item.assessment, book):
            console.print(f"  +{gain:4.1f}  {rule}")
        return
    result = plan(item.assessment, book, fix)
    if result.unknown:
        raise ConfigError(f"no finding matches: {', '.join(result.unknown)}")
    console.print(
        f"{result.current:.1f} {result.grade_now} → {result.projected:.1f} "
        f"{result.grade_projected} by fixing {len(result.fixed)} finding(s)"
    )


@rating_app.command("diff")
def rating_diff(
    from_: Annotated[Path, typer.Option("--from", help="The rulebook file in force.")],
    to: Annotated[Path, typer.Option("--to", help="The proposed rulebook file.")],
    scan: ScanOpt = None,
) -> None:
    """Every organisation's score and grade under two rulebook versions, before adoption."""

    from utsyn.rating.model import rate
    from utsyn.rules.rulebook import load_rulebook

    before, after = load_rulebook(from_), load_rulebook(to)
    assessed = _rated(scan, None, from_)
    old = {r.org: rate(r.assessment, before) for r in assessed}
    new = {r.org: rate(r.assessment, after) for r in assessed}
    table = Table(title="Rulebook change")
    for column in ("organisation", "before", "after", "change"):
        table.add_column(column)
    for org in sorted(old):
        a, b = old[org], new[org]
        table.add_row(
            org,
            f"{a.score:.1f} {a.grade} ({a.rulebook_version})",
            f"{b.score:.1f} {b.grade} ({b.rulebook_version})",
            f"{b.score - a.score:+.1f}",
        )
    console.print(table)


@rating_app.command("rescore")
def rating_rescore(
    orgs: Annotated[
        list[str] | None, typer.Argument(help="Organisation numbers (default: every one).")
    ] = None,
) -> None:
    """Re-rate stored organisations without scanning (expired explanations, decay, a new
    rulebook): new snapshots, rollups, custom scorecards and grade-drop alerts."""
    from utsyn.commands.scan import progress_bar
    from utsyn.pipeline import rerate_all
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.store.db import open_session

    book = load_rulebook()
    with open_session() as session, progress_bar(err_console) as bar:
        task = bar.add_task("rescoring", total=None)
        done = rerate_all(
            session, book, orgs or None, lambda n, total: bar.update(task, completed=n, total=total)
        )
    console.print(f"{done} organisation(s) rescored under rulebook {book.version}")


@rating_app.command("change")
def rating_change(
    before: Annotated[Path, typer.Option("--before", help="The earlier scan report.")],
    after: Annotated[Path, typer.Option("--after", help="The later scan report.")],
    org: Annotated[str, typer.Option("--org", help="Organisation number.")],
) -> None:
    """Why did the score change? Finding by finding, between two scans."""
    from utsyn.rating.explain import diff

    (a,) = _rated(before, org)
    (b,) = _rated(after, org)
    change = diff(a.rating, b.rating)
    console.print(
        f"{change.before:.1f} {change.grade_before} → {change.after:.1f} {change.grade_after} "
        f"({change.delta:+.1f})"
    )
    for c in change.changes:
        console.print(f"  {-c.points:+6.2f}  {c.change:15} {c.rule}  {c.asset}")


# ------------------------------------------------------------------ database and organisations

db_app = typer.Typer(help="The database: migrations, export and import.", no_args_is_help=True)
app.add_typer(db_app, name="db")
orgs_app = typer.Typer(help="Organisations and their footprints.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (SQLite by default, UTSYN_DATABASE_URL otherwise) to the newest."""
    from utsyn.store.db import database_url, open_session

    with open_session():
        pass
    console.print(f"Database at the newest schema: {escape(_safe_url(database_url()))}")


def _safe_url(url: str) -> str:
    """The URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("export")
def db_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="JSON lines file.")],
) -> None:
    """Write every table as JSON lines (a full, restorable copy)."""
    from utsyn.store.db import open_session
    from utsyn.store.dump import export_jsonl

    tmp = output.with_name(output.name + ".partial")
    with open_session() as session, tmp.open("w", encoding="utf-8") as fp:
        rows = export_jsonl(session, fp)
    tmp.replace(output)  # a reader never sees half an export
    console.print(f"Exported {rows} rows to {escape(str(output))}.")


@db_app.command("import")
def db_import(
    source: Annotated[Path, typer.Argument(help="A file from `utsyn db export`.")],
) -> None:
    """Load a JSON lines export into an empty database (all or nothing)."""
    from utsyn.store.db import open_session
    from utsyn.store.dump import import_jsonl

    if not source.is_file():
        raise ConfigError(f"{source}: no such file")
    with open_session() as session, source.open(encoding="utf-8") as fp:
        rows = import_jsonl(session, fp)
    console.print(f"Imported {rows} rows from {escape(str(source))}.")


@db_app.command("prune")
def db_prune(
    keep: Annotated[
        int, typer.Option("--keep", help="Scans kept per organisation and target (1 or more).")
    ] = 2,
) -> None:
    """Delete old scan results: all but the newest scans of each target (findings, ratings
    and their history stay)."""
    from utsyn.store.db import open_session
    from utsyn.store.retention import prune_scans

    with open_session() as session:
        deleted = prune_scans(session, keep)
    console.print(f"Deleted {deleted} old target scan(s); kept the newest {keep} of each target.")


@orgs_app.command("import")
def orgs_import(
    source: Annotated[Path, typer.Argument(help="CSV: Enhetsregisteret-style or native.")],
) -> None:
    """Import organisations from CSV: all or nothing, with a report of bad rows."""
    from utsyn.clock import now_utc
    from utsyn.store.db import open_session
    from utsyn.store.importer import import_organisations

    if not source.is_file():
        raise ConfigError(f"{source}: no such file")
    with open_session() as session:
        report = import_organisations(session, source, now_utc())
    for problem in report.errors[:50]:
        err_console.print(f"  line {problem.line}: {escape(problem.reason)}", soft_wrap=True)
    for problem in report.flags[:50]:
        console.print(f"  line {problem.line} (flag): {escape(problem.reason)}", soft_wrap=True)
    if not report.committed:
        raise ConfigError(
            f"{source}: {len(report.errors)} bad row(s); nothing was imported (see above)"
        )
    assert report.written is not None
    w = report.written
    console.print(
        f"{report.rows} rows: {w.created} created, {w.updated} updated, {w.unchanged} unchanged; "
        f"{report.flagged_rows} flagged for review."
    )


# ------------------------------------------------------------------ footprint

footprint_app = typer.Typer(help="Footprints: discovery and validation.", no_args_is_help=True)
app.add_typer(footprint_app, name="footprint")
OrgnrOpt = Annotated[str, typer.Option("--org", help="Organisation number.")]


@footprint_app.command("discover")
def footprint_discover(
    org: OrgnrOpt,
    resolver: Annotated[
        list[str] | None, typer.Option("--resolver", help="Name server IP (repeatable).")
    ] = None,
    resolver_port: Annotated[int, typer.Option(help="Port of the name servers.")] = 53,
    scope: Annotated[str, typer.Option(help="internet, or lab (loopback only).")] = "internet",
) -> None:
    """Find candidate names from NS, MX, SPF, common subdomains and certificate names."""
    from utsyn.commands.footprint import discovery_config, run_discover

    run_discover(console, org, discovery_config(tuple(resolver or ()), resolver_port, scope))


@footprint_app.command("list")
def footprint_list(org: OrgnrOpt) -> None:
    """The organisation's assets with their validation state."""
    from utsyn.commands.footprint import show

    show(console, org)


@footprint_app.command("confirm")
def footprint_confirm(org: OrgnrOpt, name: Annotated[str, typer.Argument()]) -> None:
    """The organisation says a candidate is theirs (it then needs DNS TXT proof)."""
    from utsyn.commands.footprint import set_state

    set_state(console, org, name, "claimed")


@footprint_app.command("reject")
def footprint_reject(org: OrgnrOpt, name: Annotated[str, typer.Argument()]) -> None:
    """Not the organisation's: never proposed again."""
    from utsyn.commands.footprint import set_state

    set_state(console, org, name, "rejected")


@footprint_app.command("verify")
def footprint_verify(
    org: OrgnrOpt,
    name: Annotated[str, typer.Argument(help="The domain or host name to prove.")],
    resolver: Annotated[
        list[str] | None,
        typer.Option("--resolver", help="Name server IP (default: UTSYN_DNS_SERVERS)."),
    ] = None,
    resolver_port: Annotated[int, typer.Option(help="Port of the name servers.")] = 53,
) -> None:
    """Prove control with a DNS TXT record (_utsyn-verify.NAME); the first run shows it."""
    import os

    from utsyn.commands.footprint import verify

    servers = tuple(resolver or ()) or tuple(
        s.strip() for s in os.environ.get("UTSYN_DNS_SERVERS", "").split(",") if s.strip()
    )
    if not servers:
        raise ConfigError("no name server: pass --resolver IP or set UTSYN_DNS_SERVERS")
    if not verify(console, org, name, servers, resolver_port):
        raise typer.Exit(1)


# ------------------------------------------------------------------ other packages' commands


def _mount() -> None:
    """Sub-commands owned by their packages (each keeps its CLI next to its code)."""
    from utsyn.portfolio.cli import national_app, portfolio_app
    from utsyn.report.cli import report_app
    from utsyn.vuln.cli import feeds_app
    from utsyn.web.cli import serve, users_app
    from utsyn.worker.cli import scheduler_command, worker_command

    app.add_typer(portfolio_app, name="portfolio")
    app.add_typer(national_app, name="national")
    app.add_typer(report_app, name="report")
    app.add_typer(feeds_app, name="feeds")
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    app.command("worker")(worker_command)
    app.command("scheduler")(scheduler_command)


_mount()
