"""Findings over time (rating.lifecycle, persisted), explanations and disputes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.rating import lifecycle
from utsyn.rules.model import Finding
from utsyn.rules.rulebook import DEFAULT_DECAY_DAYS, Rulebook, load_rulebook
from utsyn.rules.weights import Severity
from utsyn.store import models
from utsyn.store.db import atomic
from utsyn.store.fields import check_text
from utsyn.store.models import Organisation
from utsyn.store.users import add_audit


def apply_findings(
    session: Session,
    org: Organisation,
    findings: Iterable[Finding],
    scanned_assets: Iterable[str],
    now: datetime,
    standing: Iterable[str] = (),
) -> dict[str, lifecycle.FindingState]:
    """Apply one scan's findings with `lifecycle.observe` semantics, in one transaction.

    `scanned_assets` are the asset ids the scan reached: only their unseen findings resolve,
    so an outage never looks like a fix; `standing` findings (kept from a failed check's
    last answer) are left as they are. Returns every finding's state afterwards.
    """
    seen = {f.key: f for f in findings}
    with atomic(session):
        rows = _rows(session, org)
        states = {key: _state(row, None) for key, row in rows.items()}
        triples = [(f.key, f.rule, f.asset) for f in seen.values()]
        updated = lifecycle.observe(states, triples, set(scanned_assets), now, set(standing))
        for key, state in updated.items():
            row = rows.get(key) or _new_row(session, org, state)
            row.first_seen, row.last_seen, row.resolved = (
                state.first_seen,
                state.last_seen,
                state.resolved,
            )
            if key in seen:  # the latest words of the evidence
                row.detail, row.evidence = seen[key].detail, seen[key].evidence
    return finding_states(session, org)


def _rows(session: Session, org: Organisation) -> dict[str, models.Finding]:
    rows = session.scalars(select(models.Finding).where(models.Finding.org_id == org.id))
    return {row.key: row for row in rows}


def _new_row(session: Session, org: Organisation, state: lifecycle.FindingState) -> models.Finding:
    row = models.Finding(
        org_id=org.id,
        key=state.key,
        rule=state.rule,
        asset=state.asset,
        detail="",
        evidence="",
        first_seen=state.first_seen,
        last_seen=state.last_seen,
    )
    session.add(row)
    return row


def _state(row: models.Finding, explanation: models.Explanation | None) -> lifecycle.FindingState:
    return lifecycle.FindingState(
        key=row.key,
        rule=row.rule,
        asset=row.asset,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved=row.resolved,
        explanation=_explanation(explanation) if explanation is not None else None,
    )


def _explanation(row: models.Explanation) -> lifecycle.Explanation:
    return lifecycle.Explanation(
        kind=lifecycle.ExplanationKind(row.kind),
        reason=row.reason,
        author=row.author,
        created=row.created,
        expires=row.expires,
        review=lifecycle.Review(row.review),
    )


def finding_states(session: Session, org: Organisation) -> dict[str, lifecycle.FindingState]:
    """Every finding of the organisation with its current explanation, if any."""
    rows = _rows(session, org)
    current = _current_explanations(session, list(rows.values()))
    return {key: _state(row, current.get(row.id)) for key, row in rows.items()}


def _current_explanations(
    session: Session, rows: list[models.Finding]
) -> dict[int, models.Explanation]:
    """The newest explanation of each finding made since it was (re)opened.

    An explanation of an earlier episode (before a fix and a reappearance) no longer applies.
    """
    first_seen = {row.id: row.first_seen for row in rows}
    explanations = session.scalars(
        select(models.Explanation)
        .where(models.Explanation.finding_id.in_(list(first_seen)))
        .order_by(models.Explanation.created, models.Explanation.id)
    )
    return {e.finding_id: e for e in explanations if e.created >= first_seen[e.finding_id]}


def current_explanation_rows(
    session: Session, rows: list[models.Finding]
) -> dict[int, models.Explanation]:
    """Finding id → the explanation in force for it (the web shows its id and review)."""
    return _current_explanations(session, rows)


def counting_findings(
    session: Session, org: Organisation, book: Rulebook, now: datetime
) -> tuple[Finding, ...]:
    """The findings the rating counts: open or disputed, seen within the rule's decay."""
    rows = _rows(session, org)
    current = _current_explanations(session, list(rows.values()))
    counting = []
    for row in sorted(rows.values(), key=lambda r: r.key):
        decay = book.rule(row.rule).decay_days if book.has(row.rule) else DEFAULT_DECAY_DAYS
        if _state(row, current.get(row.id)).counts(now, decay):
            counting.append(Finding(row.rule, row.asset, row.detail, row.evidence))
    return tuple(counting)


