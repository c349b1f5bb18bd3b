"""`utsyn portfolio show` and `utsyn national show`: the dashboard's figures in a terminal,
in the dashboard's words (Norwegian by default, English with --lang en)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, table, words
from utsyn.errors import ConfigError, UtsynError
from utsyn.geo import counties, municipalities
from utsyn.i18n import N_, SECTOR_NAMES, SEVERITY_NAMES, Language, checked_language

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from utsyn.portfolio.aggregate import (
        Area,
        Breakdown,
        Dashboard,
        IssueShare,
        Scope,
        Source,
        Summary,
    )
    from utsyn.rules.rulebook import Rulebook

portfolio_app = typer.Typer(help="A portfolio's (or everyone's) dashboard.", no_args_is_help=True)
national_app = typer.Typer(help="The national overview and breakdowns.", no_args_is_help=True)

PortfolioOpt = Annotated[
    str | None, typer.Option("--portfolio", help="A portfolio's name (default: everyone).")
]
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
# A breakdown's column and its table's title.
BREAKDOWN_WORDS = {
    "sector": (N_("Sector"), N_("By sector")),
    "county": (N_("County"), N_("By county")),
    "municipality": (N_("Municipality"), N_("By municipality")),
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
    # Lazy (start-up): the aggregates (sqlalchemy, the store) cost ~430 ms CPU.
    from utsyn.portfolio import aggregate
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.store.db import open_session

    _ = words(lang)
    scope = aggregate.Scope(sector, county, municipality)
    book = load_rulebook()
    with open_session() as session:
        _require_ratings(session)
        source = aggregate.portfolio_named(session, portfolio) if portfolio else aggregate.NATIONAL
        board = _dashboard(session, book, source, scope)
    if as_json:
        console.print_json(json.dumps(asdict(board), default=_json_default))
        return
    title = _("Portfolio: %(name)s", name=portfolio) if portfolio else _("All organisations")
    _print_dashboard(board, book, title, _, checked_language(lang), days)


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
    # Lazy (start-up): the aggregates (sqlalchemy, the store) cost ~430 ms CPU.
    from utsyn.portfolio import aggregate
    from utsyn.store.db import open_session

    _ = words(lang)
    breakdown = BREAKDOWNS.get(by)
    if breakdown is None:
        raise ConfigError("--by %(by)r: one of %(choices)s", by=by, choices=", ".join(BREAKDOWNS))
    scope = aggregate.Scope(sector, county)
    with open_session() as session:
        _require_ratings(session)
        overall = aggregate.summary(session, aggregate.NATIONAL, scope)
        areas = aggregate.breakdown(session, breakdown, scope)
    if as_json:
        figures = {"summary": asdict(overall), "by": by, "areas": [asdict(a) for a in areas]}
        console.print_json(json.dumps(figures, default=_json_default))
        return
    _print_summary(overall, _("All organisations"), _)
    _print_areas(areas, by, _)


def _require_ratings(session: Session) -> None:
    from utsyn.portfolio import aggregate  # lazy: the aggregates cost ~430 ms CPU

    if aggregate.summary(session).orgs == 0:
        raise NoRatingsError(
            "no rated organisations in the database: run `utsyn scan --scenario demo` first"
        )


def _dashboard(session: Session, book: Rulebook, source: Source, scope: Scope) -> Dashboard:
    from utsyn.portfolio import aggregate  # lazy: the aggregates cost ~430 ms CPU

    last = aggregate.latest_day(session)
    since = last - timedelta(days=TREND_DAYS_READ - 1) if last else None
    return aggregate.dashboard(session, book, source, scope, limit=10, since=since)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


# ------------------------------------------------------------------ printing


def _print_dashboard(
    board: Dashboard, book: Rulebook, title: str, _: Words, lang: Language, days: int
) -> None:
    _print_summary(board.summary, title, _)
    _print_worst(board, _)
    _print_issues(board.critical, book, _("Most critical issues"), _, lang)
    _print_issues(board.common, book, _("Most common issues"), _, lang)
    _print_trend(board, _, days)


def _print_summary(summary: Summary, title: str, _: Words) -> None:
    average = "–" if summary.average is None else f"{_.number(summary.average)} ({summary.grade})"
    console.print(f"[bold]{escape(title)}[/]")
    figures = (
        (_("Organisations"), summary.orgs),
        (_("Active (verified asset)"), summary.active),
        (_("Inactive"), summary.inactive),
    )
    console.print(_("Average score") + f": [bold]{average}[/]")
    console.print("   ".join(f"{name}: {_.number(value, 0)}" for name, value in figures))
    shown = table(None, _("Grade"), _("Organisations"), _("Share"), plain=True, justify="right")
    for share in summary.grades:
        shown.add_row(share.grade, _.number(share.orgs, 0), f"{_.number(share.percent)} %")
    console.print(shown)


def _print_worst(board: Dashboard, _: Words) -> None:
    shown = table(
        _("Worst performing organisations"),
        _("Org. no."),
        _("Name"),
        _("Score"),
        _("Grade"),
        _("County"),
    )
    for org in board.worst:
        county = _place(counties(), org.county, _)
        shown.add_row(org.orgnr, escape(org.name), _.number(org.score), org.grade, county)
    console.print(shown)


def _print_issues(
    shares: tuple[IssueShare, ...], book: Rulebook, title: str, _: Words, lang: Language
) -> None:
    shown = table(title, _("Severity"), _("Issue"), _("Organisations"), _("Share"))
    for share in shares:
        name = book.rule(share.rule).title.get(lang) if book.has(share.rule) else share.rule
        severity = _(SEVERITY_NAMES[share.severity]) if share.severity in SEVERITY_NAMES else "–"
        shown.add_row(
            severity, escape(name), _.number(share.orgs, 0), f"{_.number(share.percent)} %"
        )
    console.print(shown)


def _print_trend(board: Dashboard, _: Words, days: int) -> None:
    shown = table(_("Trend"), _("Day"), _("Score"), _("Grade"), _("Organisations"))
    for point in board.trend[-days:] if days > 0 else ():
        shown.add_row(point.day.isoformat(), _.number(point.average), point.grade,
                      _.number(point.orgs, 0))  # fmt: skip
    console.print(shown)


def _print_areas(areas: tuple[Area, ...], by: str, _: Words) -> None:
    names = {"county": counties(), "municipality": municipalities()}.get(by, {})
    column, title = BREAKDOWN_WORDS[by]
    shown = table(
        _(title), _(column), _("Organisations"), _("Average score"), _("Grade"),
        "A", "B", "C", "D", "F",
    )  # fmt: skip
    for area in areas:
        s = area.summary
        average = _.number(s.average)
        shares = [f"{_.number(g.percent, 0)} %" for g in s.grades]
        shown.add_row(escape(_label(area.key, by, names, _)), _.number(s.orgs, 0), average,
                      s.grade or "–", *shares)  # fmt: skip
    console.print(shown)


def _label(key: str, by: str, names: dict[str, str], _: Words) -> str:
    """A breakdown's row: the place's name and number, or the sector's name."""
    if by == "sector":
        return _(SECTOR_NAMES[key]) if key in SECTOR_NAMES else key or _("(unknown)")
    return _place(names, key, _)


def _place(names: dict[str, str], key: str, _: Words) -> str:
    if not key:
        return _("(unknown)")
    return f"{names.get(key, key)} ({key})"
