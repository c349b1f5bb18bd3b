"""Portfolios made by people (the web service): create, add and remove members, delete.

A portfolio is its owner's alone (`reads.portfolios`); its figures are
`portfolio.aggregate` with `Source(portfolio_id)`. Each change and its audit row are
written in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic
from utsyn.store.fields import check_text
from utsyn.store.models import Organisation, Portfolio, PortfolioMember
from utsyn.store.users import add_audit

NAME_LENGTH = 100


def create(session: Session, owner_id: int, name: str, actor: str, now: datetime) -> Portfolio:
    check_text(name, Portfolio.name)
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise ConfigError("a portfolio's name has 1 to %(length)s characters", length=NAME_LENGTH)
    with atomic(session):
        taken = session.scalar(
            select(Portfolio.id).where(Portfolio.owner_id == owner_id, Portfolio.name == name)
        )
        if taken is not None:
            raise ConfigError("there is a portfolio named %(name)r already", name=name)
        made = Portfolio(owner_id=owner_id, name=name, created=now)
        session.add(made)
        session.flush()
        add_audit(session, actor, "portfolio:create", f"portfolio/{made.id}", now)
    return made


def members(session: Session, portfolio: Portfolio) -> list[Organisation]:
    """The portfolio's organisations by name."""
    query = (
        select(Organisation)
        .join(PortfolioMember, PortfolioMember.org_id == Organisation.id)
        .where(PortfolioMember.portfolio_id == portfolio.id)
        .order_by(Organisation.name, Organisation.orgnr)
    )
    return list(session.scalars(query))


def add_member(
    session: Session, portfolio: Portfolio, org: Organisation, actor: str, now: datetime
) -> bool:
    """Add the organisation; False when it is a member already."""
    with atomic(session):
        if session.get(PortfolioMember, (portfolio.id, org.id)) is not None:
            return False
        session.add(PortfolioMember(portfolio_id=portfolio.id, org_id=org.id))
        add_audit(session, actor, "portfolio:add", f"portfolio/{portfolio.id}/{org.orgnr}", now)
    return True


def remove_member(
    session: Session, portfolio: Portfolio, org: Organisation, actor: str, now: datetime
) -> bool:
    """Remove the organisation; False when it was no member."""
    with atomic(session):
        member = session.get(PortfolioMember, (portfolio.id, org.id))
        if member is None:
            return False
        session.delete(member)
        add_audit(session, actor, "portfolio:remove", f"portfolio/{portfolio.id}/{org.orgnr}", now)
    return True


def delete(session: Session, portfolio: Portfolio, actor: str, now: datetime) -> None:
    with atomic(session):
        subject = f"portfolio/{portfolio.id}"
        session.delete(portfolio)  # members go with it (ON DELETE CASCADE)
        session.flush()
        add_audit(session, actor, "portfolio:delete", subject, now)
