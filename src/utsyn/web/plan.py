"""The scorecard's action plan (`templates/_plan.html`): `rating.actions.action_plan` joined
with the stored findings (status, age, evidence, explanation) and cut by the page's filter.

The filter (?area=&severity=, a plain GET form, so it works without script) chooses which
issues are listed; the plan's order, its numbers and the way to the next grade are always
those of every issue, so a filtered page never tells a different story.
"""

from __future__ import annotations

from dataclasses import dataclass

from utsyn.i18n import FACTOR_NAMES, SEVERITY_NAMES
from utsyn.rating.actions import POTENTIAL_RULE, ActionPlan, Group, Potential, Step
from utsyn.rules.rulebook import Rulebook
from utsyn.web.i18n import N_
from utsyn.web.problems import Problem
from utsyn.web.ratings import ShownFinding

# The issues listed before "show the rest": the first screen answers what to fix first.
FIRST = 10


@dataclass(frozen=True)
class PlanFilter:
    area: str = ""  # a factor, or "" for every area
    severity: str = ""  # a severity, or "" for every severity

    @property
    def active(self) -> bool:
        return bool(self.area or self.severity)

    def keeps(self, factor: str, severity: str) -> bool:
        return self.area in ("", factor) and self.severity in ("", severity)


def checked_filter(area: str, severity: str) -> PlanFilter:
    """The filter form's choice: 400 for a value the form does not offer."""
    if area and area not in FACTOR_NAMES:
        raise Problem(400, N_("Bad request"), N_("Choose an area from the list."))
    if severity and severity not in SEVERITY_NAMES:
        raise Problem(400, N_("Bad request"), N_("Choose a severity from the list."))
    return PlanFilter(area, severity)


@dataclass(frozen=True)
class ShownGroup:
    group: Group
    step: int | None  # its place on the way to the next grade (from 1); None: not needed
    after: Step | None  # the score and grade once it and every step before it are fixed
    findings: tuple[ShownFinding, ...]  # its findings as stored


@dataclass(frozen=True)
class ShownPlan:
    plan: ActionPlan
    groups: tuple[ShownGroup, ...]  # the filter's, in the plan's order
    advice: tuple[ShownGroup, ...]
    potential: tuple[Potential, ...]
    quiet: tuple[ShownFinding, ...]  # findings that do not count now (explained, stale, ...)
    total: int  # the plan's issues before the filter
    chosen: PlanFilter

    @property
    def first(self) -> tuple[ShownGroup, ...]:
        return self.groups[:FIRST]

    @property
    def rest(self) -> tuple[ShownGroup, ...]:
        return self.groups[FIRST:]

    @property
    def steps(self) -> int:
        return len(self.plan.next.steps) if self.plan.next else 0


def shown_plan(
    plan: ActionPlan, findings: list[ShownFinding], book: Rulebook, chosen: PlanFilter
) -> ShownPlan:
    rows = {f.row.key: f for f in findings}
    steps = {s.rule: (n, s) for n, s in enumerate(plan.next.steps if plan.next else (), 1)}

    def shown(group: Group) -> ShownGroup:
        n, step = steps.get(group.rule, (None, None))
        found = tuple(rows[f.key] for f in group.findings if f.key in rows)
        return ShownGroup(group, n, step, found)

    def kept(groups: tuple[Group, ...]) -> tuple[ShownGroup, ...]:
        return tuple(shown(g) for g in groups if chosen.keeps(g.factor, g.severity))

    potential = book.rule(POTENTIAL_RULE)
    quiet = tuple(
        f for f in findings if f.impact is None and book.has(f.row.rule) and _kept(book, f, chosen)
    )
    return ShownPlan(
        plan=plan,
        groups=kept(plan.groups),
        advice=kept(plan.advice),
        potential=plan.potential if chosen.keeps(potential.factor, potential.severity) else (),
        quiet=quiet,
        total=len(plan.groups),
        chosen=chosen,
    )


def _kept(book: Rulebook, finding: ShownFinding, chosen: PlanFilter) -> bool:
    rule = book.rule(finding.row.rule)
    return chosen.keeps(rule.factor, rule.severity)
