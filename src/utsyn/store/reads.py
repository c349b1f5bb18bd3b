"""Paged reads for the web service and its API, always through a `Scope`.

A `Scope` says which organisations a reader may see: every one (national roles) or exactly
one (organisation roles; none at all when the account has no organisation). Every read of
organisation data here takes one, so a query that forgot to filter cannot be written by
accident: the filter is the first thing each function applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true
from sqlalchemy.orm import Session

from utsyn.store import findings, models
from utsyn.store.models import (
    Asset,
    Explanation,
    Organisation,
    OrgLatest,
    Portfolio,
    ScoreSnapshot,
)


@dataclass(frozen=True)
class Scope:
    """Every organisation (`everything`), or the one with id `org_id` (None: no one)."""

    everything: bool
    org_id: int | None = None

    @classmethod
    def national(cls) -> Scope:
        return cls(everything=True)

    @classmethod
    def organisation(cls, org_id: int | None) -> Scope:
        return cls(everything=False, org_id=org_id)

    def allows(self, org_id: int) -> bool:
        return self.everything or (self.org_id is not None and self.org_id == org_id)

    def where(self) -> ColumnElement[bool]:
        """The filter on `Organisation.id` this scope stands for."""
        if self.everything:
            return true()
        if self.org_id is None:
            return false()
        return Organisation.id == self.org_id


T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    items: list[T]
    total: int


def _count(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def organisations(
    session: Session, scope: Scope, limit: int, offset: int
) -> Paged[tuple[Organisation, OrgLatest | None]]:
    """Organisations in scope by organisation number, each with its latest rating if any."""
    query = (
        select(Organisation, OrgLatest)
        .outerjoin(OrgLatest, OrgLatest.org_id == Organisation.id)
        .where(scope.where())
    )
    rows = session.execute(query.order_by(Organisation.orgnr).limit(limit).offset(offset))
    return Paged([(org, latest) for org, latest in rows], _count(session, query))


def organisation(session: Session, scope: Scope, orgnr: str) -> Organisation | None:
    """The organisation, or None when it does not exist or is outside the scope."""
    return session.scalar(
        select(Organisation).where(Organisation.orgnr == orgnr).where(scope.where())
    )


def organisation_by_id(session: Session, scope: Scope, org_id: int | None) -> Organisation | None:
    if org_id is None:
        return None
    return session.scalar(
        select(Organisation).where(Organisation.id == org_id).where(scope.where())
    )


def latest(session: Session, org: Organisation) -> OrgLatest | None:
    return session.get(OrgLatest, org.id)


def snapshots(session: Session, org: Organisation, limit: int, offset: int) -> Paged[ScoreSnapshot]:
    """The organisation's score history, newest day first."""
    query = select(ScoreSnapshot).where(ScoreSnapshot.org_id == org.id)
    ordered = query.order_by(ScoreSnapshot.day.desc(), ScoreSnapshot.id.desc())
    items = list(session.scalars(ordered.limit(limit).offset(offset)))
    return Paged(items, _count(session, query))


def finding_rows(session: Session, org: Organisation) -> dict[str, models.Finding]:
    """Every finding row of the organisation by key (evidence, detail and ids)."""
    rows = session.scalars(select(models.Finding).where(models.Finding.org_id == org.id))
    return {row.key: row for row in rows}


def current_explanations(session: Session, org: Organisation) -> dict[str, Explanation]:
    """Each finding's explanation in force now (as `findings.finding_states` sees it), by key."""
    rows = finding_rows(session, org)
    current = findings.current_explanation_rows(session, list(rows.values()))
    return {key: current[row.id] for key, row in rows.items() if row.id in current}


def assets(session: Session, org: Organisation, limit: int, offset: int) -> Paged[Asset]:
    query = select(Asset).where(Asset.org_id == org.id)
    items = list(
        session.scalars(query.order_by(Asset.kind, Asset.value).limit(limit).offset(offset))
    )
    return Paged(items, _count(session, query))


