"""Fairness properties of the score (hypothesis), after the US Chamber of Commerce principles."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from utsyn.rating.explain import area_losses, binding_caps
from utsyn.rating.model import grade_for, rate, worst
from utsyn.rules.model import Assessment, Asset, Factor, Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.weights import GRADE_ORDER

BOOK = load_rulebook()
RULES = [r for r in BOOK.rules]


@st.composite
def assessments(draw: st.DrawFn) -> Assessment:
    assets = []
    for factor in Factor:
        count = draw(st.integers(0, 4))
        for i in range(count):
            value = draw(st.sampled_from([1.0, 2.0, 3.0]))
            assets.append(Asset(f"{factor}-{i}", factor, value, primary=(i == 0)))
    findings = []
    for _ in range(draw(st.integers(0, 25))):
        rule = draw(st.sampled_from(RULES))
        own = [a for a in assets if a.factor == rule.factor]
        asset = draw(st.sampled_from(own)).id if own else f"{rule.factor}-x"
        detail = draw(st.sampled_from(["", "a", "b"]))
        findings.append(Finding(rule.id, asset, detail))
    return Assessment("org", tuple(assets), tuple(findings))


def _without(a: Assessment, index: int) -> Assessment:
    findings = a.findings[:index] + a.findings[index + 1 :]
    return Assessment(a.org, a.assets, findings)


@settings(max_examples=150, deadline=None)
@given(assessments())
def test_bounded_deterministic_and_order_independent(a: Assessment) -> None:
    rating = rate(a, BOOK)
    assert 0.0 <= rating.score <= 100.0
    assert all(0.0 <= s <= 100.0 for s in rating.factors.values())
    shuffled = list(a.findings)
    random.Random(7).shuffle(shuffled)
    again = rate(Assessment(a.org, tuple(reversed(a.assets)), tuple(shuffled)), BOOK)
    assert again.score == rating.score and again.grade == rating.grade
    assert again.penalties == rating.penalties


@settings(max_examples=150, deadline=None)
@given(assessments(), st.data())
def test_resolving_a_finding_never_lowers_the_score(a: Assessment, data: st.DataObject) -> None:
    if not a.findings:
        return
    index = data.draw(st.integers(0, len(a.findings) - 1))
    before, after = rate(a, BOOK), rate(_without(a, index), BOOK)
    assert after.score >= before.score
    assert GRADE_ORDER.index(after.grade) <= GRADE_ORDER.index(before.grade)
    for factor, score in before.factors.items():
        assert after.factors[factor] >= score


@settings(max_examples=150, deadline=None)
@given(assessments(), st.sampled_from(RULES), st.data())
def test_adding_a_finding_never_raises_the_score(
    a: Assessment, rule: object, data: st.DataObject
) -> None:
    from utsyn.rules.rulebook import Rule

    assert isinstance(rule, Rule)
    own = [x.id for x in a.assets if x.factor == rule.factor] or ["new-asset"]
    asset = data.draw(st.sampled_from(own))
    more = Assessment(a.org, a.assets, (*a.findings, Finding(rule.id, asset, "added")))
    assert rate(more, BOOK).score <= rate(a, BOOK).score


@settings(max_examples=150, deadline=None)
@given(assessments())
def test_grade_agrees_with_score_and_caps(a: Assessment) -> None:
    rating = rate(a, BOOK)
    assert rating.score_grade == grade_for(rating.score)
    assert rating.grade == worst([rating.score_grade, *(c.grade for c in rating.caps)])
    # Every lost point is explained: the finding shares add up to the total lost.
    explained = sum(i.points for p in rating.penalties for i in p.impacts)
    assert abs(explained - rating.lost) < 1e-6
    assert abs((100 - rating.lost) - rating.score) < 0.1 + 1e-9 or rating.score == 0.0


def test_informational_findings_cost_nothing() -> None:
    info = [r for r in RULES if r.severity == "info"]
    assert info
    a = Assessment("org", (), tuple(Finding(r.id, "x") for r in info))
    rating = rate(a, BOOK)
    assert rating.score == 100.0 and rating.grade == "A"


def test_grade_boundaries() -> None:
    assert [grade_for(s) for s in (100, 90, 89.9, 80, 79.9, 70, 69.9, 60, 59.9, 0)] == [
        "A", "A", "B", "B", "C", "C", "D", "D", "F", "F",
    ]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(assessments())
def test_the_points_lost_per_area_add_up_to_the_total_loss(a: Assessment) -> None:
    """What the scorecard, the board summary and `rating show` print: the areas' parts of
    the loss, to one decimal, add up to 100 − score (or pass 100 when the score stopped
    at 0), and no area gets more than a tenth of rounding."""
    rating = rate(a, BOOK)
    losses = area_losses(rating)
    exact: dict[str, float] = {}
    for p in rating.penalties:
        exact[str(p.factor)] = exact.get(str(p.factor), 0.0) + p.points
    if losses.stopped_at_zero:
        assert rating.score == 0 and losses.total >= 100
    else:
        assert round(sum(losses.parts.values()), 1) == round(100 - rating.score, 1)
    for area, shown in losses.parts.items():
        assert abs(shown - exact[area]) < 0.1 + 1e-9, area


def test_a_cap_is_named_only_where_it_changed_the_grade() -> None:
    site = "www.x.test:443"
    assets = (Asset(site, Factor.TLS, 3.0, primary=True), Asset(site, Factor.WEB, 3.0, True))
    expired = Finding("tls.cert.expired", site)  # caps the grade at C on the primary site
    capped = rate(Assessment("org", assets, (expired,)), BOOK)
    assert capped.score_grade in ("A", "B") and capped.grade == "C"
    assert [c.rule for c in binding_caps(capped)] == ["tls.cert.expired"]
    heavy = tuple(Finding(r.id, site) for r in RULES if r.factor == Factor.WEB and r.points)
    worse = rate(Assessment("org", assets, (expired, *heavy)), BOOK)
    assert worse.caps and worse.score_grade in ("D", "F")
    assert binding_caps(worse) == ()  # the score's own grade is worse than the cap
