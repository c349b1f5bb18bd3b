"""The national view (/nasjonalt): the county map, the areas' tables, the drill-down to the
organisations, the top issues and the trend; and its downloads (/nasjonalt/eksport).

For the national roles only (it names figures across organisations); others get 403.
`?county=NN`, `?municipality=NNNN` and `?sector=...` narrow every figure to an
`aggregate.Scope`, name the area in the heading and list its organisations (grade, score,
trend, active or inactive: `portfolio.drilldown`), which `?status=active|inactive` narrows
further; `?sort=<table>:<column>:<asc|desc>` orders a table (`web.national`) on the server,
so sorting works without JavaScript. An unknown value is a 400, never an empty page that
looks like good news.

The figures are `portfolio.aggregate`'s (the same as GET /api/v1/national and
/national/breakdown); the map is drawn on the server (`web.geo`), the charts by Chart.js
from `web.charts` specs, each beside a table with the same figures. Each table's download
(CSV or JSON; the organisations' vulnerabilities as STIX 2.1) takes the page's own query,
so it holds exactly the rows on screen, in the same order, with every page of a long list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from utsyn.clock import now_utc
from utsyn.geo import counties, municipalities
from utsyn.i18n import SECTOR_NAMES, SEVERITY_NAMES, Language
from utsyn.portfolio import aggregate, drilldown
from utsyn.portfolio.drilldown import OrgRow
from utsyn.report.exports import export
from utsyn.report.scope import Caller, Scope, Selection
from utsyn.rules.weights import GRADE_ORDER
from utsyn.web import charts, geo, national
from utsyn.web.collation import sort_key
from utsyn.web.deps import DbSession, Principal, context
from utsyn.web.i18n import N_, Translator, request_language
from utsyn.web.national import Sort, Table
from utsyn.web.pages import PagePrincipal
from utsyn.web.pages_dashboard import TREND_DAYS, issue_titles, number
from utsyn.web.problems import Problem
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100  # organisations per page of the drill-down list
Status = Literal["", "active", "inactive"]
Format = Literal["csv", "json", "stix"]
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "stix": "application/stix+json",
}


def national_page_principal(principal: PagePrincipal) -> Principal:
    if not principal.national:
        raise Problem(
            403, N_("Forbidden"), N_("Only the national roles see figures across organisations.")
        )
    return principal


NationalPagePrincipal = Annotated[Principal, Depends(national_page_principal)]
Filter = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class Filters:
    """The page's query: what it shows and in which order."""

    scope: aggregate.Scope
    status: Status
    sort: Sort | None

    @property
    def drilled(self) -> bool:
        """An area is chosen: its organisations are listed."""
        s = self.scope
        return bool(s.county or s.municipality or s.sector)

    def link(self, **changes: str | None) -> str:
        """/nasjonalt with this query, some values changed (None or '' drops one)."""
        return "/nasjonalt" + _query({**self.values(), **changes})

    def download(self, table: Table, fmt: Format) -> str:
        return "/nasjonalt/eksport" + _query({**self.values(), "table": table, "format": fmt})

    def values(self) -> dict[str, str | None]:
        s = self.scope
        return {
            "county": s.county,
            "municipality": s.municipality,
            "sector": s.sector,
            "status": self.status or None,
            "sort": self.sort.param if self.sort else None,
        }


def _query(values: dict[str, str | None]) -> str:
    kept = [(k, v) for k, v in values.items() if v]
    return "?" + urlencode(kept) if kept else ""


def checked_filters(
    county: str | None,
    sector: str | None,
    municipality: str | None = None,
    status: str | None = None,
    sort: str | None = None,
) -> Filters:
    """The query as Filters; an empty value means all. 400 on a value nobody has."""
    county, sector, municipality = county or None, sector or None, municipality or None
    if municipality is not None:
        if municipality not in municipalities() or county not in (None, municipality[:2]):
            raise Problem(
                400,
                N_("Bad request"),
                N_("Unknown municipality: use a municipality number of the county, such as 3403."),
            )
        county = municipality[:2]  # a municipality's number begins with its county's
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
    if status not in (None, "", "active", "inactive"):
        raise Problem(400, N_("Bad request"), N_("Unknown status: use active or inactive."))
    try:
        order = national.parse_sort(sort)
    except ValueError:
        raise Problem(
            400, N_("Bad request"), N_("Unknown sort order: use the table's column buttons.")
        ) from None
    scope = aggregate.Scope(sector=sector, county=county, municipality=municipality)
    return Filters(scope, status or "", order)  # type: ignore[arg-type]  # checked above


