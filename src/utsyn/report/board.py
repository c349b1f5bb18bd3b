"""The board summary: one organisation's cyber risk on at most two A4 pages, as a PDF.

It reads what the rating produced (the latest score snapshot, the snapshot history, the
findings' lifecycle) and takes its risks from the action plan (`rating.actions`): the same
issues, order, points and way to the next grade as the scorecard and `utsyn rating plan`;
it never computes a score of its own. Texts come from the rulebook (Markdown; a
description's first sentence is written for leaders) and from `report.labels`.

Everything that came from a scanned server (asset names, finding details) reaches the PDF
through Jinja2 autoescaping, and WeasyPrint may fetch nothing but `data:` URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError, UtsynError
from utsyn.geo import counties
from utsyn.i18n import Language, checked_language
from utsyn.portfolio import aggregate
from utsyn.rating.actions import ActionPlan, Group, action_plan
from utsyn.rating.explain import area_losses, binding_caps
from utsyn.rating.model import Rating
from utsyn.report import chart
from utsyn.report.display import shown_value
from utsyn.report.labels import (
    effort_names,
    factor_names,
    labels,
    long_date,
    number,
    sector_name,
    severity_name,
    signed,
)
from utsyn.report.markdown import to_html, to_inline_html
from utsyn.rules.rulebook import Rulebook, load_rulebook
from utsyn.store.assessments import shown_rating, with_evidence
from utsyn.store.models import Finding, Organisation, OrgLatest, ScoreSnapshot
from utsyn.store.orgs import organisation

# A sector average is shown only over at least this many rated organisations, so that no
# single organisation's score can be read out of it (k-anonymity; stated in the PDF).
SECTOR_MIN_ORGS = 5
MAX_PAGES = 2
TREND_DAYS = 365


class ReportError(UtsynError):
    """The report cannot be made as asked (for example: it would not fit its pages)."""


@dataclass(frozen=True)
class Risk:
    """One issue of the action plan, in the plan's order."""

    rule: str
    title: str
    meaning: str  # the first sentence of the rule's description: what it means (Markdown)
    severity: str
    effort: str | None  # `rules.rulebook.Effort`, when the rulebook states it
    recover: float  # points fixing every finding of this issue gives back
    assets: tuple[str, ...]  # the affected assets, costliest first
    step: int | None  # its place on the way to the next grade (from 1); None: not needed


@dataclass(frozen=True)
class NextGrade:
    """The action plan's way to the next grade (None on BoardData: the grade is A)."""

    grade: str
    steps: int  # the fixes it takes: the first risks, in order
    score: float  # the score once they are fixed
    reached: bool


@dataclass(frozen=True)
class Sector:
    sector: str
    orgs: int
    average: float | None  # None below the threshold: never shown


@dataclass(frozen=True)
class RuleChange:
    rule: str
    title: str
    new: int
    resolved: int
    effect: float | None  # points the score gained (+) or lost (−) on this issue


@dataclass(frozen=True)
class Changes:
    since: date | None  # None: no earlier rating and no date given
    before: float | None  # the score then, when there was a rating before `since`
    rules: tuple[RuleChange, ...]


@dataclass(frozen=True)
class BoardData:
    lang: Language
    orgnr: str
    name: str
    area: str  # county name, when known
    prepared: datetime
    rated_on: date
    score: float
    grade: str
    caps: tuple[str, ...]  # the findings that cap the grade (title and asset)
    rulebook_version: str
    factors: tuple[tuple[str, float], ...]  # points lost by area, the most first
    lost: float  # their sum: 100 − score, unless the score stopped at 0
    stopped_at_zero: bool
    trend: tuple[chart.TrendPoint, ...]
    risks: tuple[Risk, ...]
    next_grade: NextGrade | None
    sector: Sector
    min_sector_orgs: int
    changes: Changes


@dataclass(frozen=True)
class Detail:
    """How much of each list a page holds; fewer when the pages overflow."""

    risks: int
    changes: int


DETAILS = (Detail(5, 6), Detail(4, 4), Detail(3, 3), Detail(2, 2))


# ------------------------------------------------------------------ the data


