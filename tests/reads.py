"""Reads only the tests need: what a re-rating would give now, the review queue, an alert's
delivery rows, the migrations' head. Kept here, not in `src/`, so the product has no
test-only code."""

from __future__ import annotations

from datetime import datetime

from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.pipeline import assessment_now
from utsyn.rating import lifecycle
from utsyn.rating.model import Rating, rate
from utsyn.rules.rulebook import Rulebook
from utsyn.store import models
from utsyn.store.db import DatabaseError, alembic_config
from utsyn.store.models import Alert, AlertDelivery, Organisation


def rating_now(session: Session, org: Organisation, book: Rulebook, now: datetime) -> Rating:
    """What a re-rating now would give (views show the saved rating: `shown_rating`)."""
    return rate(assessment_now(session, org, book, now), book)


def pending_disputes(session: Session) -> list[models.Explanation]:
    """The national reviewers' queue, oldest first."""
    query = select(models.Explanation).where(
        models.Explanation.review == lifecycle.Review.PENDING.value
    )
    return list(session.scalars(query.order_by(models.Explanation.created)))


def delivery_states(session: Session, alert: Alert) -> dict[str, AlertDelivery]:
    """The alert's delivery rows, by channel."""
    rows = session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert.id))
    return {r.channel: r for r in rows}


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise DatabaseError("the shipped migrations have no head revision")
    return head
