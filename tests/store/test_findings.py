"""Findings over time, as rating.lifecycle defines them, and explanations with review."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.reads import pending_disputes
from utsyn.errors import ConfigError
from utsyn.rating import lifecycle
from utsyn.rating.lifecycle import ExplanationKind, Review, Status
from utsyn.rules.model import Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.weights import Severity
from utsyn.store.findings import (
    apply_findings,
    counting_findings,
    explain,
    finding_states,
    review_dispute,
)
from utsyn.store.models import AuditLog, Explanation, Organisation

from .builders import add_orgs
from .conftest import T0

BOOK = load_rulebook()
# A low-severity rule: its explanations apply at once (a high or critical one's wait for a
# national reviewer: test_a_serious_finding_is_explained_only_after_review).
LOW = next(r for r in BOOK.rules if r.severity == Severity.LOW)
RULE = LOW.id
DECAY = LOW.decay_days
SERIOUS = next(r for r in BOOK.rules if r.severity == Severity.CRITICAL).id
WWW = Finding(RULE, "www.org0.test:443", "www")
MAIL = Finding(RULE, "mail.org0.test:443", "mail")
DAY = timedelta(days=1)


def _scan(
    session: Session, org: Organisation, findings: list[Finding], scanned: set[str], at: datetime
) -> dict[str, lifecycle.FindingState]:
    return apply_findings(session, org, findings, scanned, at)


def test_the_store_follows_the_lifecycle_model_scan_by_scan(session: Session) -> None:
    """New, seen again, resolved by a rescan, kept through an outage, reopened."""
    [org] = add_orgs(session, 1)
    both = {WWW.asset, MAIL.asset}
    scans = [
        ([WWW, MAIL], both, T0),  # both new
        ([WWW], both, T0 + DAY),  # www seen again; mail fixed (its host answered)
        ([], {MAIL.asset}, T0 + 2 * DAY),  # www's host is down: an outage, not a fix
        ([MAIL, WWW], both, T0 + 3 * DAY),  # mail is back: a new episode
    ]
    model: dict[str, lifecycle.FindingState] = {}
    for findings, scanned, at in scans:
        stored = _scan(session, org, findings, scanned, at)
        model = lifecycle.observe(model, [(f.key, f.rule, f.asset) for f in findings], scanned, at)
        assert stored == model
    www, mail = model[WWW.key], model[MAIL.key]
    assert (www.first_seen, www.last_seen, www.resolved) == (T0, T0 + 3 * DAY, None)
    assert (mail.first_seen, mail.resolved) == (T0 + 3 * DAY, None)


def test_an_outage_keeps_a_finding_until_it_decays(session: Session) -> None:
    [org] = add_orgs(session, 1)
    _scan(session, org, [WWW], {WWW.asset}, T0)
    _scan(session, org, [], set(), T0 + DAY)  # nothing answered
    state = finding_states(session, org)[WWW.key]
    assert state.resolved is None
    assert counting_findings(session, org, BOOK, T0 + DECAY * DAY) == (WWW,)
    assert counting_findings(session, org, BOOK, T0 + (DECAY + 1) * DAY) == ()
    assert state.status(T0 + (DECAY + 1) * DAY, DECAY) == Status.STALE


def test_evidence_follows_the_latest_scan(session: Session) -> None:
    [org] = add_orgs(session, 1)
    _scan(session, org, [Finding(RULE, WWW.asset, "www", "old words")], {WWW.asset}, T0)
    _scan(session, org, [Finding(RULE, WWW.asset, "www", "new words")], {WWW.asset}, T0 + DAY)
    [counted] = counting_findings(session, org, BOOK, T0 + DAY)
    assert counted.evidence == "new words"


def test_explanations_and_disputes_decide_what_counts(session: Session) -> None:
    [org] = add_orgs(session, 1)
    _scan(session, org, [WWW, MAIL], {WWW.asset, MAIL.asset}, T0)
    later = T0 + 90 * DAY
    explain(
        session,
        org,
        WWW.key,
        ExplanationKind.ACCEPTED_RISK,
        "Legacy, retired in May.",
        "it@org0.test",
        T0,
        later,
    )
    dispute = explain(
        session,
        org,
        MAIL.key,
        ExplanationKind.FALSE_POSITIVE,
        "That host is not ours at all.",
        "it@org0.test",
        T0,
        later,
    )
    now = T0 + DAY
    assert counting_findings(session, org, BOOK, now) == (MAIL,)  # a dispute still counts
    assert [d.id for d in pending_disputes(session)] == [dispute.id]

    review_dispute(session, dispute.id, accept=True, reviewer="analyst@utsyn.test", now=now)
    assert counting_findings(session, org, BOOK, now) == ()
    assert pending_disputes(session) == []
    state = finding_states(session, org)[MAIL.key]
    assert state.explanation is not None and state.explanation.review == Review.ACCEPTED
    # Explanations expire: the finding counts again (it was seen within decay by then).
    _scan(session, org, [WWW, MAIL], {WWW.asset, MAIL.asset}, later)
    assert set(counting_findings(session, org, BOOK, later)) == {WWW, MAIL}


def test_a_rejected_dispute_counts_and_reviews_are_audited(session: Session) -> None:
    [org] = add_orgs(session, 1)
    _scan(session, org, [WWW], {WWW.asset}, T0)
    dispute = explain(
        session,
        org,
        WWW.key,
        ExplanationKind.FALSE_POSITIVE,
        "Our CDN answers, not us.",
        "it@org0.test",
        T0,
        T0 + 30 * DAY,
    )
    with pytest.raises(ConfigError, match="other than its author"):
        review_dispute(session, dispute.id, accept=True, reviewer="it@org0.test", now=T0)
    review_dispute(session, dispute.id, accept=False, reviewer="analyst@utsyn.test", now=T0)
    with pytest.raises(ConfigError, match="already reviewed"):
        review_dispute(session, dispute.id, accept=True, reviewer="analyst@utsyn.test", now=T0)
    assert counting_findings(session, org, BOOK, T0 + DAY) == (WWW,)
    stored = session.get_one(Explanation, dispute.id)
    assert (stored.review, stored.reviewer, stored.reviewed_at) == (
        "rejected",
        "analyst@utsyn.test",
        T0,
    )
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["explain:false_positive", "review:rejected"]


def test_only_disputes_are_reviewed_and_bad_explanations_are_refused(session: Session) -> None:
    [org] = add_orgs(session, 1)
    _scan(session, org, [WWW], {WWW.asset}, T0)
    accepted = explain(
        session,
        org,
        WWW.key,
        ExplanationKind.COMPENSATING_CONTROL,
        "WAF blocks the old protocol.",
        "it@org0.test",
        T0,
        T0 + DAY,
    )
    with pytest.raises(ConfigError):
        review_dispute(session, accepted.id, accept=False, reviewer="a@utsyn.test", now=T0)
    with pytest.raises(ConfigError, match="at least 10"):
        explain(session, org, WWW.key, ExplanationKind.ACCEPTED_RISK, "because", "x", T0, T0 + DAY)
    with pytest.raises(ConfigError, match="no finding"):
        explain(
            session,
            org,
            "no|such|key",
            ExplanationKind.ACCEPTED_RISK,
            "A long enough reason.",
            "x",
            T0,
            T0 + DAY,
        )
    assert session.scalar(select(func.count()).select_from(Explanation)) == 1


def test_an_explanation_ends_with_its_episode(session: Session) -> None:
    """Fixed, then back: the old explanation belongs to the old episode."""
    [org] = add_orgs(session, 1)
    _scan(session, org, [WWW], {WWW.asset}, T0)
    explain(
        session,
        org,
        WWW.key,
        ExplanationKind.ACCEPTED_RISK,
        "Retired next month.",
        "it@org0.test",
        T0,
        T0 + 300 * DAY,
    )
    _scan(session, org, [], {WWW.asset}, T0 + DAY)  # fixed
    with pytest.raises(ConfigError, match="resolved"):
        explain(
            session,
            org,
            WWW.key,
            ExplanationKind.ACCEPTED_RISK,
            "Retired next month.",
            "it@org0.test",
            T0 + DAY,
            T0 + 300 * DAY,
        )
    _scan(session, org, [WWW], {WWW.asset}, T0 + 2 * DAY)  # back again
    assert finding_states(session, org)[WWW.key].explanation is None
    assert counting_findings(session, org, BOOK, T0 + 2 * DAY) == (WWW,)


def test_a_serious_finding_is_explained_only_after_review(session: Session) -> None:
    """An organisation's accepted risk of a critical finding waits for a national reviewer;
    accepted, the finding stops counting."""
    [org] = add_orgs(session, 1)
    serious = Finding(SERIOUS, "www.org0.test:443", "www")
    _scan(session, org, [serious, WWW], {WWW.asset}, T0)
    risk = explain(
        session,
        org,
        serious.key,
        ExplanationKind.ACCEPTED_RISK,
        "The board accepts it for now.",
        "it@org0.test",
        T0,
        T0 + 30 * DAY,
        BOOK,
    )
    low = explain(
        session,
        org,
        WWW.key,
        ExplanationKind.ACCEPTED_RISK,
        "The board accepts it for now.",
        "it@org0.test",
        T0,
        T0 + 30 * DAY,
        BOOK,
    )
    assert (risk.review, low.review) == ("pending", "accepted")
    assert counting_findings(session, org, BOOK, T0 + DAY) == (serious,)
    assert [d.id for d in pending_disputes(session)] == [risk.id]
    with pytest.raises(ConfigError, match="already reviewed"):
        review_dispute(session, low.id, accept=True, reviewer="analyst@utsyn.test", now=T0)
    review_dispute(session, risk.id, accept=True, reviewer="analyst@utsyn.test", now=T0)
    assert counting_findings(session, org, BOOK, T0 + DAY) == ()
