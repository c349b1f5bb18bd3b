"""Software vulnerabilities: products a scan identified, matched to CVEs by `vuln.enrich`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import TargetView, hit

# CVSS v3 qualitative ratings (FIRST CVSS v3.1 specification, section 5).
_CVSS_BANDS: tuple[tuple[float, Outcome], ...] = (
    (9.0, Outcome.VULN_CRITICAL),
    (7.0, Outcome.VULN_HIGH),
    (4.0, Outcome.VULN_MEDIUM),
    (0.0, Outcome.VULN_LOW),
)


def cve_outcome(fact: Mapping[str, Any]) -> Outcome:
    """Known exploitation first (CISA KEV), then the CVSS band; unconfirmed = potential."""
    if not fact.get("confirmed"):
        return Outcome.VULN_POTENTIAL
    if fact.get("kev"):
        return Outcome.VULN_KEV
    score = fact.get("cvss")
    if score is None:
        return Outcome.VULN_MEDIUM  # unscored: neither ignored nor assumed the worst
    return next(outcome for floor, outcome in _CVSS_BANDS if float(score) >= floor)


def vulnerabilities(view: TargetView) -> Iterator[Hit]:
    versioned = {
        o.target
        for o in view.result.observations
        if o.check == "service.product"
        and o.error is None
        and isinstance(o.value, dict)
        and o.value.get("version")
    }
    vulnerable: set[str] = set()
    potential: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for o in view.result.observations:
        if o.check != "vuln.cve" or not isinstance(o.value, dict):
            continue
        outcome = cve_outcome(o.value)
        if outcome == Outcome.VULN_POTENTIAL:
            potential.setdefault((o.target, _product_version(o.value)), []).append(o.value)
            continue
        vulnerable.add(o.target)
        yield hit(outcome, o.target, o, detail=str(o.value.get("id", "")))
    # Potential matches cost nothing and are advice: one per product, listing its CVEs, so
    # that 70 CVEs of a Debian-packaged Apache read as one "check your package" item.
    for (asset, product), facts in sorted(potential.items()):
        evidence = _potential_evidence(product, facts)
        yield Hit(Outcome.VULN_POTENTIAL, asset, evidence, product, check="vuln.cve")
    for asset in sorted(versioned - vulnerable):
        evidence = "no known vulnerability for this version"
        yield Hit(Outcome.VULN_NONE_KNOWN, asset, evidence, check="service.product")


_CVE_ID = re.compile(r"\bCVE-\d{4}-\d{4,}\b")


def potential_cves(evidence: str) -> tuple[str, ...]:
    """The CVEs a potential finding's evidence lists (`_potential_evidence` writes them)."""
    return tuple(sorted(set(_CVE_ID.findall(evidence))))


def _product_version(fact: Mapping[str, Any]) -> str:
    return f"{fact.get('product', '')} {fact.get('version') or ''}".strip()


def _potential_evidence(product: str, facts: list[dict[str, Any]]) -> str:
    ids = sorted({str(f.get("id", "")) for f in facts})
    kev = sorted({str(f.get("id", "")) for f in facts if f.get("kev")})
    shipped = list(dict.fromkeys(r for f in facts for r in f.get("shipped_by") or ()))
    why = list(dict.fromkeys(str(r) for f in facts for r in (f.get("reasons") or ())[:1]))
    parts = [f"{product}: {len(ids)} CVEs whose affected ranges hold it: {', '.join(ids)}"]
    if kev:
        parts.append(f"in CISA KEV: {', '.join(kev)}")
    if shipped:
        parts.append(f"this version is shipped by {', '.join(shipped)}")
    parts += why[:3]
    return " | ".join(parts)
