"""`utsyn portfolio show` and `utsyn national show`: the dashboard's figures in a terminal.

Mounted by the main CLI: `app.add_typer(portfolio_app, name="portfolio")` and
`app.add_typer(national_app, name="national")`. Norwegian by default, English with --lang en.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError, UtsynError
from utsyn.geo import counties, municipalities
from utsyn.portfolio import aggregate
from utsyn.portfolio.aggregate import (
    NATIONAL,
    Area,
    Breakdown,
    Dashboard,
    Scope,
    Source,
    Summary,
)
from utsyn.rules.rulebook import Rulebook, load_rulebook
from utsyn.store.db import open_session

portfolio_app = typer.Typer(help="A portfolio's (or everyone's) dashboard.", no_args_is_help=True)
national_app = typer.Typer(help="The national overview and breakdowns.", no_args_is_help=True)
console = Console()

TEXT = {
    "nb": {
        "all": "Alle virksomheter",
        "portfolio": "Portefølje",
        "average": "Gjennomsnittlig score",
        "orgs": "Virksomheter",
        "active": "Aktive (verifisert eiendel)",
        "inactive": "Inaktive",
        "grade": "Karakter",
        "share": "Andel",
        "worst": "Dårligste virksomheter",
        "orgnr": "Org.nr.",
        "name": "Navn",
        "score": "Score",
        "county": "Fylke",
        "municipality": "Kommune",
        "sector": "Sektor",
        "critical": "Mest kritiske sårbarheter",
        "common": "Vanligste sårbarheter",
        "severity": "Alvorlighet",
        "issue": "Sårbarhet",
        "trend": "Utvikling",
        "day": "Dag",
        "unknown": "(ukjent)",
        "by": "Fordelt på",
    },
    "en": {
        "all": "All organisations",
        "portfolio": "Portfolio",
        "average": "Average score",
        "orgs": "Organisations",
        "active": "Active (verified asset)",
        "inactive": "Inactive",
        "grade": "Grade",
        "share": "Share",
        "worst": "Worst performing organisations",
        "orgnr": "Org. no.",
        "name": "Name",
        "score": "Score",
        "county": "County",
        "municipality": "Municipality",
        "sector": "Sector",
        "critical": "Most critical issues",
        "common": "Most common issues",
        "severity": "Severity",
        "issue": "Issue",
        "trend": "Trend",
        "day": "Day",
        "unknown": "(unknown)",
        "by": "By",
    },
}

PortfolioOpt = Annotated[
    str | None, typer.Option("--portfolio", help="A portfolio's name (default: everyone).")
]
LangOpt = Annotated[str, typer.Option("--lang", help="nb (default) or en.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")]
SectorOpt = Annotated[str | None, typer.Option("--sector", help="Only this sector.")]
CountyOpt = Annotated[str | None, typer.Option("--county", help="Only this county (03, 46..).")]
MunicipalityOpt = Annotated[
    str | None, typer.Option("--municipality", help="Only this municipality (0301, 4601, ..).")
]
DaysOpt = Annotated[int, typer.Option("--days", help="Days of trend to print.")]
TREND_DAYS_READ = 365
BREAKDOWNS: dict[str, Breakdown] = {
    "sector": "sector",
    "county": "county",
    "municipality": "municipality",
}


class NoRatingsError(UtsynError):
    """Nothing is rated yet: there is no figure to show."""


@portfolio_app.command("show")
def portfolio_show(
    portfolio: PortfolioOpt = None,
    lang: LangOpt = "nb",
    as_json: JsonOpt = False,
    sector: SectorOpt = None,
    county: CountyOpt = None,
    municipality: MunicipalityOpt = None,
    days: DaysOpt = 14,
) -> None:
    """Average, grades, activity, worst organisations, issues and trend."""
    text = _text(lang)
    scope = Scope(sector, county, municipality)
    book = load_rulebook()
    with open_session() as session:
        _require_ratings(session)
        source = aggregate.portfolio_named(session, portfolio) if portfolio else NATIONAL
        board = _dashboard(session, book, source, scope)
    if as_json:
        console.print_json(json.dumps(asdict(board), default=_json_default))
        return
    title = f"{text['portfolio']}: {portfolio}" if portfolio else text["all"]
    _print_dashboard(board, book, title, text, lang, days)


@national_app.command("show")
def national_show(
    by: Annotated[
        str, typer.Option("--by", help="sector, county (default) or municipality.")
    ] = "county",
    lang: LangOpt = "nb",
    as_json: JsonOpt = False,
    sector: SectorOpt = None,
    county: CountyOpt = None,
) -> None:
    """The national overview and its breakdown by sector, county or municipality."""
    text = _text(lang)
    breakdown = BREAKDOWNS.get(by)
    if breakdown is None:
        raise ConfigError(f"--by {by!r}: one of {', '.join(BREAKDOWNS)}")
    scope = Scope(sector, county)
    with open_session() as session:
        _require_ratings(session)
        overall = aggregate.summary(session, NATIONAL, scope)
        areas = aggregate.breakdown(session, breakdown, scope)
    if as_json:
        figures = {"summary": asdict(overall), "by": by, "areas": [asdict(a) for a in areas]}
        console.print_json(json.dumps(figures, default=_json_default))
        return
    _print_summary(overall, text["all"], text)
    _print_areas(areas, by, text)


def _text(lang: str) -> dict[str, str]:
    if lang not in TEXT:
        raise ConfigError(f"--lang {lang!r}: nb or en")
    return TEXT[lang]


def _require_ratings(session: Session) -> None:
    if aggregate.summary(session).orgs == 0:
        raise NoRatingsError(
            "no rated organisations in the database: run `utsyn scan --scenario demo` first"
        )


def _dashboard(session: Session, book: Rulebook, source: Source, scope: Scope) -> Dashboard:
    last = aggregate.latest_day(session)
    since = last - timedelta(days=TREND_DAYS_READ - 1) if last else None
    return aggregate.dashboard(session, book, source, scope, limit=10, since=since)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


# ------------------------------------------------------------------ printing


def _print_dashboard(
    board: Dashboard, book: Rulebook, title: str, text: dict[str, str], lang: str, days: int
) -> None:
    _print_summary(board.summary, title, text)
    _print_worst(board, text)
    _print_issues(board.critical, book, text["critical"], text, lang)
    _print_issues(board.common, book, text["common"], text, lang)
    _print_trend(board, text, days)


def _print_summary(summary: Summary, title: str, text: dict[str, str]) -> None:
    average = "–" if summary.average is None else f"{summary.average:.1f} ({summary.grade})"
    console.print(f"[bold]{escape(title)}[/]")
    console.print(f"{text['average']}: [bold]{average}[/]")
    console.print(
        f"{text['orgs']}: {summary.orgs}   {text['active']}: {summary.active}   "
        f"{text['inactive']}: {summary.inactive}"
    )
    table = Table(title=None, box=None)
    for column in (text["grade"], text["orgs"], text["share"]):
        table.add_column(column, justify="right")
    for share in summary.grades:
        table.add_row(share.grade, str(share.orgs), f"{share.percent:.1f} %")
    console.print(table)


def _print_worst(board: Dashboard, text: dict[str, str]) -> None:
    table = Table(title=text["worst"])
    for column in (text["orgnr"], text["name"], text["score"], text["grade"], text["county"]):
        table.add_column(column)
    for org in board.worst:
        county = _place(counties(), org.county, text)
        table.add_row(org.orgnr, escape(org.name), f"{org.score:.1f}", org.grade, county)
    console.print(table)


def _print_issues(
    shares: tuple[aggregate.IssueShare, ...],
    book: Rulebook,
    title: str,
    text: dict[str, str],
    lang: str,
) -> None:
    table = Table(title=title)
    for column in (text["severity"], text["issue"], text["orgs"], text["share"]):
        table.add_column(column)
    for share in shares:
        name = book.rule(share.rule).title.get(lang) if book.has(share.rule) else share.rule
        table.add_row(
            share.severity or "–", escape(name), str(share.orgs), f"{share.percent:.1f} %"
        )
    console.print(table)


def _print_trend(board: Dashboard, text: dict[str, str], days: int) -> None:
    table = Table(title=text["trend"])
    for column in (text["day"], text["score"], text["grade"], text["orgs"]):
        table.add_column(column)
    for point in board.trend[-days:] if days > 0 else ():
        table.add_row(point.day.isoformat(), f"{point.average:.1f}", point.grade, str(point.orgs))
    console.print(table)


def _print_areas(areas: tuple[Area, ...], by: str, text: dict[str, str]) -> None:
    names = {"county": counties(), "municipality": municipalities()}.get(by, {})
    table = Table(title=f"{text['by']} {text[by].lower()}")
    for column in (text[by], text["orgs"], text["average"], text["grade"], "A", "B", "C", "D", "F"):
        table.add_column(column)
    for area in areas:
        s = area.summary
        average = "–" if s.average is None else f"{s.average:.1f}"
        shares = [f"{g.percent:.0f} %" for g in s.grades]
        label = _place(names, area.key, text) if names else area.key or text["unknown"]
        table.add_row(escape(label), str(s.orgs), average, s.grade or "–", *shares)
    console.print(table)


def _place(names: dict[str, str], key: str, text: dict[str, str]) -> str:
    if not key:
        return text["unknown"]
    return f"{names.get(key, key)} ({key})"
