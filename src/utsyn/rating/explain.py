"""Explanations: what each finding costs, why a score changed, and what fixing would give."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from utsyn.rating.model import CapApplied, Rating, rate
from utsyn.rules.model import Assessment, Finding
from utsyn.rules.rulebook import Rulebook
from utsyn.rules.weights import Grade


@dataclass(frozen=True)
class ImpactLine:
    key: str
    rule: str
    asset: str
    detail: str
    points: float  # its share of what the organisation lost
    recover: float  # what fixing it alone gives back


def impacts(rating: Rating) -> list[ImpactLine]:
    """Every counting finding with its points, the costliest first."""
    lines = [
        ImpactLine(
            i.finding.key, i.finding.rule, i.finding.asset, i.finding.detail, i.points, i.recover
        )
        for p in rating.penalties
        for i in p.impacts
    ]
    return sorted(lines, key=lambda line: (-line.points, line.key))


@dataclass(frozen=True)
class AreaLosses:
    """The points lost, area by area, as parts of the total loss.

    The parts are shown to one decimal and add up to exactly 100 − score (largest
    remainders get the rounding); when the losses pass 100 the score stops at 0 and the
    parts add up to more (`stopped_at_zero`).
    """

    parts: dict[
        str, float
    ]  # area → points lost, the largest first; areas that lost nothing left out
    total: float
    stopped_at_zero: bool


def area_losses(rating: Rating) -> AreaLosses:
    raw: dict[str, float] = {}
    for p in rating.penalties:
        if p.points > 0:
            raw[str(p.factor)] = raw.get(str(p.factor), 0.0) + p.points
    stopped = sum(raw.values()) >= 100.0 - 1e-9 and rating.score == 0
    target = round(sum(raw.values()) * 10) if stopped else round((100.0 - rating.score) * 10)
    tenths = {area: int(points * 10) for area, points in raw.items()}
    by_remainder = sorted(raw, key=lambda a: (-(raw[a] * 10 - tenths[a]), a))
    for area in by_remainder[: max(0, target - sum(tenths.values()))]:
        tenths[area] += 1
    parts = {a: t / 10 for a, t in sorted(tenths.items(), key=lambda kv: (-kv[1], kv[0])) if t}
    return AreaLosses(parts, round(sum(parts.values()), 1), stopped)


def binding_caps(rating: Rating) -> tuple[CapApplied, ...]:
    """The caps that made the grade worse than the score alone gives: only these get a label
    (a cap at C on a score graded D changes nothing)."""
    if rating.grade == rating.score_grade:
        return ()
    return tuple(c for c in rating.caps if c.grade == rating.grade)


@dataclass(frozen=True)
class Change:
    key: str
    rule: str
    asset: str
    change: str  # "new", "resolved", "changed weight" (the same finding, another share)
    points: float  # + lowers the score, − raises it


@dataclass(frozen=True)
class ScoreDiff:
    before: float
    after: float
    grade_before: Grade
    grade_after: Grade
    changes: tuple[Change, ...]

    @property
    def delta(self) -> float:
        return round(self.after - self.before, 1)


def diff(before: Rating, after: Rating) -> ScoreDiff:
    """Why did the score change? Finding by finding, by their share of the points lost."""
    old = {i.key: i for i in impacts(before)}
    new = {i.key: i for i in impacts(after)}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            changes.append(Change(key, b.rule, b.asset, "new", round(b.points, 2)))
        elif b is None and a is not None:
            changes.append(Change(key, a.rule, a.asset, "resolved", -round(a.points, 2)))
        elif a is not None and b is not None and abs(a.points - b.points) >= 0.005:
            changes.append(
                Change(key, b.rule, b.asset, "changed weight", round(b.points - a.points, 2))
            )
    changes.sort(key=lambda c: (-abs(c.points), c.key))
    return ScoreDiff(before.score, after.score, before.grade, after.grade, tuple(changes))


@dataclass(frozen=True)
class Plan:
    current: float
    projected: float
    grade_now: Grade
    grade_projected: Grade
    fixed: tuple[str, ...]
    unknown: tuple[str, ...]  # keys or rule ids that matched nothing


def plan(assessment: Assessment, book: Rulebook, fix: Iterable[str]) -> Plan:
    """The projected score if the chosen findings were fixed (by finding key or rule id)."""
    wanted = set(fix)
    keep: list[Finding] = []
    fixed: list[str] = []
    matched: set[str] = set()
    for finding in assessment.findings:
        hit = {finding.key, finding.rule} & wanted
        if hit:
            fixed.append(finding.key)
            matched |= hit
        else:
            keep.append(finding)
    now = rate(assessment, book)
    then = rate(Assessment(assessment.org, assessment.assets, tuple(keep)), book)
    return Plan(
        now.score, then.score, now.grade, then.grade, tuple(sorted(set(fixed))),
        tuple(sorted(wanted - matched)),
    )  # fmt: skip
