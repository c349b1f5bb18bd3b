"""The scoring model: pure, deterministic, and reproducible by hand from docs/methodology.md.

    score = max(0, 100 − Σ penalty(rule))
    penalty(rule) = points(rule) × √(affected value ÷ evaluated value)

`points` is the rule's weight (its severity's unless the rulebook says otherwise). The share
is taken over the assets of the rule's factor that the scan evaluated, each weighted by its
value, so a large footprint is not punished for its size and the square root makes the first
affected assets count most. A factor's score is 100 minus the penalties of its rules. Grade
caps apply on top: the grade is the worse of the score's grade and every cap that holds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from utsyn.rules.model import Assessment, Asset, Factor, Finding
from utsyn.rules.rulebook import Rule, Rulebook
from utsyn.rules.weights import GRADE_FLOORS, GRADE_ORDER, VALUE_DEFAULT, Grade


@dataclass(frozen=True, slots=True)
class FindingImpact:
    finding: Finding
    points: float  # its share of the rule's penalty (the shares add up to the penalty)
    recover: float  # what fixing this finding alone would give back


@dataclass(frozen=True, slots=True)
class RulePenalty:
    rule: str
    factor: Factor
    weight: float
    affected_value: float
    evaluated_value: float
    points: float
    impacts: tuple[FindingImpact, ...]


@dataclass(frozen=True, slots=True)
class CapApplied:
    rule: str
    grade: Grade
    asset: str


@dataclass(frozen=True)
class Rating:
    org: str
    score: float
    grade: Grade
    score_grade: Grade
    factors: dict[str, float]
    penalties: tuple[RulePenalty, ...]
    caps: tuple[CapApplied, ...]
    rulebook_version: str
    findings: tuple[Finding, ...] = field(default=())

    @property
    def lost(self) -> float:
        return round(sum(p.points for p in self.penalties), 6)


def grade_for(score: float) -> Grade:
    for grade, floor in GRADE_FLOORS:
        if score >= floor:
            return grade
    return "F"


def worst(grades: Iterable[Grade]) -> Grade:
    return max(grades, key=GRADE_ORDER.index, default="A")


def rate(assessment: Assessment, book: Rulebook) -> Rating:
    """The rating of one organisation. Findings of unknown rules are ignored, not guessed."""
    values = _asset_values(assessment.assets)
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted(set(assessment.findings), key=lambda f: f.key):
        if _known(book, finding.rule):
            by_rule[finding.rule].append(finding)
    penalties = tuple(
        _penalty(book.rule(rule_id), findings, values)
        for rule_id, findings in sorted(by_rule.items())
    )
    lost = sum(p.points for p in penalties)
    score = _round(max(0.0, 100.0 - lost))
    caps = _caps(book, by_rule, assessment.assets)
    score_grade = grade_for(score)
    return Rating(
        org=assessment.org,
        score=score,
        grade=worst([score_grade, *(c.grade for c in caps)]),
        score_grade=score_grade,
        factors=_factor_scores(penalties),
        penalties=penalties,
        caps=caps,
        rulebook_version=book.version,
        findings=tuple(f for fs in by_rule.values() for f in fs),
    )


def _known(book: Rulebook, rule_id: str) -> bool:
    return book.has(rule_id)


def _asset_values(assets: Iterable[Asset]) -> dict[Factor, dict[str, float]]:
    """Factor → asset → value; an asset listed twice keeps its highest value."""
    values: dict[Factor, dict[str, float]] = defaultdict(dict)
    for asset in assets:
        current = values[asset.factor].get(asset.id, 0.0)
        values[asset.factor][asset.id] = max(current, asset.value)
    return values


def _penalty(
    rule: Rule, findings: list[Finding], values: Mapping[Factor, Mapping[str, float]]
) -> RulePenalty:
    factor_values = values.get(rule.factor, {})
    affected_assets = {f.asset for f in findings}
    # A finding on an asset the scan did not list still counts, at the default value.
    value_of = {a: factor_values.get(a, VALUE_DEFAULT) for a in affected_assets}
    evaluated = sum(factor_values.values()) + sum(
        v for a, v in value_of.items() if a not in factor_values
    )
    affected = sum(value_of.values())
    weight = rule.points  # a property: read once, not once per asset
    points = _points(weight, affected, evaluated)
    per_asset = defaultdict(list)
    for finding in findings:
        per_asset[finding.asset].append(finding)
    impacts = []
    for asset, asset_findings in sorted(per_asset.items()):
        share = points * value_of[asset] / affected if affected else 0.0
        recover = points - _points(weight, affected - value_of[asset], evaluated)
        for finding in asset_findings:
            # Several findings of one rule on one asset (two insecure cookies) share it;
            # fixing one of them alone gives back nothing until the asset is clean.
            alone = recover if len(asset_findings) == 1 else 0.0
            impacts.append(FindingImpact(finding, share / len(asset_findings), alone))
    return RulePenalty(rule.id, rule.factor, weight, affected, evaluated, points, tuple(impacts))


def _points(weight: float, affected: float, evaluated: float) -> float:
    if affected <= 0 or evaluated <= 0 or weight <= 0:
        return 0.0
    return weight * math.sqrt(min(1.0, affected / evaluated))


def _factor_scores(penalties: Iterable[RulePenalty]) -> dict[str, float]:
    lost: dict[str, float] = {str(f): 0.0 for f in Factor}
    for p in penalties:
        lost[str(p.factor)] += p.points
    return {factor: _round(max(0.0, 100.0 - points)) for factor, points in lost.items()}


def _caps(
    book: Rulebook, by_rule: Mapping[str, list[Finding]], assets: Iterable[Asset]
) -> tuple[CapApplied, ...]:
    primary = {a.id for a in assets if a.primary}
    caps = []
    for rule_id, findings in sorted(by_rule.items()):
        cap = book.rule(rule_id).cap
        if cap is None:
            continue
        hit = [f for f in findings if cap.assets == "any" or f.asset in primary]
        if hit:
            caps.append(CapApplied(rule_id, cap.grade, hit[0].asset))
    return tuple(caps)


def _round(score: float) -> float:
    """One decimal, rounded down: a score is never shown better than it is."""
    return math.floor(score * 10 + 1e-9) / 10