def explain(
    session: Session,
    org: Organisation,
    key: str,
    kind: lifecycle.ExplanationKind,
    reason: str,
    author: str,
    now: datetime,
    expires: datetime,
    book: Rulebook | None = None,
) -> models.Explanation:
    """Comply or explain; a false-positive claim, and any explanation of a high or critical
    finding (its severity from `book`, default the shipped rulebook), waits for review."""
    check_text(reason, models.Explanation.reason, lines=True)
    check_text(author, models.Explanation.author)
    severity = _severity(session, org, key, book or load_rulebook())
    made = lifecycle.Explanation.make(  # validates
        kind, reason, author, now, expires, severity=severity
    )
    with atomic(session):
        finding = _finding(session, org, key)
        if finding.resolved is not None:
            raise ConfigError("finding %(key)r is resolved: nothing to explain", key=key)
        row = models.Explanation(
            finding_id=finding.id,
            kind=str(made.kind),
            reason=made.reason,
            author=made.author,
            created=made.created,
            expires=made.expires,
            review=str(made.review),
        )
        session.add(row)
        add_audit(session, author, f"explain:{made.kind}", f"{org.orgnr}/{key}", now)
    return row


def review_dispute(
    session: Session,
    explanation_id: int,
    accept: bool,
    reviewer: str,
    now: datetime,
    note: str = "",
) -> models.Explanation:
    """A national reviewer accepts or rejects an explanation waiting for review.

    The reviewer's `note` (why) is kept in the audit row's detail.
    """
    with atomic(session):
        row = session.get(models.Explanation, explanation_id, with_for_update=True)
        if row is None:
            raise ConfigError("no explanation %(id)s", id=explanation_id)
        if row.review != lifecycle.Review.PENDING:
            raise ConfigError(
                "explanation %(id)s was already reviewed (%(review)s)",
                id=explanation_id,
                review=row.review,
            )
        if reviewer == row.author:
            raise ConfigError("a dispute is reviewed by someone other than its author")
        decided = lifecycle.review(_explanation(row), accept)
        row.review, row.reviewer, row.reviewed_at = str(decided.review), reviewer, now
        subject = f"explanation/{row.id}"
        detail = {"note": note} if note else {}
        add_audit(session, reviewer, f"review:{decided.review}", subject, now, detail)
    return row


def _severity(session: Session, org: Organisation, key: str, book: Rulebook) -> Severity | None:
    """The severity of the finding's rule; None when the rule has left the rulebook (or
    there is no such finding: `explain` then says so)."""
    rule = session.scalar(
        select(models.Finding.rule).where(
            models.Finding.org_id == org.id, models.Finding.key == key
        )
    )
    return book.rule(rule).severity if rule is not None and book.has(rule) else None


def _finding(session: Session, org: Organisation, key: str) -> models.Finding:
    row = session.scalar(
        select(models.Finding).where(models.Finding.org_id == org.id, models.Finding.key == key)
    )
    if row is None:
        raise ConfigError("organisation %(orgnr)s has no finding %(key)r", orgnr=org.orgnr, key=key)
    return row