def area_name(scope: aggregate.Scope, _: Callable[..., str]) -> str | None:
    """The chosen area in words: 'Innlandet', 'Granli · Municipal sector'; None for all."""
    place = municipalities().get(scope.municipality or "") or counties().get(scope.county or "")
    parts = [place, _(SECTOR_NAMES[scope.sector]) if scope.sector else None]
    named = [p for p in parts if p]
    return " · ".join(named) if named else None


def crumbs(scope: aggregate.Scope, _: Callable[..., str]) -> list[tuple[str, str]]:
    """The way down to the chosen area: the national view, its county, municipality, sector."""
    way = [("/nasjonalt", _("National view"))]
    if scope.county:
        way.append((f"/nasjonalt?county={scope.county}", counties()[scope.county]))
    if scope.municipality:
        name = municipalities()[scope.municipality]
        way.append((f"/nasjonalt?municipality={scope.municipality}", name))
    if scope.sector:
        place = way[-1][0]  # the sector within the place above it
        joiner = "&" if "?" in place else "?"
        way.append((f"{place}{joiner}sector={scope.sector}", _(SECTOR_NAMES[scope.sector])))
    return way


def sector_options(lang: Language) -> list[tuple[str, str]]:
    """Every sector (key, name), in the page's alphabetical order."""
    _ = Translator(lang).gettext
    named = [(key, _(name)) for key, name in SECTOR_NAMES.items()]
    return sorted(named, key=lambda option: sort_key(option[1], lang))


def municipality_options(county: str | None, lang: Language) -> list[tuple[str, str]]:
    """The county's municipalities (number, name), in the page's alphabetical order."""
    if county is None:
        return []
    inside = [(k, name) for k, name in municipalities().items() if k.startswith(county)]
    return sorted(inside, key=lambda option: sort_key(option[1], lang))


# ---------------------------------------------------------------- the tables


def county_table(
    session: Session, filters: Filters, lang: Language
) -> tuple[national.AreaRow, ...]:
    # Every county under the sector filter (the map shows them all and marks the chosen one).
    areas = aggregate.breakdown(session, "county", aggregate.Scope(sector=filters.scope.sector))
    rows = national.county_rows(areas, Translator(lang).gettext)
    return national.sort_areas(rows, national.sort_of("counties", filters.sort), lang)


def sector_table(
    session: Session, filters: Filters, lang: Language
) -> tuple[national.AreaRow, ...]:
    s = filters.scope
    within = aggregate.Scope(county=s.county, municipality=s.municipality)
    rows = national.sector_rows(
        aggregate.breakdown(session, "sector", within), Translator(lang).gettext
    )
    return national.sort_areas(rows, national.sort_of("sectors", filters.sort), lang)


def municipality_table(
    session: Session, filters: Filters, lang: Language
) -> tuple[national.AreaRow, ...]:
    """The chosen county's municipalities (none without a county)."""
    s = filters.scope
    if s.county is None:
        return ()
    within = aggregate.Scope(sector=s.sector, county=s.county)
    areas = aggregate.breakdown(session, "municipality", within)
    rows = national.municipality_rows(areas, Translator(lang).gettext)
    return national.sort_areas(rows, national.sort_of("municipalities", filters.sort), lang)


def organisation_table(
    request: Request, session: Session, filters: Filters, lang: Language
) -> tuple[OrgRow, ...]:
    """The chosen area's organisations, active and inactive (none without an area)."""
    if not filters.drilled:
        return ()
    window = context(request).book.reachability.days
    rows = drilldown.organisations(session, filters.scope, now_utc(), window)
    return national.sort_organisations(rows, national.sort_of("organisations", filters.sort), lang)


def with_status(rows: tuple[OrgRow, ...], status: Status) -> tuple[OrgRow, ...]:
    """The rows the status filter keeps (all without one)."""
    if not status:
        return rows
    return tuple(r for r in rows if r.activity.active == (status == "active"))


# ---------------------------------------------------------------- the page


