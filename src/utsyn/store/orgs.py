"""Organisations and their assets: upsert by organisation number, footprints for the scan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.scan.model import Footprint
from utsyn.store import rollup
from utsyn.store.db import atomic
from utsyn.store.fields import check_text
from utsyn.store.models import ASSET_STATES, Asset, Organisation

_CHUNK = 1000  # orgnr IN (...) lists stay well below both backends' parameter limits
# What a record may carry besides its organisation number and name (`upsert_organisations`).
OPTIONAL_COLUMNS = ("org_form", "sector", "county", "municipality", "domains")


@dataclass(frozen=True)
class OrgRecord:
    """An organisation as an import or an API gives it; `domains[0]` is its primary."""

    orgnr: str
    name: str
    org_form: str | None = None
    sector: str | None = None
    county: str | None = None
    municipality: str | None = None
    domains: tuple[str, ...] = ()
    shared_domains: frozenset[str] = frozenset()  # domains other bodies use too


@dataclass(frozen=True)
class Upserted:
    created: int
    updated: int
    unchanged: int


def organisation(session: Session, orgnr: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.orgnr == orgnr))
    if org is None:
        raise ConfigError("no organisation %(orgnr)s in the database: import it first", orgnr=orgnr)
    return org


def upsert_organisations(
    session: Session,
    records: Iterable[OrgRecord],
    source: str,
    now: datetime,
    columns: Iterable[str] = OPTIONAL_COLUMNS,
) -> Upserted:
    """Create or update by orgnr, in one transaction; domains become claimed assets.

    `columns` (of `OPTIONAL_COLUMNS`) are the fields the records carry, besides orgnr and
    name: an existing organisation keeps the others as they are, so a file that does not
    mention a field never erases it. Domains are only ever added (an asset's state is the
    footprint's, not the register's); the first becomes the primary website, and a record
    without domains keeps the primary it had. Text is checked against the columns
    (`store.fields`) before anything is written.
    """
    given = frozenset(columns)
    counts: Counter[str] = Counter()
    records = list(records)
    for record in records:
        check_record(record)
    with atomic(session):
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            counts.update(_upsert_chunk(session, chunk, source, now, given))
    return Upserted(counts["created"], counts["updated"], counts["unchanged"])


def check_record(record: OrgRecord) -> None:
    """Refuse (ConfigError) a record whose text does not fit its columns (`store.fields`)."""

    def field(name: str) -> str:
        return f"organisation.{name} ({record.orgnr})"

    check_text(record.name, Organisation.name, field=field("name"))
    for name in ("org_form", "sector", "county", "municipality"):
        value = getattr(record, name)
        if value is not None:
            check_text(value, getattr(Organisation, name), field=field(name))
    for domain in record.domains:
        check_text(domain, Organisation.primary_domain, field=field("domains"))


def _upsert_chunk(
    session: Session, records: list[OrgRecord], source: str, now: datetime, given: frozenset[str]
) -> Counter[str]:
    # A few statements per thousand organisations, not a few per organisation.
    existing = {
        o.orgnr: o
        for o in session.scalars(
            select(Organisation).where(Organisation.orgnr.in_([r.orgnr for r in records]))
        )
    }
    created = [
        Organisation(orgnr=r.orgnr, created=now, updated=now, **_fields(r))
        for r in records
        if r.orgnr not in existing
    ]
    session.add_all(created)
    session.flush()  # ids for the new organisations' assets
    orgs = existing | {o.orgnr: o for o in created}
    domains = _domains(session, [o.id for o in orgs.values()])
    outcomes: Counter[str] = Counter(created=len(created))
    changed = []
    for record in records:
        org = orgs[record.orgnr]
        added = _add_domains(session, org, record, domains[org.id], source, now)
        if record.orgnr in existing:
            updated = _update(org, record, now, given) or added > 0
            outcomes["updated" if updated else "unchanged"] += 1
            changed += [org] if updated else []
    session.flush()
    for org in changed:
        rollup.refresh(session, org, now)  # its sector or county may have moved in the rollups
    return outcomes


def _fields(record: OrgRecord) -> dict[str, str | None]:
    return {
        "name": record.name,
        "org_form": record.org_form,
        "sector": record.sector,
        "county": record.county,
        "municipality": record.municipality,
        "primary_domain": record.domains[0] if record.domains else None,
    }


def _update(org: Organisation, record: OrgRecord, now: datetime, given: frozenset[str]) -> bool:
    """Only the fields the import gave: the rest of what is stored stays."""
    fields = {k: v for k, v in _fields(record).items() if k == "name" or k in given}
    if "municipality" in given and record.municipality is not None:
        fields["county"] = record.county  # the municipality's county comes with it
    if "domains" in given and record.domains:
        fields["primary_domain"] = record.domains[0]
    changed = {k: v for k, v in fields.items() if getattr(org, k) != v}
    for key, value in changed.items():
        setattr(org, key, value)
    if changed:
        org.updated = now
    return bool(changed)


def _domains(session: Session, org_ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {org_id: set() for org_id in org_ids}
    rows = session.execute(
        select(Asset.org_id, Asset.value).where(Asset.org_id.in_(org_ids), Asset.kind == "domain")
    )
    for org_id, value in rows:
        found[org_id].add(value)
    return found


def _add_domains(
    session: Session,
    org: Organisation,
    record: OrgRecord,
    known: set[str],
    source: str,
    now: datetime,
) -> int:
    """New domains only: an asset's state (verified, rejected) is never reset by an import."""
    new = [d for d in dict.fromkeys(record.domains) if d not in known]
    for domain in new:
        session.add(
            Asset(
                org_id=org.id,
                kind="domain",
                value=domain,
                state="claimed",  # the body reported it to the register; not yet verified
                source=source,
                shared=domain in record.shared_domains,
                created=now,
            )
        )
    known.update(new)
    return len(new)


def set_asset_state(session: Session, asset: Asset, state: str, now: datetime) -> None:
    """Move an asset through discovered → claimed → verified | rejected."""
    if state not in ASSET_STATES:
        raise ConfigError(
            "unknown asset state %(state)r; one of %(choices)s",
            state=state,
            choices=", ".join(ASSET_STATES),
        )
    with atomic(session):
        asset.state = state
        asset.verified_at = now if state == "verified" else None
        session.flush()
        org = session.get_one(Organisation, asset.org_id)
        rollup.refresh(session, org, now)  # `active` means "has a verified asset"


def footprint(session: Session, org: Organisation) -> Footprint:
    """What to scan: every asset not rejected, grouped by kind."""
    assets = session.scalars(
        select(Asset)
        .where(Asset.org_id == org.id, Asset.state != "rejected")
        .order_by(Asset.kind, Asset.id)
    ).all()
    domains = tuple(a.value for a in assets if a.kind == "domain")
    hostnames = tuple(a.value for a in assets if a.kind == "hostname")
    ips = tuple(a.value for a in assets if a.kind == "ip")
    if org.primary_domain in domains:  # the primary website first (rating.service convention)
        domains = (org.primary_domain, *(d for d in domains if d != org.primary_domain))
    return Footprint(org.orgnr, domains, hostnames, ips)
