"""What the views show of ratings, always as `rating/` produced it.

Views never compute a score themselves: they show the rating saved when the organisation
was last rated (`store.assessments.shown_rating`), and the action plan is
`rating.actions.action_plan` on the assessment behind it (`web.plan`). This module only joins
that rating's per-finding points with the stored findings for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from utsyn.rating import lifecycle
from utsyn.rating.explain import ImpactLine, impacts
from utsyn.rating.model import Rating
from utsyn.rules.rulebook import DEFAULT_DECAY_DAYS, Rulebook
from utsyn.store import findings, reads
from utsyn.store.models import Explanation, Finding, Organisation


@dataclass(frozen=True)
class ShownFinding:
    row: Finding
    state: lifecycle.FindingState
    status: lifecycle.Status
    impact: ImpactLine | None  # None: it does not count now (explained, stale, resolved)
    explanation: Explanation | None  # the explanation in force, if any


def shown_findings(
    session: Session, org: Organisation, rating: Rating | None, book: Rulebook, now: datetime
) -> list[ShownFinding]:
    """Every finding with its status and its share of the points, costliest first
    (`rating` None: not rated yet, so no finding has points)."""
    rows = reads.finding_rows(session, org)
    states = findings.finding_states(session, org)
    explained = reads.current_explanations(session, org)
    by_key = {line.key: line for line in impacts(rating)} if rating is not None else {}
    shown = []
    for key, row in rows.items():
        state = states[key]
        decay = book.rule(row.rule).decay_days if book.has(row.rule) else DEFAULT_DECAY_DAYS
        status = state.status(now, decay)
        shown.append(ShownFinding(row, state, status, by_key.get(key), explained.get(key)))
    shown.sort(key=lambda f: (-(f.impact.points if f.impact else 0.0), f.row.key))
    return shown
