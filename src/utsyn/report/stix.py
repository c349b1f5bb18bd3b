"""Vulnerabilities seen on public bodies' assets as a STIX 2.1 bundle, for CERTs and NSM.

Per organisation in scope: an `identity` (class organization, its Enhetsregisteret number as
an external reference); per affected asset: an `infrastructure` related to that identity;
per CVE: one `vulnerability` (CVE external reference, CISA KEV when listed); per open
finding: a `has` relationship infrastructure → vulnerability (start_time: first seen,
confidence: confirmed version match or not, CVSS/EPSS/KEV in words) and an `observed-data`
of the host and software seen, first to last seen. Closing note: the export's scope, time
and rulebook version, referring to every vulnerability.

No `indicator`: an indicator is a pattern for detecting malicious activity, and a vulnerable
public server is not one. Every object carries a TLP 2.0 marking (the OASIS TLP 2.0
extension's marking definitions; stix2 ships TLP 1.0 only) and defaults to TLP:AMBER+STRICT:
who runs what vulnerable software is sensitive, for the recipient organisation alone.

Identifiers are UUIDv5 in a namespace drawn for each export: the bundle streams without
keeping a map of the objects written, yet two exports never reuse an id with other content.
The bundle is written piecewise; what is remembered is the set of CVEs and software already
written (bounded by the vulnerability feed, not by the number of findings).
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import stix2
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.report.scope import ExportMeta, Resolved
from utsyn.rules.evaluate import host_of
from utsyn.store.models import Finding, Observation, Organisation, TargetScan

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
# The TLP 2.0 marking definitions published by OASIS (cti-stix-common-objects). Only the
# levels that restrict sharing: this data must never be marked CLEAR or GREEN.
TLP2_IDS = {
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
DEFAULT_TLP = "amber+strict"
VULN_RULE_PREFIX = "vuln.cve."
POTENTIAL_RULE = "vuln.cve.potential"
BATCH = 500
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
# STIX industry sectors for the store's sectors.
_SECTORS = {
    "state": "government-national",
    "county": "government-regional",
    "municipal": "government-local",
}


def check_tlp(level: str) -> str:
    if level.lower() not in TLP2_IDS:
        raise ConfigError(
            "TLP level %(level)r not allowed here: %(choices)s",
            level=level,
            choices=", ".join(TLP2_IDS),
        )
    return level.lower()


def tlp_marking(level: str) -> stix2.MarkingDefinition:
    return stix2.MarkingDefinition(
        id=TLP2_IDS[level],
        created=TLP2_CREATED,
        name=f"TLP:{level.upper()}",
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    )


@dataclass
class _Writer:
    """Builds each object with stix2 (validated) and remembers only what must be unique."""

    meta: ExportMeta
    marking: str
    namespace: uuid.UUID = field(default_factory=uuid.uuid4)
    producer: str = ""
    written_cves: dict[str, str] = field(default_factory=dict)  # CVE → vulnerability id
    written_scos: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.producer = self.id("identity", "utsyn")

    def id(self, kind: str, *parts: str) -> str:
        return f"{kind}--{uuid.uuid5(self.namespace, '|'.join(parts))}"

    def common(self) -> dict[str, Any]:
        return {
            "created": self.meta.exported_at,
            "modified": self.meta.exported_at,
            "created_by_ref": self.producer,
            "object_marking_refs": [self.marking],
        }


def vulnerability_bundle(
    session: Session, resolved: Resolved, meta: ExportMeta, tlp: str = DEFAULT_TLP
) -> Iterator[str]:
    """The STIX 2.1 bundle, as JSON text chunks."""
    marking = tlp_marking(check_tlp(tlp))
    writer = _Writer(meta, marking.id)
    yield f'{{"type": "bundle", "id": "bundle--{writer.namespace}", "objects": [\n'
    yield _text(marking)
    yield ",\n" + _text(_producer(writer))
    current: tuple[str, str] | None = None  # (orgnr, asset) written last
    facts: dict[tuple[str, str], dict[str, Any]] = {}
    for row in session.execute(_vulnerability_findings(resolved)):
        if current is None or current[0] != row.orgnr:
            facts = _facts(session, row.org_id)  # one organisation's CVE facts at a time
            writer.written_scos.difference_update(_host_scos(writer))
            yield from _chunks(_organisation(writer, row))
        if current != (row.orgnr, row.asset):
            yield from _chunks(_infrastructure(writer, row))
        current = (row.orgnr, row.asset)
        yield from _chunks(_finding(writer, row, facts.get((row.asset, row.detail), {})))
    yield ",\n" + _text(_note(writer))
    yield "\n]}\n"


def _chunks(objects: list[Any]) -> Iterator[str]:
    for obj in objects:
        yield ",\n" + _text(obj)


def _text(obj: Any) -> str:
    return str(obj.serialize(ensure_ascii=False))


def _host_scos(writer: _Writer) -> set[str]:
    # Host observables are forgotten with their organisation (a host two bodies share is
    # written twice, identically); software observables are kept for the whole bundle.
    return {i for i in writer.written_scos if not i.startswith("software--")}


def _vulnerability_findings(resolved: Resolved) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Organisation.id.label("org_id"),
            Organisation.orgnr,
            Organisation.name,
            Organisation.sector,
            Organisation.created.label("org_created"),
            Finding.rule,
            Finding.asset,
            Finding.detail,
            Finding.first_seen,
            Finding.last_seen,
        )
        .join(Organisation, Organisation.id == Finding.org_id)
        .where(
            resolved.orgs,
            Finding.resolved.is_(None),
            Finding.rule.startswith(VULN_RULE_PREFIX, autoescape=True),
            # Potential matches are advice grouped per product ("verify your package"), not
            # a claim that the asset has a CVE: they are not exported as "has" relations.
            Finding.rule != POTENTIAL_RULE,
        )
        .order_by(Organisation.orgnr, Finding.asset, Finding.detail)
        .execution_options(yield_per=BATCH)
    )


def _facts(session: Session, org_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(asset, CVE) → the `vuln.cve` fact of the organisation's latest scan of that target."""
    newest = (
        select(func.max(TargetScan.id))
        .where(TargetScan.org_id == org_id)
        .group_by(TargetScan.kind, TargetScan.target)
    )
    rows = session.execute(
        select(Observation.target, Observation.value, Observation.probe).where(
            Observation.target_scan_id.in_(newest), Observation.check == "vuln.cve"
        )
    )
    facts = {}
    for target, value, probe in rows:
        if isinstance(value, dict) and value.get("id"):
            facts[(target, str(value["id"]))] = {**value, "probe": probe}
    return facts


