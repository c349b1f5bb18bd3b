"""REST API v1: the national dashboard and portfolios, from `portfolio.aggregate`.

Both span many organisations (the worst scores name them), so they are for the national
roles; organisation roles get 403. A portfolio is its owner's: another user's is 404.
The figures are the rollups' (`store.rollup`), never recomputed here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from utsyn.portfolio import aggregate
from utsyn.rules.rulebook import Rulebook
from utsyn.store import reads
from utsyn.web.api import PROBLEMS
from utsyn.web.deps import CurrentPrincipal, DbSession, Lang, Principal, context
from utsyn.web.i18n import N_, Language
from utsyn.web.problems import Problem, not_found
from utsyn.web.schemas import (
    AreaOut,
    DashboardOut,
    IssueShareOut,
    OrgScoreOut,
    PortfolioOut,
    SummaryOut,
    TrendPointOut,
)

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)

Sector = Annotated[str | None, Query(min_length=1, max_length=32, description="Only this sector.")]
County = Annotated[
    str | None, Query(pattern=r"^[0-9]{2}$", description="Only this county (2024 number).")
]
Municipality = Annotated[
    str | None, Query(pattern=r"^[0-9]{4}$", description="Only this municipality (number).")
]
Limit = Annotated[int, Query(ge=1, le=100, description="Length of the worst and issue lists.")]
Since = Annotated[date | None, Query(description="The trend from this day on.")]


def require_national(principal: CurrentPrincipal) -> Principal:
    if not principal.national:
        raise Problem(
            403, N_("Forbidden"), N_("Only the national roles see figures across organisations.")
        )
    return principal


National = Annotated[Principal, Depends(require_national)]


def _issue(share: aggregate.IssueShare, book: Rulebook, lang: Language) -> IssueShareOut:
    title = book.rule(share.rule).title.get(lang) if book.has(share.rule) else None
    return IssueShareOut(
        rule=share.rule,
        title=title,
        severity=share.severity,
        orgs=share.orgs,
        percent=share.percent,
    )


def _dashboard(found: aggregate.Dashboard, book: Rulebook, lang: Language) -> DashboardOut:
    return DashboardOut(
        summary=SummaryOut.model_validate(found.summary, from_attributes=True),
        worst=[OrgScoreOut.model_validate(o, from_attributes=True) for o in found.worst],
        critical=[_issue(s, book, lang) for s in found.critical],
        common=[_issue(s, book, lang) for s in found.common],
        trend=[TrendPointOut.model_validate(t, from_attributes=True) for t in found.trend],
    )


@router.get("/national", response_model=DashboardOut, summary="The national dashboard")
def national(
    principal: National,
    session: DbSession,
    request: Request,
    lang: Lang,
    sector: Sector = None,
    county: County = None,
    municipality: Municipality = None,
    limit: Limit = 10,
    since: Since = None,
) -> DashboardOut:
    book = context(request).book
    scope = aggregate.Scope(sector, county, municipality)
    found = aggregate.dashboard(session, book, aggregate.NATIONAL, scope, limit, since)
    return _dashboard(found, book, lang)


@router.get(
    "/national/breakdown",
    response_model=list[AreaOut],
    summary="Average, grades and organisations per sector, county or municipality",
)
def national_breakdown(
    principal: National,
    session: DbSession,
    by: Literal["sector", "county", "municipality"] = "county",
    sector: Sector = None,
    county: County = None,
    municipality: Municipality = None,
) -> list[AreaOut]:
    scope = aggregate.Scope(sector, county, municipality)
    areas = aggregate.breakdown(session, by, scope)
    return [AreaOut.model_validate(area, from_attributes=True) for area in areas]


@router.get("/portfolio", response_model=list[PortfolioOut], summary="The caller's portfolios")
def list_portfolios(principal: National, session: DbSession) -> list[PortfolioOut]:
    return [
        PortfolioOut.model_validate(p, from_attributes=True)
        for p in reads.portfolios(session, principal.user_id)
    ]


@router.get(
    "/portfolio/{portfolio_id}", response_model=DashboardOut, summary="A portfolio's dashboard"
)
def portfolio_dashboard(
    portfolio_id: Annotated[int, Path(ge=1, le=2**53)],
    principal: National,
    session: DbSession,
    request: Request,
    lang: Lang,
    sector: Sector = None,
    county: County = None,
    municipality: Municipality = None,
    limit: Limit = 10,
    since: Since = None,
) -> DashboardOut:
    if reads.portfolio(session, principal.user_id, portfolio_id) is None:
        raise not_found()
    book = context(request).book
    scope = aggregate.Scope(sector, county, municipality)
    source = aggregate.Source(portfolio_id)
    return _dashboard(aggregate.dashboard(session, book, source, scope, limit, since), book, lang)
