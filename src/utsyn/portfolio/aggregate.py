"""The dashboard's figures, for a portfolio or for the whole country, read from the rollups.

Widgets: the average score and its grade, the grade distribution, active and inactive
organisations, the worst organisations, the most critical and the most common issues, the
daily trend, and (nationally) the breakdown by sector, county or municipality. Each takes a
`Scope` (sector, county, municipality; None = all).

A view never recomputes a score: it sums what `store.rollup` keeps in step with the ratings.
Nationally, every figure is one indexed read of a rollup table of at most a few tens of
thousands of rows (the municipality tables when a municipality is chosen), whatever the
number of organisations; `worst` is a range of the score index. A portfolio (the
organisations a user follows) reads its members' `OrgLatest` rows, and its trend their
snapshots, so its cost grows with its size, not the country's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVarTuple

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, select, true
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.rating.model import grade_for
from utsyn.rules.rulebook import Rulebook
from utsyn.rules.weights import GRADE_ORDER, Severity
from utsyn.store.models import (
    GradeCount,
    IssueCount,
    MunicipalityGradeCount,
    MunicipalityIssueCount,
    MunicipalityScoreDay,
    NationalScoreDay,
    Organisation,
    OrgLatest,
    Portfolio,
    PortfolioMember,
    ScoreDay,
    ScoreSnapshot,
)

Breakdown = Literal["sector", "county", "municipality"]
Ts = TypeVarTuple("Ts")
SEVERITY_ORDER = tuple(Severity)  # critical first; rules the rulebook lacks come last


@dataclass(frozen=True)
class Scope:
    """Which organisations count: None in a field means every value."""

    sector: str | None = None
    county: str | None = None
    municipality: str | None = None


@dataclass(frozen=True)
class GradeShare:
    grade: str
    orgs: int
    percent: float


@dataclass(frozen=True)
class Summary:
    """Average score and its grade, grade distribution, active and inactive organisations."""

    orgs: int
    active: int
    inactive: int
    average: float | None  # None when no organisation is rated
    grade: str | None  # the grade of the average score
    grades: tuple[GradeShare, ...]  # A to F, each present (0 when none)


@dataclass(frozen=True)
class OrgScore:
    org_id: int
    orgnr: str
    name: str
    score: float
    grade: str
    sector: str
    county: str
    municipality: str


@dataclass(frozen=True)
class IssueShare:
    rule: str
    severity: str | None  # None: a rule of another rulebook version than the shipped one
    orgs: int
    percent: float  # of the rated organisations in scope


@dataclass(frozen=True)
class TrendPoint:
    day: date
    rulebook_version: str
    orgs: int
    average: float
    grade: str


@dataclass(frozen=True)
class Area:
    """One sector, county or municipality in a national breakdown."""

    key: str  # '' when unknown
    summary: Summary


@dataclass(frozen=True)
class Dashboard:
    summary: Summary
    worst: tuple[OrgScore, ...]
    critical: tuple[IssueShare, ...]  # by severity, then by organisations affected
    common: tuple[IssueShare, ...]  # by organisations affected
    trend: tuple[TrendPoint, ...]


@dataclass(frozen=True)
class Source:
    """Every organisation (`portfolio_id` None) or the members of one portfolio."""

    portfolio_id: int | None = None


NATIONAL = Source()


# ------------------------------------------------------------------ summary


def summary(session: Session, source: Source = NATIONAL, scope: Scope = Scope()) -> Summary:
    """Average and its grade, grade distribution, active and inactive organisations."""
    if source.portfolio_id is not None:
        query = _member_cells(source.portfolio_id, scope)
    else:
        query = _rollup_cells(scope)
    return _summarise(session.execute(query))


def _rollup_cells(scope: Scope) -> Select[str, bool, int, int]:
    table = MunicipalityGradeCount if scope.municipality is not None else GradeCount
    cells = select(table.grade, table.active, func.sum(table.orgs), func.sum(table.score_tenths))
    return cells.where(*_dims(table, scope)).group_by(table.grade, table.active)


def _member_cells(portfolio_id: int, scope: Scope) -> Select[str, bool, int, int]:
    cells = select(OrgLatest.grade, OrgLatest.active, func.count(), func.sum(_tenths(OrgLatest)))
    return _members(cells, portfolio_id, scope).group_by(OrgLatest.grade, OrgLatest.active)


def _tenths(table: type[OrgLatest] | type[ScoreSnapshot]) -> ColumnElement[int]:
    # The rollups' exact integer sum (rollup.tenths), so both paths agree to the last digit.
    return cast(func.round(table.score * 10), BigInteger)


def _summarise(cells: Iterable[tuple[str, bool, int, int]]) -> Summary:
    orgs: dict[str, int] = dict.fromkeys(GRADE_ORDER, 0)
    active = tenths = 0
    for grade, is_active, count, score in cells:
        orgs[grade] = orgs.get(grade, 0) + int(count)
        active += int(count) if is_active else 0
        tenths += int(score or 0)
    total = sum(orgs.values())
    average = tenths / total / 10 if total else None
    shares = tuple(GradeShare(g, n, _percent(n, total)) for g, n in orgs.items())
    of_average = grade_for(average) if average is not None else None
    return Summary(total, active, total - active, average, of_average, shares)


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _dims(table: Any, scope: Scope) -> list[ColumnElement[bool]]:
    wanted = {"sector": scope.sector, "county": scope.county, "municipality": scope.municipality}
    return [getattr(table, k) == v for k, v in wanted.items() if v is not None]


def _members(query: Select[*Ts], portfolio_id: int, scope: Scope) -> Select[*Ts]:
    return query.join(PortfolioMember, PortfolioMember.org_id == OrgLatest.org_id).where(
        PortfolioMember.portfolio_id == portfolio_id, *_dims(OrgLatest, scope)
    )


# ------------------------------------------------------------------ worst


def worst(
    session: Session, source: Source = NATIONAL, scope: Scope = Scope(), limit: int = 10
) -> tuple[OrgScore, ...]:
    """The lowest scores first (ties by organisation id): a range of the score index."""
    query = select(OrgLatest, Organisation.orgnr, Organisation.name).join(
        Organisation, Organisation.id == OrgLatest.org_id
    )
    if source.portfolio_id is not None:
        # `score + 0` keeps the planner off the national score index: walking it until ten
        # members turn up reads the whole country's worst for a small portfolio. Sorting
        # the members' own rows costs what the portfolio weighs.
        query = _members(query, source.portfolio_id, scope).order_by(OrgLatest.score + 0)
    else:
        query = query.where(*_dims(OrgLatest, scope)).order_by(OrgLatest.score)
    query = query.order_by(OrgLatest.org_id).limit(limit)
    return tuple(
        OrgScore(
            row.org_id, orgnr, name, row.score, row.grade, row.sector, row.county, row.municipality
        )
        for row, orgnr, name in session.execute(query)
    )


# ------------------------------------------------------------------ issues


def issues(
    session: Session,
    book: Rulebook,
    source: Source = NATIONAL,
    scope: Scope = Scope(),
    rated: int | None = None,
) -> tuple[IssueShare, ...]:
    """Every rule counting against someone in scope, most organisations affected first.

    `rated` (the organisations in scope, the shares' denominator) is read when not given.
    """
    if source.portfolio_id is not None:
        query = _member_issues(session, source.portfolio_id, scope)
    else:
        query = _rollup_issues(scope)
    if rated is None:
        rated = summary(session, source, scope).orgs
    counted = [(rule, int(orgs)) for rule, orgs in session.execute(query)]
    shares = [
        IssueShare(rule, _severity(book, rule), orgs, _percent(orgs, rated))
        for rule, orgs in counted
    ]
    return tuple(sorted(shares, key=lambda s: (-s.orgs, s.rule)))


def most_critical(shares: Sequence[IssueShare], limit: int = 10) -> tuple[IssueShare, ...]:
    """The issues by severity, then by organisations affected."""
    return tuple(sorted(shares, key=_criticality)[:limit])


def most_common(shares: Sequence[IssueShare], limit: int = 10) -> tuple[IssueShare, ...]:
    """The issues by share of organisations affected."""
    return tuple(sorted(shares, key=lambda s: (-s.orgs, s.rule))[:limit])


def _criticality(share: IssueShare) -> tuple[int, int, str]:
    known = [str(s) for s in SEVERITY_ORDER]
    rank = known.index(share.severity) if share.severity in known else len(known)
    return (rank, -share.orgs, share.rule)


def _severity(book: Rulebook, rule: str) -> str | None:
    return str(book.rule(rule).severity) if book.has(rule) else None


def _rollup_issues(scope: Scope) -> Select[str, int]:
    table = MunicipalityIssueCount if scope.municipality is not None else IssueCount
    query = select(table.rule, func.sum(table.orgs)).where(*_dims(table, scope))
    return query.group_by(table.rule)


def _member_issues(session: Session, portfolio_id: int, scope: Scope) -> Select[str, int]:
    # The members' rules, expanded in the database: a big portfolio never crosses the wire.
    each = "jsonb_array_elements_text" if _is_postgresql(session) else "json_each"
    rules = getattr(func, each)(OrgLatest.rules).table_valued("value")
    query = select(rules.c.value, func.count()).select_from(OrgLatest).join(rules, true())
    return _members(query, portfolio_id, scope).group_by(rules.c.value)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# ------------------------------------------------------------------ trend


def trend(
    session: Session, source: Source = NATIONAL, scope: Scope = Scope(), since: date | None = None
) -> tuple[TrendPoint, ...]:
    """The daily average of the snapshots saved each day, per rulebook version.

    A snapshot counts under the sector, county and municipality it was saved with.
    """
    if source.portfolio_id is not None:
        query = _member_days(source.portfolio_id, scope)
        day_column: Any = ScoreSnapshot.day
    else:
        table = _day_table(scope)
        query = _rollup_days(table, scope)
        day_column = table.day
    if since is not None:
        query = query.where(day_column >= since)
    return tuple(
        TrendPoint(day, version, int(orgs), int(score) / int(orgs) / 10, _grade(score, orgs))
        for day, version, orgs, score in session.execute(query)
    )


def _grade(score: int, orgs: int) -> str:
    return grade_for(int(score) / int(orgs) / 10)


DayTable = type[ScoreDay] | type[MunicipalityScoreDay] | type[NationalScoreDay]


def _day_table(scope: Scope) -> DayTable:
    if scope.municipality is not None:
        return MunicipalityScoreDay
    return ScoreDay if scope.sector is not None or scope.county is not None else NationalScoreDay


def _rollup_days(table: DayTable, scope: Scope) -> Select[date, str, int, int]:
    query = select(
        table.day, table.rulebook_version, func.sum(table.orgs), func.sum(table.score_tenths)
    ).where(*_dims(table, scope))
    return query.group_by(table.day, table.rulebook_version).order_by(
        table.day, table.rulebook_version
    )


def _member_days(portfolio_id: int, scope: Scope) -> Select[date, str, int, int]:
    snap = ScoreSnapshot
    query = (
        select(snap.day, snap.rulebook_version, func.count(), func.sum(_tenths(snap)))
        .join(PortfolioMember, PortfolioMember.org_id == snap.org_id)
        .where(PortfolioMember.portfolio_id == portfolio_id, *_dims(snap, scope))
    )
    return query.group_by(snap.day, snap.rulebook_version).order_by(snap.day, snap.rulebook_version)


def latest_day(session: Session) -> date | None:
    """The last day any snapshot was saved (the trend's end)."""
    day: date | None = session.scalar(select(func.max(NationalScoreDay.day)))
    return day


# ------------------------------------------------------------------ breakdown


def breakdown(session: Session, by: Breakdown, scope: Scope = Scope()) -> tuple[Area, ...]:
    """Nationally, per sector, county or municipality: average, grades, organisations."""
    by_municipality = by == "municipality" or scope.municipality is not None
    table = MunicipalityGradeCount if by_municipality else GradeCount
    column = getattr(table, by)
    sums = (func.sum(table.orgs), func.sum(table.score_tenths))
    query = (
        select(column, table.grade, table.active, *sums)
        .where(*_dims(table, scope))
        .group_by(column, table.grade, table.active)
    )
    cells: dict[str, list[tuple[str, bool, int, int]]] = {}
    for key, grade, active, orgs, score in session.execute(query):
        cells.setdefault(key, []).append((grade, active, orgs, score))
    return tuple(Area(key, _summarise(rows)) for key, rows in sorted(cells.items()))


# ------------------------------------------------------------------ the whole dashboard


def dashboard(
    session: Session,
    book: Rulebook,
    source: Source = NATIONAL,
    scope: Scope = Scope(),
    limit: int = 10,
    since: date | None = None,
) -> Dashboard:
    overall = summary(session, source, scope)
    shares = issues(session, book, source, scope, overall.orgs)
    return Dashboard(
        overall,
        worst(session, source, scope, limit),
        most_critical(shares, limit),
        most_common(shares, limit),
        trend(session, source, scope, since),
    )


def portfolio_named(session: Session, name: str) -> Source:
    """The portfolio of that name (names are unique per owner: an ambiguous name is an error)."""
    ids = session.scalars(select(Portfolio.id).where(Portfolio.name == name)).all()
    if not ids:
        raise ConfigError("no portfolio named %(name)r", name=name)
    if len(ids) > 1:
        raise ConfigError(
            "%(count)s portfolios are named %(name)r: rename one", count=len(ids), name=name
        )
    return Source(ids[0])