def _producer(writer: _Writer) -> stix2.Identity:
    return stix2.Identity(
        id=writer.producer,
        name="Utsyn",
        identity_class="system",
        description="Open Cyber Risk Score service for the Norwegian public sector.",
        created=writer.meta.exported_at,
        modified=writer.meta.exported_at,
        object_marking_refs=[writer.marking],
    )


def _organisation(writer: _Writer, row: Row[Any]) -> list[Any]:
    return [
        stix2.Identity(
            id=writer.id("identity", "org", row.orgnr),
            name=row.name,
            identity_class="organization",
            sectors=[_SECTORS.get(row.sector or "", "government")],
            external_references=[
                {
                    "source_name": "enhetsregisteret",
                    "external_id": row.orgnr,
                    "url": f"https://data.brreg.no/enhetsregisteret/oppslag/enheter/{row.orgnr}",
                }
            ],
            **writer.common(),
        )
    ]


def _infrastructure(writer: _Writer, row: Row[Any]) -> list[Any]:
    infra = writer.id("infrastructure", row.orgnr, row.asset)
    return [
        stix2.Infrastructure(
            id=infra,
            name=row.asset,
            description=f"Internet-facing service of {row.name} ({row.orgnr}) scanned by Utsyn.",
            **writer.common(),
        ),
        stix2.Relationship(
            id=writer.id("relationship", "operated-by", row.orgnr, row.asset),
            relationship_type="related-to",
            description="operated by",
            source_ref=infra,
            target_ref=writer.id("identity", "org", row.orgnr),
            **writer.common(),
        ),
    ]


