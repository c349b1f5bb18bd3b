"""`utsyn demo` (`make demo`): the main job on the embedded default, in one command.

Lab up → a week of history (`demo_history`: two scans, a feed update, users' doings) in
SQLite → findings, ratings and alerts → the dashboard on http://127.0.0.1:8000 — until
Ctrl-C.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, err_console, table, words
from utsyn.clock import now_utc
from utsyn.errors import LabError

if TYPE_CHECKING:
    from utsyn.lab.manifest import Manifest
    from utsyn.lab.manifest import Organisation as LabOrganisation
    from utsyn.lab.runtime import LabInfo


@dataclass(frozen=True, slots=True)
class LabPlace:
    """Where the demo's lab serves: its fixed addresses, or others for a test that runs
    beside the session's demo lab."""

    dns_ip: str = "127.53.0.1"
    dns_port: int = 53
    first_octet: int = 20


def demo(
    once: Annotated[bool, typer.Option(help="Scan, rate, report and stop at once.")] = False,
    port: Annotated[int, typer.Option(help="Port of the dashboard on 127.0.0.1.")] = 8000,
    lang: LangOpt = "nb",
) -> None:
    """The main job on the embedded default: lab, scan, ratings and the dashboard."""
    run_demo(console, err_console, once, port, words(lang))


def run_demo(
    console: Console, err: Console, once: bool, port: int, _: Words, place: LabPlace = LabPlace()
) -> None:
    # Lazy (start-up): the lab's servers cost ~420 ms CPU, the DNS verification ~1,000 ms,
    # the pipeline and the store ~900 ms.
    from utsyn.cli import demo_history as history
    from utsyn.clock import shifted
    from utsyn.lab.orgs import prepare_scenario_orgs
    from utsyn.lab.runtime import read_state, running_lab, write_state
    from utsyn.lab.scenarios import load_scenario
    from utsyn.settings import get_settings
    from utsyn.store.db import open_session
    from utsyn.web.demo import DEMO_EMAIL, ensure_demo_user
    from utsyn.web.verify import RECORD_LABEL

    settings = get_settings()
    state = settings.data_dir / "lab" / "lab.json"
    if read_state(state) is not None:
        raise LabError("a lab is already running; `utsyn lab down` first")
    manifest = load_scenario("demo")
    where = (place.dns_ip, place.dns_port, place.first_octet)
    began = time.perf_counter()
    with open_session() as session:
        prepare_scenario_orgs(session, "demo")
        before = history.earlier(manifest)  # the lab a week ago, scanned then
        with shifted(-history.WEEK), running_lab(before, state.parent, settings.cache_dir,
                                                 *where) as info:  # fmt: skip
            history.scan_lab(session, before, info, err, _)
        update = history.replay_kev(session, settings)
    with running_lab(manifest, state.parent, settings.cache_dir, *where) as info:
        write_state(state, info, os.getpid())  # `utsyn scan --scenario demo` elsewhere reuses it
        try:
            hosts = sum(len(o.hosts) for o in manifest.organisations)
            console.print(
                _(
                    "[green]Lab up[/] in %(seconds)s s: %(orgs)s organisations, %(hosts)s hosts "
                    "on 127.20.x.y.",
                    seconds=_.number(info.started_in, 2),
                    orgs=len(manifest.organisations),
                    hosts=hosts,
                )
            )
            with open_session() as session:
                ratings = history.scan_lab(session, manifest, info, err, _)
            verified = verify_published(manifest, info, leave={history.LEFT_TO_VERIFY})
            password, owner_id = ensure_demo_user()
            with open_session() as session:
                history.user_actions(session, owner_id, DEMO_EMAIL)
            _print(console, ratings, manifest, _)
            console.print(
                _(
                    "Footprints verified over DNS (TXT %(label)s): %(verified)s of %(orgs)s "
                    "organisations are active.",
                    label=RECORD_LABEL,
                    verified=verified,
                    orgs=len(manifest.organisations),
                )
            )
            console.print(
                _(
                    "A week of history: two scans, a feed update (new alerts: %(alerts)s), a "
                    "dispute, an explanation, a portfolio and a custom scorecard.",
                    alerts=len(update.alert_ids),
                )
            )
            console.print(
                _(
                    "Scanned, stored and rated in %(seconds)s s.",
                    seconds=_.number(time.perf_counter() - began),
                )
            )
            if not once:
                _serve(console, port, password, info, _)
        finally:
            state.unlink(missing_ok=True)


def verify_published(
    manifest: Manifest, info: LabInfo, leave: Collection[str] = frozenset()
) -> int:
    """Check the tokens the lab's organisations published, the way `utsyn footprint verify`
    does: the token is the one Utsyn issued at the claim (the scenario's record holds it),
    the lookup a real DNS query to the lab's name server. Returns the organisations verified.
    Those in `leave` get their tokens unchecked, for "verify now" in the dashboard."""
    # Lazy (start-up): the store and the DNS verification cost ~1,000 ms CPU.
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
                if lab_org.orgnr in leave:
                    continue
                name = txt.record_name(domain)
                values = txt.txt_values(name, [info.dns_ip], info.dns_port, timeout=3.0)
                if txt.is_verified(values, token):
                    footprint.mark_verified(session, org, asset, "demo", now_utc())
                    active.add(org.orgnr)
    return len(active)


def published_tokens(lab_org: LabOrganisation) -> list[tuple[str, str]]:
    """(domain, token) of each `_utsyn-verify` TXT record the organisation publishes."""
    # Lazy (start-up): the DNS verification (dnspython, the store) costs ~1,000 ms CPU.
    from utsyn.web.verify import RECORD_LABEL, RECORD_PREFIX

    return [
        (domain.name, record.value.removeprefix(RECORD_PREFIX))
        for domain in lab_org.domains
        for record in domain.records
        if record.name == RECORD_LABEL
        and record.type == "TXT"
        and record.value.startswith(RECORD_PREFIX)
    ]


def _print(
    console: Console, ratings: dict[str, tuple[float, str]], manifest: Manifest, _: Words
) -> None:
    names = {o.orgnr: o.name for o in manifest.organisations}
    shown = table(
        _("Utsyn — demo portfolio"), _("Organisation"), _("Org. no."), _("Score"), _("Grade")
    )
    for org, (score, grade) in sorted(ratings.items(), key=lambda kv: -kv[1][0]):
        shown.add_row(names.get(org, org), org, _.number(score), grade)
    console.print(shown)
    grades = Counter(g for _score, g in ratings.values())
    mean = sum(s for s, _grade in ratings.values()) / max(1, len(ratings))
    spread = "  ".join(f"{g}: {grades.get(g, 0)}" for g in "ABCDF")
    console.print(_("Average score %(average)s.", average=_.number(mean)) + f"  {spread}")


def _serve(console: Console, port: int, password: str, info: LabInfo, _: Words) -> None:
    """The dashboard until Ctrl-C; the lab in its thread serves on behind it, and answers
    the footprint verification's DNS queries."""
    # Lazy (start-up): the web app costs seconds of imports (`web.demo`).
    from utsyn.web.demo import DEMO_EMAIL, serve_dashboard

    url = f"http://127.0.0.1:{port}/"
    console.print(
        _(
            "[bold green]Dashboard:[/] %(url)s  login [bold]%(email)s[/] password "
            "[bold]%(password)s[/]  (Ctrl-C stops)",
            url=url,
            email=DEMO_EMAIL,
            password=password,
        )
    )
    serve_dashboard(port, (info.dns_ip,), info.dns_port)
