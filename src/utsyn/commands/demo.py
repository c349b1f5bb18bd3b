"""`make demo`: the main job on the embedded default, in one command.

Lab up → scan of the demo scenario into SQLite → findings and ratings → the dashboard (when
the web package is installed) on http://127.0.0.1:8000 — until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from contextlib import ExitStack

from rich.console import Console
from rich.table import Table

from utsyn.lab.manifest import Manifest
from utsyn.lab.manifest import Organisation as LabOrganisation
from utsyn.lab.runtime import LabInfo, read_state, running_lab, write_state
from utsyn.lab.scenarios import load_scenario
from utsyn.settings import get_settings
from utsyn.web.verify import RECORD_LABEL, RECORD_PREFIX


def run_demo(console: Console, err: Console, once: bool, port: int = 8000) -> None:
    from utsyn.errors import LabError

    settings = get_settings()
    state = settings.data_dir / "lab" / "lab.json"
    if read_state(state) is not None:
        raise LabError("a lab is already running; `utsyn lab down` first")
    manifest = load_scenario("demo")
    began = time.perf_counter()
    with running_lab(manifest, state.parent, settings.cache_dir) as info:
        write_state(state, info, os.getpid())  # `utsyn scan --scenario demo` elsewhere reuses it
        try:
            hosts = sum(len(o.hosts) for o in manifest.organisations)
            console.print(
                f"[green]Lab up[/] in {info.started_in:.2f} s: "
                f"{len(manifest.organisations)} organisations, {hosts} hosts on 127.20.x.y."
            )
            ratings = _scan(err)
            verified = verify_published(manifest, info)
            _print(console, ratings, manifest)
            console.print(
                f"Footprints verified over DNS (TXT {RECORD_LABEL}): {verified} of "
                f"{len(manifest.organisations)} organisations are active."
            )
            console.print(f"Scanned, stored and rated in {time.perf_counter() - began:.1f} s.")
            if not once:
                _serve_or_wait(console, port)
        finally:
            state.unlink(missing_ok=True)


def _scan(err: Console) -> dict[str, tuple[float, str]]:
    from utsyn.commands.scan import ScanRequest, prepare_scenario, progress_bar
    from utsyn.lab.orgs import prepare_scenario_orgs
    from utsyn.pipeline import scan_and_store
    from utsyn.store.db import open_session

    with open_session() as session:
        prepare_scenario_orgs(session, "demo")
        with ExitStack() as stack:
            footprints, config = prepare_scenario(ScanRequest(scenario="demo"), stack)
            with progress_bar(err) as bar:
                task = bar.add_task("", total=sum(len(f.domains) + len(f.hostnames)
                                                  for f in footprints))  # fmt: skip
                outcome = asyncio.run(
                    scan_and_store(
                        session, footprints, config,
                        progress=lambda r: bar.update(task, advance=1, description=r.target),
                    )
                )  # fmt: skip
    return {org: (r.score, r.grade) for org, r in outcome.ratings.items()}


def verify_published(manifest: Manifest, info: LabInfo) -> int:
    """Check the tokens the lab's organisations published, the way `utsyn footprint verify`
    does: the token is the one Utsyn issued at the claim (the scenario's record holds it),
    the lookup a real DNS query to the lab's name server. Returns the organisations verified."""
    from utsyn.clock import now_utc
    from utsyn.store import footprint, reads
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation
    from utsyn.web import verify as txt

    active = set()
    with open_session() as session:
        for lab_org in manifest.organisations:
            org = organisation(session, lab_org.orgnr)
            for domain, token in published_tokens(lab_org):
                asset = reads.asset_named(session, org, "domain", domain)
                if asset is None:
                    continue
                footprint.set_verification_token(session, asset, token)
                name = txt.record_name(domain)
                values = txt.txt_values(name, [info.dns_ip], info.dns_port, timeout=3.0)
                if txt.is_verified(values, token):
                    footprint.mark_verified(session, org, asset, "demo", now_utc())
                    active.add(org.orgnr)
    return len(active)


def published_tokens(lab_org: LabOrganisation) -> list[tuple[str, str]]:
    """(domain, token) of each `_utsyn-verify` TXT record the organisation publishes."""
    return [
        (domain.name, record.value.removeprefix(RECORD_PREFIX))
        for domain in lab_org.domains
        for record in domain.records
        if record.name == RECORD_LABEL
        and record.type == "TXT"
        and record.value.startswith(RECORD_PREFIX)
    ]


def _print(console: Console, ratings: dict[str, tuple[float, str]], manifest: Manifest) -> None:
    names = {o.orgnr: o.name for o in manifest.organisations}
    table = Table(title="Utsyn — demo portfolio")
    for column in ("organisation", "org.nr", "score", "grade"):
        table.add_column(column)
    for org, (score, grade) in sorted(ratings.items(), key=lambda kv: -kv[1][0]):
        table.add_row(names.get(org, org), org, f"{score:.1f}", grade)
    console.print(table)
    grades = Counter(g for _, g in ratings.values())
    mean = sum(s for s, _ in ratings.values()) / max(1, len(ratings))
    spread = "  ".join(f"{g}: {grades.get(g, 0)}" for g in "ABCDF")
    console.print(f"Average score {mean:.1f}.  {spread}")


def _serve_or_wait(console: Console, port: int) -> None:
    """The dashboard until Ctrl-C; the lab in its thread serves on behind it."""
    from utsyn.web.demo import serve_demo

    serve_demo(console, port)
