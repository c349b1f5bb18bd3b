"""A lab scenario's organisations in the store, so their scans and ratings can be kept."""

from __future__ import annotations

from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.lab.manifest import Manifest
from utsyn.lab.sources import load_source
from utsyn.store.orgs import OrgRecord, upsert_organisations


def records_from_manifest(manifest: Manifest) -> list[OrgRecord]:
    """A lab scenario's organisations as the store keeps them (first domain = primary)."""
    domains = {o.orgnr: [d.name for d in o.domains] for o in manifest.organisations}
    for org in manifest.organisations:
        if org.primary_domain and org.primary_domain in domains[org.orgnr]:
            domains[org.orgnr].remove(org.primary_domain)
            domains[org.orgnr].insert(0, org.primary_domain)
    return [
        OrgRecord(
            orgnr=o.orgnr,
            name=o.name,
            sector=_sector(str(o.sector)),
            county=o.county,
            municipality=o.municipality,
            domains=tuple(domains[o.orgnr]),
        )
        for o in manifest.organisations
    ]


def _sector(sector: str) -> str:
    """The store's sectors: state, county, municipal, other (by organisation form)."""
    if sector in ("ministry", "state_agency", "health_trust", "university"):
        return "state"
    if sector == "county":
        return "county"
    if sector in ("municipality", "municipal_enterprise", "intermunicipal"):
        return "municipal"
    return "other"


def prepare_scenario_orgs(session: Session, source: str) -> None:
    """Upsert a lab scenario's organisations, so their scans and ratings can be stored."""
    manifest = load_source(source)
    upsert_organisations(session, records_from_manifest(manifest), f"lab:{source}", now_utc())
