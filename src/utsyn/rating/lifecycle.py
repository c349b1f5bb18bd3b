"""A finding's life: first seen, last seen, resolved; decay; comply-or-explain; disputes.

Pure rules about time and state; `store/` persists them. A finding counts towards the score
while it is open, was seen within its rule's decay window, and has no valid explanation.

An organisation explains its own findings, but not its serious ones away: an explanation of
a high or critical finding waits for a national reviewer (`needs_review`), as every
false-positive claim does; until accepted, the finding counts.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from utsyn.errors import ConfigError
from utsyn.rules.weights import Severity


class ExplanationKind(StrEnum):
    ACCEPTED_RISK = "accepted_risk"
    FALSE_POSITIVE = "false_positive"
    COMPENSATING_CONTROL = "compensating_control"


class Review(StrEnum):
    """A national reviewer's decision on an explanation that needs one (`needs_review`)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


MAX_EXPLANATION_DAYS = 365  # an explanation is reconsidered at least yearly
# Without this, an organisation could accept every one of its own findings (0.0 F → 80.0 D).
REVIEWED_SEVERITIES = frozenset({Severity.CRITICAL, Severity.HIGH})


def needs_review(kind: ExplanationKind, severity: Severity | None) -> bool:
    """A false-positive claim always; an accepted risk or a compensating control when the
    finding is high or critical (or its rule has left the rulebook: severity unknown). A
    compensating control is reviewed too: else it would be the way around the rule."""
    return (
        kind == ExplanationKind.FALSE_POSITIVE
        or severity is None
        or severity in REVIEWED_SEVERITIES
    )


@dataclass(frozen=True)
class Explanation:
    kind: ExplanationKind
    reason: str
    author: str
    created: datetime
    expires: datetime
    review: Review = Review.ACCEPTED

    @classmethod
    def make(
        cls,
        kind: ExplanationKind,
        reason: str,
        author: str,
        now: datetime,
        expires: datetime,
        *,
        severity: Severity | None,
    ) -> Explanation:
        """A new explanation of a finding of `severity` (None: unknown); it waits for a
        national reviewer when `needs_review`, else it applies at once."""
        if len(reason.strip()) < 10:
            raise ConfigError("an explanation needs a reason of at least 10 characters")
        if expires <= now:
            raise ConfigError("an explanation must expire in the future")
        if expires - now > timedelta(days=MAX_EXPLANATION_DAYS):
            raise ConfigError(
                "an explanation may last at most %(days)s days", days=MAX_EXPLANATION_DAYS
            )
        review = Review.PENDING if needs_review(kind, severity) else Review.ACCEPTED
        return cls(kind, reason.strip(), author, now, expires, review)

    def valid(self, now: datetime) -> bool:
        return now < self.expires and self.review == Review.ACCEPTED


class Status(StrEnum):
    OPEN = "open"
    DISPUTED = "disputed"
    EXPLAINED = "explained"
    STALE = "stale"  # not seen again within its decay window
    RESOLVED = "resolved"


@dataclass(frozen=True)
class FindingState:
    key: str
    rule: str
    asset: str
    first_seen: datetime
    last_seen: datetime
    resolved: datetime | None = None
    explanation: Explanation | None = None

    def status(self, now: datetime, decay_days: int) -> Status:
        if self.resolved is not None:
            return Status.RESOLVED
        if now - self.last_seen > timedelta(days=decay_days):
            return Status.STALE
        if self.explanation is not None and now < self.explanation.expires:
            if self.explanation.review == Review.PENDING:
                return Status.DISPUTED
            if self.explanation.review == Review.ACCEPTED:
                return Status.EXPLAINED
        return Status.OPEN

    def counts(self, now: datetime, decay_days: int) -> bool:
        """Open and disputed findings count; a dispute stops counting once accepted."""
        return self.status(now, decay_days) in (Status.OPEN, Status.DISPUTED)


def observe(
    states: dict[str, FindingState],
    seen: Iterable[tuple[str, str, str]],
    scanned: set[str],
    now: datetime,
    standing: Set[str] = frozenset(),
) -> dict[str, FindingState]:
    """Apply one scan: the (key, rule, asset) seen now; unseen ones on rescanned assets resolve.

    Only assets the scan reached can resolve a finding: an asset that did not answer
    this time keeps its findings (they decay instead), so an outage never looks like a fix.
    `standing` findings rest on a failed check's last answer: neither seen again nor
    resolved.
    """
    updated = dict(states)
    seen_keys = set()
    for key, rule, asset in seen:
        seen_keys.add(key)
        old = updated.get(key)
        if old is None or old.resolved is not None:
            updated[key] = FindingState(key, rule, asset, now, now, None, None)
        else:
            updated[key] = replace(old, last_seen=now)
    for key, state in states.items():
        unseen = key not in seen_keys and key not in standing
        if unseen and state.resolved is None and state.asset in scanned:
            updated[key] = replace(state, resolved=now)
    return updated


def review(explanation: Explanation, accept: bool) -> Explanation:
    """A national reviewer's decision on an explanation waiting for one (the store refuses
    to review any other)."""
    return replace(explanation, review=Review.ACCEPTED if accept else Review.REJECTED)


def patching_cadence(states: Iterable[FindingState]) -> float | None:
    """Median days from first seen to resolved, over the given (high/critical CVE) findings."""
    days = [
        (s.resolved - s.first_seen).total_seconds() / 86400
        for s in states
        if s.resolved is not None
    ]
    return round(statistics.median(days), 1) if days else None
