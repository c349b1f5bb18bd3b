"""`utsyn footprint`: discover candidates, list them, confirm or reject them."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.scan.engine import Scanner
from utsyn.scan.family import ScanConfig
from utsyn.scan.footprint import Candidate, discover
from utsyn.scan.guard import ScopePolicy
from utsyn.store import scans
from utsyn.store.models import Asset, Organisation


def discovery_config(resolvers: tuple[str, ...], port: int, scope: str) -> ScanConfig:
    """Name servers: as given, else the running lab's (lab scope), else the system's list."""
    from utsyn.commands.scan import system_nameservers
    from utsyn.lab.runtime import read_state
    from utsyn.settings import get_settings

    if scope not in ("internet", "lab"):
        raise ConfigError(f"--scope must be 'internet' or 'lab', not {scope!r}")
    policy = ScopePolicy.lab() if scope == "lab" else ScopePolicy.internet()
    if not resolvers and scope == "lab":
        found = read_state(get_settings().data_dir / "lab" / "lab.json")
        if found is None:
            raise ConfigError("no lab is running: start one, or pass --resolver")
        resolvers, port = (found[1].dns_ip,), found[1].dns_port
    resolvers = resolvers or system_nameservers()
    if not resolvers:
        raise ConfigError("no name server: pass --resolver IP")
    return ScanConfig(scope=policy, nameservers=resolvers, dns_port=port)


def run_discover(console: Console, orgnr: str, config: ScanConfig) -> None:
    from utsyn.clock import now_utc
    from utsyn.store.candidates import add_candidates
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation

    with open_session() as session:
        org = organisation(session, orgnr)
        domains = [a.value for a in org_assets(session, org) if a.kind == "domain"]
        if not domains:
            raise ConfigError(f"organisation {orgnr} has no domain to start from")
        found = asyncio.run(_discover(domains, config, certificate_names(session, org)))
        added = add_candidates(session, org, found, now_utc())
    table = Table(title=f"Footprint candidates for {orgnr}")
    for column in ("name", "found by", "via", "shared"):
        table.add_column(column)
    for c in found:
        table.add_row(escape(c.value), c.source, escape(c.via), "yes" if c.shared else "")
    console.print(table)
    console.print(f"{added} new candidate(s) stored; confirm with `utsyn footprint confirm`.")


async def _discover(domains: list[str], config: ScanConfig, names: list[str]) -> list[Candidate]:
    scan = Scanner(config, families=[]).context()
    return await discover(domains, scan, names)


def org_assets(session: Session, org: Organisation) -> list[Asset]:
    return list(session.scalars(select(Asset).where(Asset.org_id == org.id).order_by(Asset.value)))


def certificate_names(session: Session, org: Organisation) -> list[str]:
    """Names from certificates the scans saw (`tls.cert.names`)."""
    names: set[str] = set()
    for result in scans.latest_results(session, org):
        for o in result.observations:
            if o.check == "tls.cert.names" and isinstance(o.value, list):
                names.update(str(n).removeprefix("*.") for n in o.value)
    return sorted(names)


def set_state(console: Console, orgnr: str, value: str, state: str) -> None:
    """Confirm (claimed) or reject a candidate; confirmed assets still need DNS proof."""
    from utsyn.clock import now_utc
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation, set_asset_state

    with open_session() as session:
        org = organisation(session, orgnr)
        match = [a for a in org_assets(session, org) if a.value == value.lower().rstrip(".")]
        if not match:
            raise ConfigError(f"{value} is not in the footprint of {orgnr}")
        for asset in match:
            set_asset_state(session, asset, state, now_utc())
    console.print(f"{escape(value)}: {state}")


def show(console: Console, orgnr: str) -> None:
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation

    with open_session() as session:
        org = organisation(session, orgnr)
        table = Table(title=f"Footprint of {escape(org.name)} ({orgnr})")
        for column in ("kind", "name", "state", "source", "shared"):
            table.add_column(column)
        for a in org_assets(session, org):
            table.add_row(a.kind, escape(a.value), a.state, a.source, "yes" if a.shared else "")
    console.print(table)


def verify(console: Console, orgnr: str, name: str, servers: tuple[str, ...], port: int) -> bool:
    """Prove control of a name with its DNS TXT record; the first call issues the token."""
    import secrets

    from utsyn.clock import now_utc
    from utsyn.store.db import open_session
    from utsyn.store.footprint import mark_verified, set_verification_token
    from utsyn.store.orgs import organisation
    from utsyn.web import verify as txt

    with open_session() as session:
        org = organisation(session, orgnr)
        value = name.lower().rstrip(".")
        match = [a for a in org_assets(session, org) if a.value == value]
        if not match:
            raise ConfigError(f"{name} is not in the footprint of {orgnr}")
        asset = match[0]
        if asset.verification_token is None:
            set_verification_token(session, asset, secrets.token_urlsafe(24))
        token = asset.verification_token
        assert token is not None
        record = f'{txt.record_name(value)} TXT "{txt.record_value(token)}"'
        try:
            values = txt.txt_values(txt.record_name(value), servers, port, timeout=3.0)
        except txt.VerificationUnavailable as exc:
            raise ConfigError(f"DNS lookup failed: {exc}") from exc
        if not txt.is_verified(values, token):
            console.print(f"Not verified yet. Publish this record, then run again:\n  {record}")
            return False
        mark_verified(session, org, asset, "cli", now_utc())
    console.print(f"{escape(value)}: verified")
    return True
