"""`utsyn footprint discover|list|confirm|reject|verify`: candidates found, confirmed,
rejected, and names proven by DNS TXT."""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import (
    LangOpt,
    OrgnrOpt,
    ResolverOpt,
    ResolverPortOpt,
    ScopeOpt,
    checked_scope,
    scan_config,
)
from utsyn.cli.output import Words, console, table, words, yes
from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.i18n import N_

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from utsyn.scan.family import ScanConfig
    from utsyn.scan.footprint import Candidate
    from utsyn.store.models import Asset, Organisation

app = typer.Typer(help="Footprints: discovery and validation.", no_args_is_help=True)
# An asset's validation state (`store.models.ASSET_STATES`), as the commands print it.
STATES = {
    "discovered": N_("discovered"),
    "claimed": N_("claimed"),
    "verified": N_("verified"),
    "rejected": N_("rejected"),
}


@app.command("discover")
def footprint_discover(
    org: OrgnrOpt,
    resolver: ResolverOpt = None,
    resolver_port: ResolverPortOpt = 53,
    scope: ScopeOpt = "internet",
    lang: LangOpt = "nb",
) -> None:
    """Find candidate names from NS, MX, SPF, common subdomains and certificate names."""
    run_discover(org, discovery_config(tuple(resolver or ()), resolver_port, scope), words(lang))


@app.command("list")
def footprint_list(org: OrgnrOpt, lang: LangOpt = "nb") -> None:
    """The organisation's assets with their validation state."""
    show(org, words(lang))


@app.command("confirm")
def footprint_confirm(
    org: OrgnrOpt, name: Annotated[str, typer.Argument()], lang: LangOpt = "nb"
) -> None:
    """The organisation says a candidate is theirs (it then needs DNS TXT proof)."""
    set_state(org, name, "claimed", words(lang))


@app.command("reject")
def footprint_reject(
    org: OrgnrOpt, name: Annotated[str, typer.Argument()], lang: LangOpt = "nb"
) -> None:
    """Not the organisation's: never proposed again."""
    set_state(org, name, "rejected", words(lang))


@app.command("verify")
def footprint_verify(
    org: OrgnrOpt,
    name: Annotated[str, typer.Argument(help="The domain or host name to prove.")],
    resolver: Annotated[
        list[str] | None,
        typer.Option("--resolver", help="Name server IP (default: UTSYN_DNS_SERVERS)."),
    ] = None,
    resolver_port: ResolverPortOpt = 53,
    lang: LangOpt = "nb",
) -> None:
    """Prove control with a DNS TXT record (_utsyn-verify.NAME); the first run shows it."""
    servers = tuple(resolver or ()) or tuple(
        s.strip() for s in os.environ.get("UTSYN_DNS_SERVERS", "").split(",") if s.strip()
    )
    if not servers:
        raise ConfigError("no name server: pass --resolver IP or set UTSYN_DNS_SERVERS")
    if not verify(org, name, servers, resolver_port, words(lang)):
        raise typer.Exit(1)


def discovery_config(resolvers: tuple[str, ...], port: int, scope: str) -> ScanConfig:
    """Name servers: as given, else the running lab's (lab scope), else the system's list."""
    # Lazy (start-up): the lab's runtime costs ~420 ms CPU, the settings ~180 ms.
    from utsyn.lab.runtime import read_state
    from utsyn.settings import get_settings

    if not resolvers and checked_scope(scope) == "lab":
        found = read_state(get_settings().data_dir / "lab" / "lab.json")
        if found is None:
            raise ConfigError("no lab is running: start one, or pass --resolver")
        resolvers, port = (found[1].dns_ip,), found[1].dns_port
    return scan_config(scope, resolvers, port)


def run_discover(orgnr: str, config: ScanConfig, _: Words) -> None:
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.candidates import add_candidates
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation

    with open_session() as session:
        org = organisation(session, orgnr)
        domains = [a.value for a in org_assets(session, org) if a.kind == "domain"]
        if not domains:
            raise ConfigError("organisation %(orgnr)s has no domain to start from", orgnr=orgnr)
        found = asyncio.run(_discover(domains, config, certificate_names(session, org)))
        added = add_candidates(session, org, found, now_utc())
    shown = table(
        _("Footprint candidates for %(orgnr)s", orgnr=orgnr),
        _("Name"),
        _("Found by"),
        _("Via"),
        _("Shared"),
    )
    for c in found:
        shown.add_row(escape(c.value), c.source, escape(c.via), yes(_, c.shared))
    console.print(shown)
    console.print(
        _(
            "%(added)s new candidate(s) stored; confirm with `utsyn footprint confirm`.",
            added=added,
        )
    )


