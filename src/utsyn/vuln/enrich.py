"""Products seen by the scan → known vulnerabilities, as observations the rules can judge.

Runs between the scan and the rules: each `service.product` observation is matched against
the vulnerability index, and every match becomes a `vuln.cve` observation on the same asset
with its confidence, CVSS, KEV and EPSS facts and the evidence that matched.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from utsyn.scan.model import Observation, TargetResult, excerpt
from utsyn.vuln.index import VulnIndex
from utsyn.vuln.match import Match, ObservedProduct, match


def enrich(result: TargetResult, index: VulnIndex) -> TargetResult:
    """The result with one `vuln.cve` observation per (asset, CVE) a product matched.

    Idempotent: CVEs already recorded on an asset (an enriched result) are not added again.
    """
    known = {
        (o.target, o.value.get("id"))
        for o in result.observations
        if o.check == "vuln.cve" and isinstance(o.value, dict)
    }
    added: dict[tuple[str, str], Observation] = {}
    for o in result.observations:
        if o.check != "service.product" or o.error or not isinstance(o.value, dict):
            continue
        product = ObservedProduct.from_observation(o.value)
        if not product.version:
            continue  # no version, no range to place it in: guessing is what we must not do
        for found in match(product, index):
            key = (o.target, found.vuln_id)
            if key in known:
                continue
            fact = _observation(o, found)
            if key not in added or _stronger(fact, added[key]):
                added[key] = fact
    if not added:
        return result
    merged = result.observations + tuple(added[k] for k in sorted(added))
    return dataclasses.replace(result, observations=merged)


def _stronger(a: Observation, b: Observation) -> bool:
    return bool(a.value["confirmed"]) and not bool(b.value["confirmed"])


def _observation(source: Observation, found: Match) -> Observation:
    return Observation(
        target=source.target,
        check="vuln.cve",
        value=cve_fact(found) | {"version": source.value.get("version")},
        ip=source.ip,
        probe=f"{found.product} {source.value.get('version', '')}".strip(),
        evidence=excerpt(_evidence(source, found), 1024),
        time=source.time,
    )


def cve_fact(found: Match) -> dict[str, Any]:
    cvss = found.cvss
    return {
        "id": found.vuln_id,
        "product": found.product,
        "confirmed": found.scored,
        "reasons": list(found.reasons),
        "basis": found.basis,  # what excludes a backported fix, when confirmed
        "shipped_by": list(found.shipped_by),  # distribution releases with this version
        "cvss": cvss.base_score if cvss else None,
        "cvss_vector": cvss.vector if cvss else None,
        "kev": found.kev is not None,
        "kev_added": found.kev.date_added.isoformat() if found.kev else None,
        "ransomware": found.kev.ransomware_use if found.kev else None,
        "epss": found.epss.probability if found.epss else None,
        "epss_percentile": found.epss.percentile if found.epss else None,
        "summary": found.summary[:300],
    }


def _evidence(source: Observation, found: Match) -> str:
    ranges = "; ".join(
        f"{e.range.statement or e.range.product} ({e.range.provenance.feed} "
        f"{e.range.provenance.file_date})"
        for e in found.evidence[:3]
    )
    banner = source.value.get("source") or source.evidence
    return f"seen: {banner} | matched: {ranges}"