@router.get("/nasjonalt")
def national_view(
    request: Request,
    principal: NationalPagePrincipal,
    session: DbSession,
    county: Filter = None,
    sector: Filter = None,
    municipality: Filter = None,
    status: Filter = None,
    sort: Filter = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    filters = checked_filters(county, sector, municipality, status, sort)
    scope = filters.scope
    book, lang = context(request).book, request_language(request)
    _ = Translator(lang).gettext
    since = now_utc().date() - timedelta(days=TREND_DAYS)
    found = aggregate.dashboard(session, book, aggregate.NATIONAL, scope, since=since)
    counties_shown = county_table(session, filters, lang)
    sectors = sector_table(session, filters, lang)
    everyone = organisation_table(request, session, filters, lang)
    listed = with_status(everyone, filters.status)
    shapes = {s.number: s.path for s in geo.counties_map().shapes}
    ctx = {
        "principal": principal,
        "filters": filters,
        "scope": scope,
        "area": area_name(scope, _),
        "crumbs": crumbs(scope, _),
        "sector_options": sector_options(lang),
        "county_municipalities": municipality_options(scope.county, lang),
        "county_names": counties(),
        "municipality_name": municipalities().get(scope.municipality or ""),
        "dash": found,
        "map": geo.counties_map(),
        "shapes": shapes,
        "counties": counties_shown,
        "sectors": sectors,
        "municipalities": municipality_table(session, filters, lang),
        "organisations": listed[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "active": sum(1 for r in everyone if r.activity.active),
        "inactive": sum(1 for r in everyone if not r.activity.active),
        "page": page,
        "pages": max(1, -(-len(listed) // PAGE_SIZE)),
        "window": book.reachability.days,
        "activity_names": national.ACTIVITY_NAMES,
        "sorts": {t: national.sort_of(t, filters.sort) for t in national.TABLES},
        "titles": issue_titles(book, found.critical + found.common, lang),
        "severity_names": SEVERITY_NAMES,
        "trend_chart": charts.trend_chart(found.trend, _),
        "sector_chart": charts.bar_chart(
            [a.name for a in sectors],
            [a.average for a in sectors],
            [a.grade for a in sectors],
            _("Average score"),
        ),
        "grades": GRADE_ORDER,
        "num": number(lang),
    }
    return render(request, "national.html", ctx)


# ---------------------------------------------------------------- downloads


@router.get("/nasjonalt/eksport")
def national_download(
    request: Request,
    principal: NationalPagePrincipal,
    session: DbSession,
    table: Annotated[Table, Query()],
    fmt: Annotated[Format, Query(alias="format")],
    county: Filter = None,
    sector: Filter = None,
    municipality: Filter = None,
    status: Filter = None,
    sort: Filter = None,
) -> Response:
    """A table of the page as CSV or JSON, or its organisations' vulnerabilities as STIX."""
    filters = checked_filters(county, sector, municipality, status, sort)
    lang = request_language(request)
    _ = Translator(lang).gettext
    now = now_utc()
    name = f"utsyn-{table}-{now:%Y%m%d}"
    if table == "organisations":
        orgs = with_status(organisation_table(request, session, filters, lang), filters.status)
        if fmt == "stix":
            return _stix(session, principal, filters, orgs, lang, name)
        records = national.organisation_records(orgs, _)
    elif fmt == "stix":
        raise Problem(
            400, N_("Bad request"), N_("STIX holds the vulnerabilities of the organisations' list.")
        )
    else:
        builders = {
            "counties": county_table,
            "sectors": sector_table,
            "municipalities": municipality_table,
        }
        records = national.area_records(builders[table](session, filters, lang))
    if fmt == "csv":
        body = national.as_csv(records, national.RECORD_KEYS[table])
    else:
        about = {"filter": {k: v for k, v in filters.values().items() if v}, "lang": lang}
        body = national.as_json(records, table, about, now)
    return Response(body, media_type=_MEDIA[fmt], headers=_attachment(f"{name}.{fmt}"))


def _stix(
    session: Session,
    principal: Principal,
    filters: Filters,
    orgs: tuple[OrgRow, ...],
    lang: Language,
    name: str,
) -> Response:
    label = ";".join(f"{k}={v}" for k, v in filters.values().items() if v and k != "sort")
    selection = Selection(label or "all", tuple(r.org_id for r in orgs))
    caller = Caller(principal.role, None, principal.user_id)
    chunks = export(session, Scope("national", within=selection), caller, "stix", lang=lang)
    stream = (chunk.encode("utf-8") for chunk in chunks)
    return StreamingResponse(
        stream, media_type=_MEDIA["stix"], headers=_attachment(f"{name}.stix.json")
    )


def _attachment(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
