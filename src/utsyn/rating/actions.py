"""The action plan: what to fix first, and why.

The findings of a rating grouped by issue type (rule), each group with the assets it
affects and the points fixing it gives back: `recovered`, the assessment re-rated without
the group's findings. That is the one number the scorecard, `utsyn rating plan` and the
board summary show. Fixing never lowers a score (a rule's penalty and cap go, nothing else
changes), so it is never below 0; it is 0 while the losses still pass 100 after the fix.

The plan's order is the way to the next grade: first the issues whose grade cap holds the
organisation below it, then the rest by the points they give back (the points they cost
break ties, which matters while the score is stopped at 0). The penalties add up rule by
rule, so taking the issues in that order is the greedy choice, and the fewest issues that
reach a sum are the largest ones; every step is re-rated (`NextGrade.steps`), and the plan
says so when no set of fixes reaches the grade.

Potential vulnerabilities (0 points: a distribution's package may carry the fixes) are
collapsed to one line per product, with the CVEs of all its services.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from utsyn.rating.model import Rating, RulePenalty, rate
from utsyn.rules.model import Assessment, Factor, Finding
from utsyn.rules.outcomes.vuln import potential_cves
from utsyn.rules.rulebook import Effort, Rulebook
from utsyn.rules.weights import GRADE_ORDER, Grade, Severity

POTENTIAL_RULE = "vuln.cve.potential"
_SEVERITY_ORDER = tuple(Severity)  # critical first


@dataclass(frozen=True)
class Group:
    """One issue type and every finding of it."""

    rule: str
    factor: Factor
    severity: Severity
    effort: Effort | None
    assets: tuple[str, ...]  # the assets it affects, the costliest first
    findings: tuple[Finding, ...]
    lost: float  # its penalty: what it takes off 100 before the score stops at 0
    recover: float  # the points the score gains when all of it is fixed (`recovered`)
    cap: Grade | None  # the best grade the organisation can have while it stands


@dataclass(frozen=True)
class Step:
    rule: str
    score: float  # once this issue and every one before it are fixed
    grade: Grade


@dataclass(frozen=True)
class NextGrade:
    grade: Grade  # the grade one better than now
    steps: tuple[Step, ...]  # the fixes in order; the last one reaches `grade` if `reached`
    reached: bool


@dataclass(frozen=True)
class Potential:
    """One product's potential vulnerabilities, over every service that runs it."""

    product: str  # product and version, as the finding names them
    cves: tuple[str, ...]
    assets: tuple[str, ...]


@dataclass(frozen=True)
class ActionPlan:
    score: float
    grade: Grade
    lost: float  # what every issue costs together (more than 100: the score stopped at 0)
    groups: tuple[Group, ...]  # the issues that cost points or cap the grade, in order
    advice: tuple[Group, ...]  # issues that cost nothing, the most severe first
    potential: tuple[Potential, ...]
    next: NextGrade | None  # None: the grade is A, there is none better

    @property
    def stopped_at_zero(self) -> bool:
        return self.score == 0.0 and self.lost > 100.0


def recovered(
    assessment: Assessment, book: Rulebook, rules: Collection[str], now: Rating | None = None
) -> float:
    """The points the score gains if every finding of `rules` were fixed: the assessment
    re-rated without them, minus the score now (`now`: its rating, when already made)."""
    before = now if now is not None else rate(assessment, book)
    after = rate(_without(assessment, rules), book)
    return round(after.score - before.score, 1)


def action_plan(assessment: Assessment, book: Rulebook) -> ActionPlan:
    """The organisation's issues in the order to fix them, and the way to the next grade."""
    now = rate(assessment, book)
    caps = {c.rule: c.grade for c in now.caps}
    groups: list[Group] = []
    advice: list[Group] = []
    potential: list[Finding] = []
    for penalty in now.penalties:
        if penalty.rule == POTENTIAL_RULE:
            potential += [i.finding for i in penalty.impacts]
            continue
        group = _group(assessment, book, now, penalty, caps.get(penalty.rule))
        (groups if penalty.points > 0 or group.cap else advice).append(group)
    target = _better(now.grade)
    groups.sort(key=lambda g: (not _holds_below(g, target), -g.recover, -g.lost, g.rule))
    advice.sort(key=lambda g: (_SEVERITY_ORDER.index(g.severity), g.rule))
    return ActionPlan(
        score=now.score,
        grade=now.grade,
        lost=now.lost,
        groups=tuple(groups),
        advice=tuple(advice),
        potential=_potential(potential),
        next=_next_grade(assessment, book, groups, target) if target else None,
    )


def _group(
    assessment: Assessment, book: Rulebook, now: Rating, penalty: RulePenalty, cap: Grade | None
) -> Group:
    rule = book.rule(penalty.rule)
    shares: dict[str, float] = defaultdict(float)
    for impact in penalty.impacts:
        shares[impact.finding.asset] += impact.points
    return Group(
        rule=rule.id,
        factor=rule.factor,
        severity=rule.severity,
        effort=rule.effort,
        assets=tuple(sorted(shares, key=lambda a: (-shares[a], a))),
        findings=tuple(i.finding for i in penalty.impacts),
        lost=penalty.points,
        recover=recovered(assessment, book, {rule.id}, now),
        cap=cap,
    )


def _better(grade: Grade) -> Grade | None:
    index = GRADE_ORDER.index(grade)
    return GRADE_ORDER[index - 1] if index else None


def _holds_below(group: Group, target: Grade | None) -> bool:
    """Whether the group's cap alone keeps the organisation below `target`."""
    if group.cap is None or target is None:
        return False
    return GRADE_ORDER.index(group.cap) > GRADE_ORDER.index(target)


def _next_grade(
    assessment: Assessment, book: Rulebook, ordered: Iterable[Group], target: Grade
) -> NextGrade:
    fixed: set[str] = set()
    steps = []
    for group in ordered:
        fixed.add(group.rule)
        after = rate(_without(assessment, fixed), book)
        steps.append(Step(group.rule, after.score, after.grade))
        if GRADE_ORDER.index(after.grade) <= GRADE_ORDER.index(target):
            return NextGrade(target, tuple(steps), reached=True)
    return NextGrade(target, tuple(steps), reached=False)


def _potential(findings: Iterable[Finding]) -> tuple[Potential, ...]:
    cves: dict[str, set[str]] = defaultdict(set)
    assets: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        cves[finding.detail] |= set(potential_cves(finding.evidence))
        assets[finding.detail].add(finding.asset)
    by_count = sorted(cves, key=lambda p: (-len(cves[p]), p))
    return tuple(Potential(p, tuple(sorted(cves[p])), tuple(sorted(assets[p]))) for p in by_count)


def _without(assessment: Assessment, rules: Collection[str]) -> Assessment:
    kept = tuple(f for f in assessment.findings if f.rule not in rules)
    return Assessment(assessment.org, assessment.assets, kept)
