"""`utsyn lab up|status|down|expected`: the loopback lab's lifecycle.

`lab up` serves in the foreground until interrupted, or starts itself again in the
background (`--detach`) and waits for the state file that says it serves. The state file
(`$UTSYN_DATA_DIR/lab/lab.json`) is how `lab status`, `lab down` and `utsyn scan --scenario`
find a running lab.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, table, words
from utsyn.errors import ConfigError, LabError

if TYPE_CHECKING:
    from utsyn.lab.manifest import Manifest
    from utsyn.lab.runtime import Lab

app = typer.Typer(help="The loopback lab of fictional public bodies.", no_args_is_help=True)

ScenarioOpt = Annotated[
    str, typer.Option("--scenario", help="'demo' or the path of a manifest YAML file.")
]
OrgsOpt = Annotated[
    int | None, typer.Option("--orgs", help="Generate a synthetic scenario of N organisations.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the generated scenario.")]
TierOpt = Annotated[
    str,
    typer.Option(
        "--tier",
        help="python: Utsyn's own servers; real: real Debian server software where it can "
        "express the manifest (nginx, Apache, Postfix, OpenSSH, BIND), Python for the rest.",
    ),
]


def checked_tier(tier: str) -> Literal["python", "real"]:
    if tier == "python":
        return "python"
    if tier == "real":
        return "real"
    raise ConfigError("--tier %(tier)r: use python or real", tier=tier)


def state_dir() -> Path:
    # Lazy (start-up): the settings (pydantic-settings) cost ~180 ms CPU.
    from utsyn.settings import get_settings

    return get_settings().data_dir / "lab"


def state_file() -> Path:
    return state_dir() / "lab.json"


@app.command("up")
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
    tier: TierOpt = "python",
    lang: LangOpt = "nb",
) -> None:
    """Start the lab and serve until interrupted (or in the background with --detach)."""
    # Lazy (start-up): the lab's servers and manifests cost ~420 ms CPU.
    from utsyn.lab.runtime import Lab, read_state
    from utsyn.lab.sources import load_source, source_for
    from utsyn.settings import get_settings

    _ = words(lang)
    if orgs is not None and orgs < 1:
        raise ConfigError("--orgs must be at least 1")
    chosen = checked_tier(tier)
    existing = read_state(state_file())
    if existing is not None:
        raise LabError(
            "a lab is already running (pid %(pid)s); `utsyn lab down` first", pid=existing[0]
        )
    source = source_for(scenario, orgs, seed)
    manifest = load_source(source)
    if detach:
        _detach(source, ["--dns-port", str(dns_port), "--dns-ip", dns_ip,
                         "--first-octet", str(first_octet), "--tier", chosen,
                         "--lang", lang], _)  # fmt: skip
        return
    core = Lab(manifest, state_dir(), get_settings().cache_dir, dns_ip, dns_port, first_octet,
               tier=chosen)  # fmt: skip
    _serve_foreground(manifest, source, core, _)


def _serve_foreground(manifest: Manifest, source: str, core: Lab, _: Words) -> None:
    # Lazy (start-up): the lab's servers cost ~420 ms CPU.
    from utsyn.lab.runtime import RunningLab, write_state

    lab = RunningLab(core)
    info = lab.start()
    state = state_file()
    write_state(state, info, os.getpid())
    served_by = core.real.status() if core.real is not None else {}
    _patch_state(state, source=source, tier=core.tier, served_by=served_by)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        _print_lab(manifest, info.to_json(), _)
        console.print(
            _(
                "[green]Lab up[/] in %(seconds)s s. Ctrl-C stops it.",
                seconds=_.number(info.started_in, 2),
            )
        )
        stop.wait()
    finally:
        lab.stop()
        state.unlink(missing_ok=True)
        console.print(_("Lab stopped."))


def _patch_state(state: Path, **fields: object) -> None:
    """Add what `lab status` shows beyond `LabInfo`: the source, the tier, who serves what."""
    data = json.loads(state.read_text(encoding="utf-8"))
    data.update(fields)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(state)


def _detach(source: str, options: list[str], _: Words) -> None:
    # Lazy (start-up): the lab's servers cost ~420 ms CPU.
    from utsyn.lab.process import wait_for
    from utsyn.lab.runtime import read_state

    log = state_dir() / "lab.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "utsyn", "lab", "up", *options]
    if source.startswith("generate:"):
        _kind, orgs, seed = source.split(":")
        args += ["--orgs", orgs, "--seed", seed]
    else:
        args += ["--scenario", source]
    with log.open("wb") as out:
        child = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def ready() -> bool:
        state = read_state(state_file())
        return child.poll() is not None or (state is not None and state[0] == child.pid)

    wait_for(ready, timeout=60)
    if child.poll() is not None:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise LabError("the lab did not start:\n%(log)s", log=tail)
    console.print(
        _("[green]Lab up[/] in the background (pid %(pid)s); log: %(log)s", pid=child.pid, log=log)
    )


@app.command("status")
def lab_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    lang: LangOpt = "nb",
) -> None:
    """Show the running lab: organisations, hosts and addresses."""
    # Lazy (start-up): the lab's servers cost ~420 ms CPU.
    from utsyn.lab.runtime import read_state
    from utsyn.lab.sources import load_source

    _ = words(lang)
    found = read_state(state_file())
    if found is None:
        raise LabError("no lab is running (start one with `utsyn lab up`)")
    data = json.loads(state_file().read_text(encoding="utf-8"))
    manifest = load_source(str(data.get("source", data["scenario"])))
    if as_json:
        console.print_json(json.dumps(data))
        return
    _print_lab(manifest, data, _)
    console.print(_("pid %(pid)s", pid=found[0]))


@app.command("down")
def lab_down(lang: LangOpt = "nb") -> None:
    """Stop a lab started with --detach."""
    # Lazy (start-up): the lab's servers cost ~420 ms CPU.
    from utsyn.lab.process import alive, wait_for
    from utsyn.lab.runtime import read_state

    _ = words(lang)
    found = read_state(state_file())
    if found is None:
        raise LabError("no lab is running")
    pid = found[0]
    os.kill(pid, signal.SIGTERM)
    if not wait_for(lambda: not alive(pid), timeout=20):
        os.kill(pid, signal.SIGKILL)
    state_file().unlink(missing_ok=True)
    console.print(_("Lab stopped (pid %(pid)s).", pid=pid))


@app.command("expected")
def lab_expected(
    scenario: ScenarioOpt = "demo",
    orgs: OrgsOpt = None,
    seed: SeedOpt = 1,
    tier: TierOpt = "python",
) -> None:
    """Print the scenario's expected observations (the scanner's ground truth) as JSON; with
    --tier real, as the real tier serves it (real software's own banners and versions)."""
    # Lazy (start-up): the lab's manifests and ground truth cost ~130 ms CPU.
    from utsyn.lab.expected import expected_observations
    from utsyn.lab.real.tier import SOFTWARE, as_served
    from utsyn.lab.sources import load_source, source_for

    manifest = load_source(source_for(scenario, orgs, seed))
    if checked_tier(tier) == "real":
        manifest = as_served(manifest, SOFTWARE)
    rows = [o.to_json() for o in expected_observations(manifest)]
    sys.stdout.write(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def _print_lab(manifest: Manifest, state: dict[str, object], _: Words) -> None:
    addresses = state.get("addresses", {})
    assert isinstance(addresses, dict)
    title = _(
        "Lab '%(name)s': %(orgs)s organisations",
        name=manifest.name,
        orgs=len(manifest.organisations),
    )
    served_by = state.get("served_by") or {}
    assert isinstance(served_by, dict)
    headers = [_("Organisation"), _("Org. no."), _("Sector"), _("Hosts"), _("Services")]
    shown = table(title, *headers, *([_("Served by")] if served_by else []))
    for org in manifest.organisations:
        hosts = "\n".join(f"{h.name} {addresses.get(h.name, '')}" for h in org.hosts)
        services = "\n".join(
            ", ".join(f"{s.kind}:{s.effective_port}" for s in h.services) or "-" for h in org.hosts
        )
        by = "\n".join(str(served_by.get(h.name, "python")) for h in org.hosts)
        shown.add_row(
            org.name, org.orgnr, org.sector, hosts, services, *([by] if served_by else [])
        )
    console.print(shown)
    dns = f"{state.get('dns_ip')}:{state.get('dns_port')}"
    console.print(_("DNS: %(dns)s  CA: %(ca)s", dns=dns, ca=state.get("ca_file")))
