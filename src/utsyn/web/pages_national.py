"""The national view (/nasjonalt): the county map, the sectors, the top issues and the trend.

For the national roles only (it names figures across organisations); others get 403.
`?county=NN` and `?sector=...` narrow every figure to an `aggregate.Scope`; an unknown
value is a 400, never an empty page that looks like good news. The figures are
`portfolio.aggregate`'s (the same as GET /api/v1/national and /national/breakdown); the
map is drawn on the server (`web.geo`), the charts by Chart.js from `web.charts` specs,
each beside a table with the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from utsyn.clock import now_utc
from utsyn.geo import counties
from utsyn.i18n import SECTOR_NAMES, SEVERITY_NAMES
from utsyn.portfolio import aggregate
from utsyn.rules.weights import GRADE_ORDER
from utsyn.web import charts, geo
from utsyn.web.deps import DbSession, Principal, context
from utsyn.web.i18n import N_, Translator, request_language
from utsyn.web.pages import PagePrincipal
from utsyn.web.pages_dashboard import TREND_DAYS, issue_titles, number
from utsyn.web.problems import Problem
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)


def national_page_principal(principal: PagePrincipal) -> Principal:
    if not principal.national:
        raise Problem(
            403, N_("Forbidden"), N_("Only the national roles see figures across organisations.")
        )
    return principal


NationalPagePrincipal = Annotated[Principal, Depends(national_page_principal)]
Filter = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class CountyView:
    """One county on the map and in its table: the figures are None without organisations."""

    number: str
    name: str
    path: str  # SVG path data; '' for a county the map lacks
    summary: aggregate.Summary | None


def checked_scope(county: str | None, sector: str | None) -> aggregate.Scope:
    """The filters as a Scope; an empty value means all. 400 on a value nobody has."""
    county, sector = county or None, sector or None
    if county is not None and county not in counties():
        raise Problem(
            400, N_("Bad request"), N_("Unknown county: use a county number such as 03 or 46.")
        )
    if sector is not None and sector not in SECTOR_NAMES:
        raise Problem(
            400,
            N_("Bad request"),
            N_("Unknown sector: use state, county, municipal or other."),
        )
    return aggregate.Scope(sector=sector, county=county)


def county_views(areas: tuple[aggregate.Area, ...]) -> tuple[CountyView, ...]:
    """Every county of the map, by number, with its figures when it has organisations."""
    by_key = {a.key: a.summary for a in areas}
    shapes = {s.number: s for s in geo.counties_map().shapes}
    return tuple(
        CountyView(
            number, name, shapes[number].path if number in shapes else "", by_key.get(number)
        )
        for number, name in sorted(counties().items())
    )


@router.get("/nasjonalt")
def national_view(
    request: Request,
    principal: NationalPagePrincipal,
    session: DbSession,
    county: Filter = None,
    sector: Filter = None,
) -> Response:
    scope = checked_scope(county, sector)
    book, lang = context(request).book, request_language(request)
    since = now_utc().date() - timedelta(days=TREND_DAYS)
    found = aggregate.dashboard(session, book, aggregate.NATIONAL, scope, since=since)
    # The map shows every county (under the sector filter) and marks the chosen one.
    by_county = aggregate.breakdown(session, "county", aggregate.Scope(sector=scope.sector))
    by_sector = aggregate.breakdown(session, "sector", aggregate.Scope(county=scope.county))
    _ = Translator(lang).gettext
    sector_labels = [_(SECTOR_NAMES[a.key]) if a.key in SECTOR_NAMES else "–" for a in by_sector]
    ctx = {
        "principal": principal,
        "scope": scope,
        "dash": found,
        "map": geo.counties_map(),
        "counties": county_views(by_county),
        "unplaced": next((a.summary for a in by_county if a.key == ""), None),
        "sectors": by_sector,
        "sector_names": SECTOR_NAMES,
        "county_names": counties(),
        "titles": issue_titles(book, found.critical + found.common, lang),
        "severity_names": SEVERITY_NAMES,
        "trend_chart": charts.trend_chart(found.trend, _),
        "sector_chart": charts.bar_chart(
            sector_labels,
            [a.summary.average for a in by_sector],
            [a.summary.grade for a in by_sector],
            _("Average score"),
        ),
        "grades": GRADE_ORDER,
        "num": number(lang),
    }
    return render(request, "national.html", ctx)