def asset_named(session: Session, org: Organisation, kind: str, value: str) -> Asset | None:
    return session.scalar(
        select(Asset).where(Asset.org_id == org.id, Asset.kind == kind, Asset.value == value)
    )


def asset(session: Session, org: Organisation, asset_id: int) -> Asset | None:
    return session.scalar(select(Asset).where(Asset.id == asset_id, Asset.org_id == org.id))


@dataclass(frozen=True)
class ExplainedFinding:
    """An explanation with the finding and the organisation it belongs to."""

    explanation: Explanation
    finding: models.Finding
    organisation: Organisation


def _explained() -> Select[Explanation, models.Finding, Organisation]:
    return (
        select(Explanation, models.Finding, Organisation)
        .join(models.Finding, models.Finding.id == Explanation.finding_id)
        .join(Organisation, Organisation.id == models.Finding.org_id)
    )


# The explanations a national reviewer decides (`rating.lifecycle.needs_review`): every
# false-positive claim, and any other that waited for review (pending, or decided and so
# with a reviewer). An organisation's own explanations are accepted as made, by no one.
REVIEWED: ColumnElement[bool] = or_(
    Explanation.kind == "false_positive",
    Explanation.review != "accepted",
    Explanation.reviewer.is_not(None),
)


def under_review(explanation: Explanation) -> bool:
    """`REVIEWED`, of one explanation."""
    return (
        explanation.kind == "false_positive"
        or explanation.review != "accepted"
        or explanation.reviewer is not None
    )


def disputes(
    session: Session, scope: Scope, review: str | None, limit: int, offset: int
) -> Paged[ExplainedFinding]:
    """The explanations for national review in scope (of one review state, when given):
    false-positive claims and explanations of high or critical findings, oldest first."""
    query = _explained().where(REVIEWED).where(scope.where())
    if review is not None:
        query = query.where(Explanation.review == review)
    rows = session.execute(
        query.order_by(Explanation.created, Explanation.id).limit(limit).offset(offset)
    )
    items = [ExplainedFinding(e, f, o) for e, f, o in rows]
    return Paged(items, _count(session, query))


def explanation(session: Session, scope: Scope, explanation_id: int) -> ExplainedFinding | None:
    row = session.execute(
        _explained().where(Explanation.id == explanation_id).where(scope.where())
    ).first()
    if row is None:
        return None
    found, finding, org = row
    return ExplainedFinding(found, finding, org)


def portfolios(session: Session, owner_id: int) -> list[Portfolio]:
    """The portfolios a user owns (a portfolio is its owner's alone)."""
    query = select(Portfolio).where(Portfolio.owner_id == owner_id).order_by(Portfolio.name)
    return list(session.scalars(query))


def portfolio(session: Session, owner_id: int, portfolio_id: int) -> Portfolio | None:
    return session.scalar(
        select(Portfolio).where(Portfolio.id == portfolio_id, Portfolio.owner_id == owner_id)
    )


@dataclass(frozen=True)
class Affected:
    orgnr: str
    name: str
    assets: int  # assets with an open finding of the rule


def organisations_with_rule(session: Session, scope: Scope, rule: str) -> list[Affected]:
    """The organisations in scope with an open finding of `rule`, most assets first."""
    rows = session.execute(
        select(
            Organisation.orgnr, Organisation.name, func.count(func.distinct(models.Finding.asset))
        )
        .join(models.Finding, models.Finding.org_id == Organisation.id)
        .where(scope.where(), models.Finding.rule == rule, models.Finding.resolved.is_(None))
        .group_by(Organisation.orgnr, Organisation.name)
        .order_by(func.count(func.distinct(models.Finding.asset)).desc(), Organisation.orgnr)
    )
    return [Affected(orgnr, name, int(count)) for orgnr, name, count in rows]
