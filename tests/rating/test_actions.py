"""The action plan against the model it explains: every number re-rated by hand with `rate`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import Rated, rate_all
from utsyn.rating.actions import POTENTIAL_RULE, action_plan, recovered
from utsyn.rating.model import rate
from utsyn.rules.model import Assessment, Asset, Factor, Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.weights import GRADE_ORDER

from .test_properties import assessments

BOOK = load_rulebook()


def _demo() -> list[Rated]:
    manifest = load_scenario("demo")
    return rate_all(from_manifest(manifest), expected_results(manifest), BOOK)


def _without(a: Assessment, rules: set[str]) -> Assessment:
    return Assessment(a.org, a.assets, tuple(f for f in a.findings if f.rule not in rules))


def _at_least(grade: str, target: str) -> bool:
    return GRADE_ORDER.index(grade) <= GRADE_ORDER.index(target)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(assessments(), st.data())
def test_recovered_is_the_assessment_re_rated_without_the_rules(
    a: Assessment, data: st.DataObject
) -> None:
    rules = {f.rule for f in a.findings}
    chosen = (
        set(data.draw(st.lists(st.sampled_from(sorted(rules)), unique=True))) if rules else set()
    )
    gain = recovered(a, BOOK, chosen)
    by_hand = rate(_without(a, chosen), BOOK).score - rate(a, BOOK).score
    assert gain == round(by_hand, 1)
    assert gain >= 0  # fixing never lowers the score


def test_every_group_gives_back_what_re_rating_gives() -> None:
    for item in _demo():
        plan = action_plan(item.assessment, BOOK)
        assert (plan.score, plan.grade) == (item.rating.score, item.rating.grade)
        costly = {p.rule for p in item.rating.penalties if p.points > 0}
        assert {g.rule for g in plan.groups} == costly | {c.rule for c in item.rating.caps}
        for group in plan.groups + plan.advice:
            alone = rate(_without(item.assessment, {group.rule}), BOOK).score
            assert group.recover == round(alone - item.rating.score, 1)
            assert {f.rule for f in group.findings} == {group.rule}
            assert set(group.assets) == {f.asset for f in group.findings}
        assert all(g.lost == 0 and g.cap is None for g in plan.advice)


def test_the_order_is_caps_that_hold_the_grade_then_points() -> None:
    for item in _demo():
        plan = action_plan(item.assessment, BOOK)
        target = plan.next.grade if plan.next else None
        holding = [
            g.cap is not None and target is not None and not _at_least(g.cap, target)
            for g in plan.groups
        ]
        assert holding == sorted(holding, reverse=True), item.org
        rest = [
            (g.recover, g.lost) for g, held in zip(plan.groups, holding, strict=True) if not held
        ]
        assert rest == sorted(rest, reverse=True), item.org


def test_the_next_grade_is_reached_by_the_fewest_fixes_each_step_re_rated() -> None:
    seen_caps = seen_many = False
    for item in _demo():
        plan = action_plan(item.assessment, BOOK)
        if plan.next is None:
            assert plan.grade == "A"
            continue
        target, steps = plan.next.grade, plan.next.steps
        assert GRADE_ORDER.index(target) == GRADE_ORDER.index(plan.grade) - 1
        assert plan.next.reached and steps
        assert [s.rule for s in steps] == [g.rule for g in plan.groups[: len(steps)]]
        fixed: set[str] = set()
        for step in steps:
            fixed.add(step.rule)
            again = rate(_without(item.assessment, fixed), BOOK)
            assert (step.score, step.grade) == (again.score, again.grade)
        assert _at_least(steps[-1].grade, target)
        assert not any(_at_least(s.grade, target) for s in steps[:-1])
        # Fewer fixes cannot do it: the penalties add up rule by rule, so no set of
        # len(steps) - 1 issues does better than the ones that cost the most, and the caps
        # that hold the grade below the target must go whatever else is fixed.
        forced = {g.rule for g in plan.groups if g.cap and not _at_least(g.cap, target)}
        largest = sorted(plan.groups, key=lambda g: -g.lost)
        fewer = set(forced)
        for group in largest:
            if len(fewer) >= len(steps) - 1:
                break
            fewer.add(group.rule)
        if len(fewer) < len(steps):
            assert not _at_least(rate(_without(item.assessment, fewer), BOOK).grade, target)
        seen_caps |= bool(forced)
        seen_many |= len(steps) > 3
    assert seen_caps and seen_many  # the demo holds both kinds of way


def test_a_cap_that_holds_the_grade_comes_first() -> None:
    """Universitetet i Nordkyst: an open MongoDB caps it at D while its score is a C."""
    item = next(r for r in _demo() if r.org == "315670217")
    plan = action_plan(item.assessment, BOOK)
    assert plan.grade == "D" and item.rating.score_grade == "C"
    first = plan.groups[0]
    assert first.rule == "network.nosql" and first.cap == "D"
    assert plan.next is not None and [s.rule for s in plan.next.steps] == ["network.nosql"]
    assert plan.next.steps[0].grade == "C"


def test_potential_vulnerabilities_are_one_line_per_product() -> None:
    evidence = "apache:http_server 2.4.29: {n} CVEs whose affected ranges hold it: {ids} | shipped"
    on_443 = Finding(POTENTIAL_RULE, "www.x.test:443", "apache:http_server 2.4.29",
                     evidence.format(n=2, ids="CVE-2021-41773, CVE-2023-25690"))  # fmt: skip
    on_80 = Finding(POTENTIAL_RULE, "www.x.test:80", "apache:http_server 2.4.29",
                    evidence.format(n=2, ids="CVE-2023-25690, CVE-2024-38476"))  # fmt: skip
    openssh = "openbsd:openssh 8.2p1: 1 CVEs whose affected ranges hold it: CVE-2020-15778"
    ssh = Finding(POTENTIAL_RULE, "www.x.test:22", "openbsd:openssh 8.2p1", openssh)
    assets = tuple(Asset(f.asset, Factor.VULNERABILITIES) for f in (on_443, on_80, ssh))
    plan = action_plan(Assessment("x", assets, (on_443, on_80, ssh)), BOOK)
    assert plan.groups == () and plan.advice == () and plan.score == 100
    assert [(p.product, p.cves, p.assets) for p in plan.potential] == [
        ("apache:http_server 2.4.29", ("CVE-2021-41773", "CVE-2023-25690", "CVE-2024-38476"),
         ("www.x.test:443", "www.x.test:80")),
        ("openbsd:openssh 8.2p1", ("CVE-2020-15778",), ("www.x.test:22",)),
    ]  # fmt: skip
