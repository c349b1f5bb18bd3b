"""Explanations, planner, lifecycle and the published method, checked against each other."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from utsyn.errors import ConfigError
from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import rate_all
from utsyn.rating.actions import action_plan
from utsyn.rating.explain import diff, impacts, plan
from utsyn.rating.lifecycle import (
    Explanation,
    ExplanationKind,
    FindingState,
    Review,
    Status,
    needs_review,
    observe,
    patching_cadence,
    review,
)
from utsyn.rating.methodology import EXAMPLE_ASSETS, EXAMPLE_FINDINGS, render
from utsyn.rating.model import rate
from utsyn.rules.model import Assessment
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.weights import Severity
from utsyn.scan.output import report_json

BOOK = load_rulebook()
ROOT = Path(__file__).resolve().parents[2]


def test_the_published_method_is_generated_from_the_code() -> None:
    published = (ROOT / "docs" / "methodology.md").read_text("utf-8")
    assert published == render(BOOK), "run: utsyn rating methodology > docs/methodology.md"


def test_the_worked_example_by_hand() -> None:
    """The example in docs/methodology.md, line by line: 5·√(2/2) + 5·√(1/6) + 5·√(3/6)."""
    rating = rate(Assessment("eksempel", EXAMPLE_ASSETS, EXAMPLE_FINDINGS), BOOK)
    points = {p.rule: round(p.points, 2) for p in rating.penalties}
    assert points == {"email.dmarc.none": 5.0, "tls.protocol.tls10": 2.04, "web.hsts.missing": 3.54}
    assert rating.score == 89.4 and rating.grade == "B"
    assert rating.factors["web"] == 96.4 and rating.factors["email"] == 95.0
    assert "Score: 100 − 10.58 = **89.4** → **B**" in render(BOOK)


def _demo() -> list:  # type: ignore[type-arg]
    manifest = load_scenario("demo")
    return rate_all(from_manifest(manifest), expected_results(manifest), BOOK)


def test_impacts_explain_every_lost_point_and_the_planner_agrees() -> None:
    for item in _demo():
        lines = impacts(item.rating)
        assert abs(sum(line.points for line in lines) - item.rating.lost) < 1e-6
        for group in action_plan(item.assessment, BOOK).groups[:3]:
            projected = plan(item.assessment, BOOK, [group.rule])
            assert projected.projected >= projected.current
            assert round(projected.projected - projected.current, 1) == group.recover


def test_fixing_everything_gives_a_hundred() -> None:
    for item in _demo():
        every = {f.key for f in item.assessment.findings}
        assert plan(item.assessment, BOOK, every).projected == 100.0


def test_planner_names_what_matched_nothing() -> None:
    item = _demo()[0]
    assert plan(item.assessment, BOOK, ["no.such.rule"]).unknown == ("no.such.rule",)


def test_diff_lists_new_and_resolved_findings() -> None:
    worst = min(_demo(), key=lambda r: r.rating.score)
    a = worst.assessment
    first = a.findings[0]
    fewer = Assessment(a.org, a.assets, tuple(f for f in a.findings if f.key != first.key))
    change = diff(rate(a, BOOK), rate(fewer, BOOK))
    resolved = [c for c in change.changes if c.change == "resolved"]
    assert [c.key for c in resolved] == [first.key]
    assert change.after >= change.before
    back = diff(rate(fewer, BOOK), rate(a, BOOK))
    assert [c.key for c in back.changes if c.change == "new"] == [first.key]


NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_lifecycle_decay_resolution_and_explanations() -> None:
    seen = [("k1", "web.hsts.missing", "www:443"), ("k2", "leak.git", "www:443")]
    states = observe({}, seen, {"www:443"}, NOW - timedelta(days=40))
    assert states["k1"].status(NOW - timedelta(days=40), 30) == Status.OPEN
    assert states["k1"].status(NOW, 30) == Status.STALE  # not seen again for 40 days
    states = observe(states, seen[:1], {"www:443"}, NOW)
    assert states["k1"].status(NOW, 30) == Status.OPEN
    assert states["k2"].status(NOW, 30) == Status.RESOLVED
    assert states["k2"].resolved == NOW
    # An asset that did not answer cannot resolve its findings: an outage is not a fix.
    kept = observe(states, [], set(), NOW + timedelta(days=1))
    assert kept["k1"].resolved is None


def test_comply_or_explain_and_disputes() -> None:
    state = FindingState("k", "web.csp.missing", "www:443", NOW, NOW)
    accepted = Explanation.make(
        ExplanationKind.ACCEPTED_RISK, "Legacy portal retired in Q1", "it@fjordvik.test",
        NOW, NOW + timedelta(days=90), severity=Severity.LOW,
    )  # fmt: skip
    explained = FindingState(**{**state.__dict__, "explanation": accepted})
    assert not explained.counts(NOW, 30)
    assert explained.counts(NOW + timedelta(days=91), 365)  # expired: counts again
    claim = Explanation.make(
        ExplanationKind.FALSE_POSITIVE, "This host is a CDN we do not run", "it@fjordvik.test",
        NOW, NOW + timedelta(days=30), severity=Severity.LOW,
    )  # fmt: skip
    disputed = FindingState(**{**state.__dict__, "explanation": claim})
    assert disputed.status(NOW, 30) == Status.DISPUTED and disputed.counts(NOW, 30)
    upheld = FindingState(**{**state.__dict__, "explanation": review(claim, accept=True)})
    assert not upheld.counts(NOW, 30)
    rejected = FindingState(**{**state.__dict__, "explanation": review(claim, accept=False)})
    assert rejected.counts(NOW, 30)
    with pytest.raises(ConfigError, match="reason"):
        Explanation.make(
            ExplanationKind.ACCEPTED_RISK, "ok", "x", NOW, NOW + timedelta(days=1), severity=None
        )
    with pytest.raises(ConfigError, match="at most 365"):
        Explanation.make(
            ExplanationKind.ACCEPTED_RISK, "a long enough reason", "x", NOW,
            NOW + timedelta(days=400), severity=Severity.LOW,
        )  # fmt: skip


def test_only_a_reviewer_explains_a_serious_finding_away() -> None:
    """Accepted risk and compensating controls apply at once on low and medium findings; on
    high and critical ones (and of a rule whose severity is unknown) they wait for a national
    reviewer, as every false-positive claim does."""
    state = FindingState("k", "tls.protocol.ssl3", "www:443", NOW, NOW)
    for kind in ExplanationKind:
        for severity in (*Severity, None):
            made = Explanation.make(
                kind, "A reason long enough.", "it@fjordvik.test", NOW,
                NOW + timedelta(days=30), severity=severity,
            )  # fmt: skip
            expected = kind == ExplanationKind.FALSE_POSITIVE or severity in (
                Severity.HIGH,
                Severity.CRITICAL,
                None,
            )
            assert needs_review(kind, severity) == expected
            explained = FindingState(**{**state.__dict__, "explanation": made})
            assert made.review == (Review.PENDING if expected else Review.ACCEPTED)
            assert explained.counts(NOW, 30) == expected  # a pending one still counts
            upheld = FindingState(**{**state.__dict__, "explanation": review(made, accept=True)})
            assert not upheld.counts(NOW, 30)


def test_patching_cadence_is_the_median() -> None:
    states = [
        FindingState(f"k{d}", "r", "a", NOW, NOW, resolved=NOW + timedelta(days=d))
        for d in (3, 10, 40)
    ] + [FindingState("open", "r", "a", NOW, NOW)]
    assert patching_cadence(states) == 10.0
    assert patching_cadence([]) is None


def _utsyn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "utsyn", *args], capture_output=True, text=True, timeout=120
    )


def test_rating_commands(tmp_path: Path) -> None:
    manifest = load_scenario("demo")
    report = report_json(expected_results(manifest), "2026-11-29T00:00:00+00:00", "lab", {},
                         from_manifest(manifest))  # fmt: skip
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(report), "utf-8")
    worst = min(_demo(), key=lambda r: r.rating.score)
    show = _utsyn("rating", "show", "--scan", str(scan), "--org", worst.org)
    assert show.returncode == 0, show.stderr
    assert f"{worst.rating.score:.1f}" in show.stdout and worst.rating.grade in show.stdout
    best = _utsyn("rating", "plan", "--scan", str(scan), "--org", worst.org, "--lang", "en")
    assert "points when fixed" in best.stdout
    rule = action_plan(worst.assessment, BOOK).groups[0].rule
    projected = _utsyn("rating", "plan", "--scan", str(scan), "--org", worst.org, "--fix", rule)
    assert projected.returncode == 0 and "→" in projected.stdout
    rulebook = ROOT / "src" / "utsyn" / "rules" / "rulebook.yaml"
    changed = tmp_path / "rulebook-next.yaml"
    changed.write_text(
        rulebook.read_text("utf-8").replace("version: 2026.11.0", "version: 2026.12.0"), "utf-8"
    )
    both = _utsyn(
        "rating", "diff", "--scan", str(scan), "--from", str(rulebook), "--to", str(changed)
    )
    assert both.returncode == 0 and "2026.12.0" in both.stdout
    missing = _utsyn("rating", "show", "--scan", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "kan ikke lese skannerapporten" in missing.stderr