def board_data(
    session: Session,
    orgnr: str,
    lang: str = "nb",
    since: date | None = None,
    now: datetime | None = None,
    book: Rulebook | None = None,
    min_sector_orgs: int = SECTOR_MIN_ORGS,
) -> BoardData:
    """Everything the board summary shows, read from the store and the rating.

    `since`: report changes since this date; default: since the previous snapshot.
    """
    language = checked_language(lang)
    book = book or load_rulebook()
    now = now or datetime.now(UTC)
    org = organisation(session, orgnr)
    snap = _latest_snapshot(session, org)
    shown = shown_rating(session, org)
    if shown is None:
        raise ConfigError(
            "organisation %(orgnr)s has not been rated yet: scan it first", orgnr=org.orgnr
        )
    rating = shown.rating
    plan = action_plan(with_evidence(session, org, shown.assessment), book)
    losses = area_losses(rating)
    return BoardData(
        lang=language,
        orgnr=org.orgnr,
        name=org.name,
        area=counties().get(org.county or "", ""),
        prepared=now,
        rated_on=snap.day,
        score=snap.score,
        grade=snap.grade,
        caps=_binding_caps(rating, book, language),
        rulebook_version=snap.rulebook_version,
        # The weakest area first: where a board's attention should go.
        factors=tuple(losses.parts.items()),
        lost=losses.total,
        stopped_at_zero=losses.stopped_at_zero,
        trend=tuple(_trend(session, org, snap.day)),
        risks=_risks(plan, book, language),
        next_grade=_next_grade(plan),
        sector=_sector(session, org, min_sector_orgs),
        min_sector_orgs=min_sector_orgs,
        changes=_changes(session, org, snap, since, book, language),
    )


def _binding_caps(rating: Rating, book: Rulebook, lang: Language) -> tuple[str, ...]:
    """The findings that hold the grade below what the score alone would give, if any."""
    return tuple(f"{_title(book, c.rule, lang)} ({c.asset})" for c in binding_caps(rating))


def _latest_snapshot(session: Session, org: Organisation) -> ScoreSnapshot:
    latest = session.get(OrgLatest, org.id)
    if latest is None:
        raise ConfigError(
            "organisation %(orgnr)s has not been rated yet: scan it first", orgnr=org.orgnr
        )
    return session.get_one(ScoreSnapshot, latest.snapshot_id)


def _trend(session: Session, org: Organisation, end: date) -> list[chart.TrendPoint]:
    """One point per day (that day's last saved rating) over the year up to `end`."""
    rows = session.execute(
        select(ScoreSnapshot.day, ScoreSnapshot.score)
        .where(
            ScoreSnapshot.org_id == org.id,
            ScoreSnapshot.day > end - timedelta(days=TREND_DAYS),
            ScoreSnapshot.day <= end,
        )
        .order_by(ScoreSnapshot.day, ScoreSnapshot.saved, ScoreSnapshot.id)
    )
    by_day = {day: score for day, score in rows}
    return [chart.TrendPoint(day, score) for day, score in sorted(by_day.items())]


def _risks(plan: ActionPlan, book: Rulebook, lang: Language) -> tuple[Risk, ...]:
    """Every issue that costs points, in the action plan's order."""
    steps = {s.rule: n for n, s in enumerate(plan.next.steps if plan.next else (), 1)}
    return tuple(_risk(g, book, lang, steps.get(g.rule)) for g in plan.groups)


def _risk(group: Group, book: Rulebook, lang: Language, step: int | None) -> Risk:
    rule = book.rule(group.rule)
    return Risk(
        rule=rule.id,
        title=rule.title.get(lang),
        meaning=first_sentence(rule.description.get(lang)),
        severity=str(rule.severity),
        effort=str(group.effort) if group.effort else None,
        recover=group.recover,
        assets=group.assets,
        step=step,
    )


def _next_grade(plan: ActionPlan) -> NextGrade | None:
    if plan.next is None:
        return None
    last = plan.next.steps[-1].score if plan.next.steps else plan.score
    return NextGrade(plan.next.grade, len(plan.next.steps), last, plan.next.reached)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9«\"(])")


def first_sentence(text: str) -> str:
    """The first sentence: a full stop followed by a capital starts the next one."""
    return _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]


def _sector(session: Session, org: Organisation, min_orgs: int) -> Sector:
    """The sector's average score now: the dashboard's figure, read from the rollups."""
    sector = org.sector or ""
    figures = aggregate.summary(session, aggregate.NATIONAL, aggregate.Scope(sector=sector))
    shown = figures.average if figures.orgs >= min_orgs else None
    return Sector(sector, figures.orgs, shown)