async def _discover(domains: list[str], config: ScanConfig, names: list[str]) -> list[Candidate]:
    # Lazy (start-up): the scan engine costs ~110 ms CPU.
    from utsyn.scan.engine import Scanner
    from utsyn.scan.footprint import discover

    scan = Scanner(config, families=[]).context()
    return await discover(domains, scan, names)


def org_assets(session: Session, org: Organisation) -> list[Asset]:
    # Lazy (start-up): sqlalchemy and the store's models cost ~440 ms CPU.
    from sqlalchemy import select

    from utsyn.store.models import Asset

    return list(session.scalars(select(Asset).where(Asset.org_id == org.id).order_by(Asset.value)))


def certificate_names(session: Session, org: Organisation) -> list[str]:
    """Names from certificates the scans saw (`tls.cert.names`)."""
    from utsyn.store import scans  # lazy: the store costs ~700 ms CPU

    names: set[str] = set()
    for result in scans.latest_results(session, org):
        for o in result.observations:
            if o.check == "tls.cert.names" and isinstance(o.value, list):
                names.update(str(n).removeprefix("*.") for n in o.value)
    return sorted(names)


def set_state(orgnr: str, value: str, state: str, _: Words) -> None:
    """Confirm (claimed) or reject a candidate; confirmed assets still need DNS proof."""
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation, set_asset_state

    with open_session() as session:
        org = organisation(session, orgnr)
        match = [a for a in org_assets(session, org) if a.value == value.lower().rstrip(".")]
        if not match:
            raise ConfigError(
                "%(name)s is not in the footprint of %(orgnr)s", name=value, orgnr=orgnr
            )
        for asset in match:
            set_asset_state(session, asset, state, now_utc())
    console.print(f"{escape(value)}: {_(STATES[state])}")


def show(orgnr: str, _: Words) -> None:
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation

    with open_session() as session:
        org = organisation(session, orgnr)
        shown = table(
            _("Footprint of %(name)s (%(orgnr)s)", name=escape(org.name), orgnr=orgnr),
            _("Kind"),
            _("Name"),
            _("State"),
            _("Source"),
            _("Shared"),
        )
        for a in org_assets(session, org):
            state = _(STATES[a.state]) if a.state in STATES else a.state
            shown.add_row(a.kind, escape(a.value), state, a.source, yes(_, a.shared))
    console.print(shown)


def verify(orgnr: str, name: str, servers: tuple[str, ...], port: int, _: Words) -> bool:
    """Prove control of a name with its DNS TXT record; the first call issues the token."""
    # Lazy (start-up): the store and the DNS verification cost ~1,000 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.footprint import mark_verified, set_verification_token
    from utsyn.store.orgs import organisation
    from utsyn.web import verify as txt

    with open_session() as session:
        org = organisation(session, orgnr)
        value = name.lower().rstrip(".")
        match = [a for a in org_assets(session, org) if a.value == value]
        if not match:
            raise ConfigError(
                "%(name)s is not in the footprint of %(orgnr)s", name=name, orgnr=orgnr
            )
        asset = match[0]
        if asset.verification_token is None:
            set_verification_token(session, asset, secrets.token_urlsafe(24))
        token = asset.verification_token
        assert token is not None
        record = f'{txt.record_name(value)} TXT "{txt.record_value(token)}"'
        try:
            values = txt.txt_values(txt.record_name(value), servers, port, timeout=3.0)
        except txt.VerificationUnavailable as exc:
            raise ConfigError("DNS lookup failed: %(reason)s", reason=exc) from exc
        if not txt.is_verified(values, token):
            console.print(
                _("Not verified yet. Publish this record, then run again:") + f"\n  {record}"
            )
            return False
        mark_verified(session, org, asset, "cli", now_utc())
    console.print(f"{escape(value)}: {_(STATES['verified'])}")
    return True
