"""From matched CVEs to findings: what counts, what caps, and what is grouped as advice.

Products are read from real banners by the scanner's `identify_banner` and matched against
the shipped snapshot, as a scan does; no network is involved in this step.
"""

from __future__ import annotations

from utsyn.rating.model import Rating, rate
from utsyn.rules.evaluate import assess
from utsyn.rules.outcomes import Outcome, classify
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.model import Observation, TargetResult
from utsyn.scan.products import identify_banner
from utsyn.vuln import load_snapshot
from utsyn.vuln.enrich import enrich

TARGET = "booking.holmvik.test:80"


def _scanned(server: str) -> TargetResult:
    observations = [Observation(TARGET, "service.kind", "http")]
    observations += [
        Observation(TARGET, "service.product", p.to_json()) for p in identify_banner("http", server)
    ]
    return enrich(TargetResult("313258270", "booking.holmvik.test", "host", tuple(observations)),
                  load_snapshot())  # fmt: skip


def _rated(result: TargetResult) -> Rating:
    book = load_rulebook()
    return rate(assess("313258270", [result], book), book)


def test_kev_caps_the_grade_only_when_the_match_is_confirmed() -> None:
    """Apache 2.4.49 has CVE-2021-41773 (CISA KEV). Built from source it is proof and caps
    the grade at D; as Debian's package (unstable had 2.4.49) it may carry the fix: no
    points, no cap."""
    upstream = _scanned("Apache/2.4.49")
    assert Outcome.VULN_KEV in {h.outcome for h in classify(upstream)}
    assert "vuln.cve.kev" in {c.rule for c in _rated(upstream).caps}

    debian = _scanned("Apache/2.4.49 (Debian)")
    facts = [o.value for o in debian.observations if o.check == "vuln.cve"]
    assert any(f["kev"] for f in facts) and not any(f["confirmed"] for f in facts)
    rated = _rated(debian)
    assert rated.caps == () and rated.factors.get("vulnerabilities", 100.0) == 100.0
    assert {p.rule for p in rated.penalties if p.points} & {
        "vuln.cve.kev",
        "vuln.cve.high",
    } == set()


def test_potential_matches_are_one_finding_per_product_listing_the_cves() -> None:
    debian = _scanned("Apache/2.4.49 (Debian)")
    ids = sorted(o.value["id"] for o in debian.observations if o.check == "vuln.cve")
    [advice] = [h for h in classify(debian) if h.outcome == Outcome.VULN_POTENTIAL]
    assert advice.detail == "apache:http_server 2.4.49"
    assert f"{len(ids)} CVEs" in advice.evidence and ", ".join(ids) in advice.evidence
    assert "in CISA KEV: CVE-2021-41773" in advice.evidence
    assert "Debian's package" in advice.evidence  # why it is only potential