def _changes(
    session: Session,
    org: Organisation,
    snap: ScoreSnapshot,
    since: date | None,
    book: Rulebook,
    lang: Language,
) -> Changes:
    """New and resolved findings and each issue's effect on the score since a baseline.

    The baseline is the last snapshot before `since`, or by default the snapshot before the
    latest one (the previous report); findings count from the moment that baseline was saved.
    """
    baseline = _baseline(session, org, since or snap.day)
    if since is not None:
        cut = datetime.combine(since, time(0), UTC)
    elif baseline is not None:
        cut = baseline.saved
    else:
        return Changes(None, None, ())
    new = _count_by_rule(session, org, Finding.first_seen > cut, Finding.resolved.is_(None))
    fixed = _count_by_rule(session, org, Finding.resolved > cut, Finding.first_seen <= cut)
    before = baseline.penalties if baseline is not None else None
    rules = []
    for rule in sorted(new.keys() | fixed.keys() | set(snap.penalties) | set(before or {})):
        effect = _effect(rule, before, snap.penalties)
        if new.get(rule) or fixed.get(rule) or (effect is not None and abs(effect) >= 0.05):
            title = _title(book, rule, lang)
            rules.append(RuleChange(rule, title, new.get(rule, 0), fixed.get(rule, 0), effect))
    rules.sort(key=lambda c: (-abs(c.effect or 0.0), -(c.new + c.resolved), c.rule))
    day = since or (baseline.day if baseline is not None else None)
    return Changes(day, baseline.score if baseline is not None else None, tuple(rules))


def _baseline(session: Session, org: Organisation, before: date) -> ScoreSnapshot | None:
    return session.scalars(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.org_id == org.id, ScoreSnapshot.day < before)
        .order_by(ScoreSnapshot.day.desc(), ScoreSnapshot.saved.desc(), ScoreSnapshot.id.desc())
        .limit(1)
    ).first()


def _count_by_rule(session: Session, org: Organisation, *where: Any) -> dict[str, int]:
    rows = session.execute(
        select(Finding.rule, func.count())
        .where(Finding.org_id == org.id, *where)
        .group_by(Finding.rule)
    )
    return {rule: int(count) for rule, count in rows}


def _effect(rule: str, before: dict[str, Any] | None, after: dict[str, Any]) -> float | None:
    if before is None:
        return None
    return round(float(before.get(rule, 0.0)) - float(after.get(rule, 0.0)), 1)


def _title(book: Rulebook, rule: str, lang: Language) -> str:
    return book.rule(rule).title.get(lang) if book.has(rule) else rule


# ------------------------------------------------------------------ the page


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("utsyn.report", "templates"),
        autoescape=True,  # every value, including whatever a scanned server said
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=shown_value,  # no control or bidi-override character reaches the PDF
    )
    env.filters["number"] = number
    env.filters["signed"] = signed
    env.filters["long_date"] = long_date
    env.filters["md"] = to_html  # the rulebook's Markdown, sanitised
    env.filters["md_inline"] = to_inline_html
    return env


def render_html(data: BoardData, detail: Detail = DETAILS[0]) -> str:
    """The board summary as HTML (what the PDF is rendered from)."""
    template = _environment().get_template("board.html.j2")
    return template.render(
        d=data,
        t=labels(data.lang),
        detail=detail,
        factor_names=factor_names(data.lang),
        effort_names=effort_names(data.lang),
        sector_label=sector_name(data.sector.sector, data.lang),
        trend_svg=chart.trend_svg(list(data.trend), data.rated_on, data.lang),
        severity=lambda s: severity_name(s, data.lang),
    )


def render_pdf(data: BoardData) -> bytes:
    """The PDF, with as much detail as fits on `MAX_PAGES` A4 pages."""
    # Imported here: WeasyPrint takes ~0.5–1.3 s to import (measured with -X importtime),
    # which every web and CLI start would pay for a PDF few of them make.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Only inline data: a stray URL in the HTML must never become a network request.
    fetcher = URLFetcher(allowed_protocols=("data",))
    for detail in DETAILS:
        document = HTML(string=render_html(data, detail), url_fetcher=fetcher).render()
        if len(document.pages) <= MAX_PAGES:
            pdf: bytes = document.write_pdf()
            return pdf
    raise ReportError(
        "the board summary of %(orgnr)s does not fit on %(pages)s pages",
        orgnr=data.orgnr,
        pages=MAX_PAGES,
    )


def board_pdf(
    session: Session,
    orgnr: str,
    lang: str = "nb",
    since: date | None = None,
    now: datetime | None = None,
) -> bytes:
    """The board summary PDF of one organisation (the function the web route calls)."""
    return render_pdf(board_data(session, orgnr, lang, since, now))
