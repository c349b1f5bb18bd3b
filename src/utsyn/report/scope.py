"""Who may export what: an organisation, a portfolio, or the whole country.

An export is authorised and its scope resolved before the first byte is produced (the web
route must refuse with a status, not break off a streaming response half way), so
`resolve` is an ordinary function that raises, and the writers are generators after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Integer, bindparam, select, true
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError, UtsynError
from utsyn.store.models import Organisation, Portfolio, PortfolioMember
from utsyn.store.orgs import organisation

ScopeKind = Literal["org", "portfolio", "national"]
NATIONAL_ROLES = frozenset({"national_admin", "national_analyst"})
ORG_ROLES = frozenset({"org_admin", "org_viewer"})


class ExportRefused(UtsynError):
    """The caller's role does not allow this export."""

    exit_code = 6


@dataclass(frozen=True)
class Selection:
    """Some organisations of the national scope: a national view's list, as it is shown."""

    label: str  # what was chosen, for the export's header: "county=34;status=inactive"
    org_ids: tuple[int, ...]


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    orgnr: str | None = None  # kind "org"
    portfolio_id: int | None = None  # kind "portfolio"
    within: Selection | None = None  # kind "national": only these organisations


@dataclass(frozen=True)
class Caller:
    """The user asking: their role, their own organisation and their user id."""

    role: str
    orgnr: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class Resolved:
    """An authorised scope: its label for the export's header and its organisations."""

    label: str  # "org:974760673", "portfolio:12", "national"
    orgs: ColumnElement[bool]  # a condition on Organisation


@dataclass(frozen=True)
class ExportMeta:
    """What every export records about itself."""

    scope: str
    exported_at: datetime
    rulebook_version: str


def resolve(session: Session, scope: Scope, caller: Caller) -> Resolved:
    """Check the caller may export `scope`, then resolve it; raises ExportRefused if not."""
    if caller.role not in NATIONAL_ROLES | ORG_ROLES:
        raise ExportRefused("unknown role %(role)r", role=caller.role)
    national = caller.role in NATIONAL_ROLES
    if scope.kind == "national":
        if not national:
            raise ExportRefused("the national export is for national roles only")
        if scope.within is not None:
            # Written into the statement: a county's list may hold more organisations than
            # a database takes parameters (ids are integers, nothing to escape).
            ids = bindparam(
                "ids",
                list(scope.within.org_ids),
                type_=Integer,
                expanding=True,
                literal_execute=True,
            )
            return Resolved(f"national:{scope.within.label}", Organisation.id.in_(ids))
        return Resolved("national", true())
    if scope.kind == "org":
        return _org_scope(session, scope, caller, national)
    if scope.kind == "portfolio":
        return _portfolio_scope(session, scope, caller, national)
    raise ConfigError(
        "unknown export scope %(scope)r: org, portfolio or national", scope=scope.kind
    )


def _org_scope(session: Session, scope: Scope, caller: Caller, national: bool) -> Resolved:
    if scope.orgnr is None:
        raise ConfigError("an organisation export needs an organisation number")
    if not national and caller.orgnr != scope.orgnr:
        raise ExportRefused("an organisation role exports its own organisation only")
    org = organisation(session, scope.orgnr)  # unknown: a ConfigError the user can act on
    return Resolved(f"org:{org.orgnr}", Organisation.id == org.id)


def _portfolio_scope(session: Session, scope: Scope, caller: Caller, national: bool) -> Resolved:
    if scope.portfolio_id is None:
        raise ConfigError("a portfolio export needs a portfolio")
    portfolio = session.get(Portfolio, scope.portfolio_id)
    if portfolio is None:
        raise ConfigError("no portfolio %(id)s", id=scope.portfolio_id)
    if not national and portfolio.owner_id != caller.user_id:
        raise ExportRefused("a portfolio is exported by its owner or a national role")
    members = select(PortfolioMember.org_id).where(PortfolioMember.portfolio_id == portfolio.id)
    return Resolved(f"portfolio:{portfolio.id}", Organisation.id.in_(members))


def portfolio_id(session: Session, name: str) -> int:
    """The id of the one portfolio of this name (names are unique per owner only)."""
    ids = list(session.scalars(select(Portfolio.id).where(Portfolio.name == name)))
    if not ids:
        raise ConfigError("no portfolio named %(name)r", name=name)
    if len(ids) > 1:
        raise ConfigError(
            "%(count)s portfolios are named %(name)r: give its id instead",
            count=len(ids),
            name=name,
        )
    return ids[0]