def _finding(writer: _Writer, row: Row[Any], fact: dict[str, Any]) -> list[Any]:
    objects: list[Any] = []
    cve = row.detail or row.rule
    if cve not in writer.written_cves:
        vulnerability = _vulnerability(writer, cve, fact)
        writer.written_cves[cve] = vulnerability.id
        objects.append(vulnerability)
    confirmed = bool(fact.get("confirmed", row.rule != POTENTIAL_RULE))
    objects.append(
        stix2.Relationship(
            id=writer.id("relationship", "has", row.orgnr, row.asset, cve),
            relationship_type="has",
            description=_facts_in_words(row.asset, fact),
            source_ref=writer.id("infrastructure", row.orgnr, row.asset),
            target_ref=writer.written_cves[cve],
            start_time=row.first_seen,
            confidence=85 if confirmed else 30,  # version in the affected range, or a guess
            **writer.common(),
        )
    )
    objects.extend(_observed(writer, row, fact))
    return objects


def _vulnerability(writer: _Writer, cve: str, fact: dict[str, Any]) -> stix2.Vulnerability:
    references: list[dict[str, str]] = []
    if _CVE.match(cve):
        references.append(
            {
                "source_name": "cve",
                "external_id": cve,
                "url": f"https://www.cve.org/CVERecord?id={cve}",
            }
        )
    if fact.get("kev"):
        references.append(
            {
                "source_name": "cisa-kev",
                "url": "https://www.cisa.gov/known-exploited-vulnerabilities-catalog",
                "description": f"Known exploited (CISA KEV) since {fact.get('kev_added')}",
            }
        )
    extra = {"external_references": references} if references else {}
    summary = str(fact.get("summary") or "")
    return stix2.Vulnerability(
        id=writer.id("vulnerability", cve),
        name=cve,
        **({"description": summary} if summary else {}),
        **extra,
        **writer.common(),
    )


def _facts_in_words(asset: str, fact: dict[str, Any]) -> str:
    words = [f"{fact.get('probe') or fact.get('product') or 'software'} on {asset}"]
    if fact.get("cvss") is not None:
        words.append(f"CVSS {fact['cvss']}")
    if fact.get("epss") is not None:
        words.append(f"EPSS {float(fact['epss']):.3f}")
    if fact.get("kev"):
        words.append("in CISA KEV")
    if fact and not fact.get("confirmed"):
        words.append("unconfirmed: the version could not be placed in the affected range")
    return "; ".join(words)


def _observed(writer: _Writer, row: Row[Any], fact: dict[str, Any]) -> list[Any]:
    """The host (and the software, when named) seen from first to last seen."""
    marking = [writer.marking]
    observables = [_host(host_of(row.asset), marking)]
    product = str(fact.get("product") or "")
    if product:
        observables.append(stix2.Software(name=product, object_marking_refs=marking))
    new = [o for o in observables if o.id not in writer.written_scos]
    writer.written_scos.update(o.id for o in new)
    observed = stix2.ObservedData(
        id=writer.id("observed-data", row.orgnr, row.asset, row.detail),
        first_observed=row.first_seen,
        last_observed=max(row.last_seen, row.first_seen),
        number_observed=1,
        object_refs=[o.id for o in observables],
        **writer.common(),
    )
    return [*new, observed]


def _host(name: str, marking: list[str]) -> Any:
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return stix2.DomainName(value=name, object_marking_refs=marking)
    if address.version == 4:
        return stix2.IPv4Address(value=str(address), object_marking_refs=marking)
    return stix2.IPv6Address(value=str(address), object_marking_refs=marking)


def _note(writer: _Writer) -> stix2.Note:
    meta = writer.meta
    content = json.dumps(
        {
            "scope": meta.scope,
            "exported_at": meta.exported_at.isoformat(),
            "rulebook_version": meta.rulebook_version,
            "vulnerabilities": len(writer.written_cves),
        }
    )
    return stix2.Note(
        id=writer.id("note", "export"),
        abstract=f"Utsyn export: {meta.scope}, rulebook {meta.rulebook_version}",
        content=content,
        object_refs=[writer.producer, *writer.written_cves.values()],
        **writer.common(),
    )
