"""The dashboard's pages: the overview (/oversikt) and an organisation's scorecard (/org/{orgnr}).

- /oversikt: national roles get the national dashboard (`portfolio.aggregate`, the same
  figures as GET /api/v1/national), or one of their portfolios', filtered by sector and
  county (a GET form: ?portfolio=&sector=&county=); organisation roles are sent to their
  own scorecard.
- /org/{orgnr}: grade, score, factor scores, the score trend (Chart.js, `web.charts`, from
  the snapshots), the findings with evidence, age and remediation; editors get a form to explain
  a finding (POST /org/{orgnr}/explain → `store.findings.explain`, re-rated, redirected back);
  its custom scorecards with their grades, and for editors a form to make one
  (`pages_scorecards`).

The grade distribution is inline SVG drawn here, the score trend a Chart.js canvas
(`static/charts.js`, figures in a data attribute): both from numbers the store gives (no
score computed here), both beside a table with the same figures. No inline script or style.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.geo import counties
from utsyn.i18n import EFFORT_NAMES, FACTOR_NAMES, SECTOR_NAMES, SEVERITY_NAMES
from utsyn.pipeline import rate_organisation
from utsyn.portfolio import aggregate
from utsyn.rating import lifecycle
from utsyn.rating.actions import action_plan
from utsyn.rules.rulebook import Rulebook
from utsyn.store import findings, reads, scorecards
from utsyn.store.assessments import shown_rating, with_evidence
from utsyn.store.models import Portfolio
from utsyn.web import charts, custom_scorecards
from utsyn.web.deps import DbSession, Principal, context
from utsyn.web.i18n import N_, Language, Translator, request_language
from utsyn.web.pages import PageOrganisation, PagePrincipal, to_own_organisation
from utsyn.web.plan import checked_filter, shown_plan
from utsyn.web.problems import Problem
from utsyn.web.ratings import ShownFinding, shown_findings
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

HISTORY_DAYS = 365
TREND_DAYS = 365  # the dashboards' trend: a year of daily rollups
EXPLAIN_DAYS = (30, 90, 180, 365)
# The grade distribution's geometry (SVG user units).
BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 48, 16, 120

KIND_NAMES = {
    lifecycle.ExplanationKind.ACCEPTED_RISK: N_("Accepted risk"),
    lifecycle.ExplanationKind.COMPENSATING_CONTROL: N_("Compensating control"),
    lifecycle.ExplanationKind.FALSE_POSITIVE: N_("False positive (reviewed nationally)"),
}
STATUS_NAMES = {
    lifecycle.Status.OPEN: N_("Open"),
    lifecycle.Status.DISPUTED: N_("Disputed"),
    lifecycle.Status.EXPLAINED: N_("Explained"),
    lifecycle.Status.STALE: N_("Stale"),
    lifecycle.Status.RESOLVED: N_("Resolved"),
}


@dataclass(frozen=True)
class Bar:
    grade: str
    orgs: int
    percent: float
    x: int
    y: float
    height: float


def grade_bars(shares: tuple[aggregate.GradeShare, ...]) -> tuple[Bar, ...]:
    top = max((s.orgs for s in shares), default=0) or 1
    bars = []
    for i, share in enumerate(shares):
        height = BAR_HEIGHT * share.orgs / top
        x = i * (BAR_WIDTH + BAR_GAP)
        bars.append(Bar(share.grade, share.orgs, share.percent, x, BAR_HEIGHT - height, height))
    return tuple(bars)


def number(lang: Language) -> Callable[[float | None, int], str]:
    """A number as the language writes it: 72,5 in bokmål, 72.5 in English."""

    def shown(value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        text = f"{value:.{digits}f}"
        return text.replace(".", ",") if lang == "nb" else text

    return shown


def issue_titles(
    book: Rulebook, shares: tuple[aggregate.IssueShare, ...], lang: Language
) -> dict[str, str]:
    return {
        s.rule: book.rule(s.rule).title.get(lang) if book.has(s.rule) else s.rule for s in shares
    }


@dataclass(frozen=True)
class Choice:
    """What the overview shows: everyone or one of the user's portfolios, and a filter."""

    portfolio: Portfolio | None
    scope: aggregate.Scope

    @property
    def source(self) -> aggregate.Source:
        return aggregate.Source(self.portfolio.id) if self.portfolio else aggregate.NATIONAL


def overview_choice(
    session: Session, principal: Principal, portfolio: str, sector: str, county: str
) -> Choice:
    """The overview form's choice, checked: 400 when malformed, 404 for another's portfolio."""
    chosen = None
    if portfolio:
        if not portfolio.isdigit() or len(portfolio) > 15:
            raise Problem(400, N_("Bad request"), N_("Choose a portfolio from the list."))
        chosen = reads.portfolio(session, principal.user_id, int(portfolio))
        if chosen is None:
            raise Problem(404, N_("Not found"), N_("You have no such portfolio."))
    if sector and sector not in SECTOR_NAMES:
        raise Problem(400, N_("Bad request"), N_("Choose a sector from the list."))
    if county and county not in counties():
        raise Problem(400, N_("Bad request"), N_("Choose a county from the list."))
    return Choice(chosen, aggregate.Scope(sector or None, county or None))


@router.get("/oversikt")
def overview(
    request: Request,
    principal: PagePrincipal,
    session: DbSession,
    portfolio: str = "",
    sector: str = "",
    county: str = "",
) -> Response:
    if not principal.national:
        return to_own_organisation(session, principal)
    choice = overview_choice(session, principal, portfolio, sector, county)
    book = context(request).book
    since = now_utc().date() - timedelta(days=TREND_DAYS)
    found = aggregate.dashboard(session, book, choice.source, choice.scope, since=since)
    lang = request_language(request)
    titles = issue_titles(book, found.critical + found.common, lang)
    ctx = {
        "principal": principal,
        "choice": choice,
        "portfolios": reads.portfolios(session, principal.user_id),
        "sector_names": SECTOR_NAMES,
        "counties": counties(),
        "dash": found,
        "bars": grade_bars(found.summary.grades),
        "bar_width": BAR_WIDTH,
        "chart_width": len(found.summary.grades) * (BAR_WIDTH + BAR_GAP),
        "bar_height": BAR_HEIGHT,
        "titles": titles,
        "severity_names": SEVERITY_NAMES,
        "num": number(lang),
        "trend_chart": charts.trend_chart(found.trend, Translator(lang).gettext),
    }
    return render(request, "overview.html", ctx)


@router.get("/org/{orgnr}")
def scorecard(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    area: str = "",
    severity: str = "",
) -> Response:
    """The grade and score, the action plan (filtered by ?area= and ?severity=), the points
    lost by area, the trend and the custom scorecards."""
    chosen = checked_filter(area, severity)
    book, now = context(request).book, now_utc()
    lang = request_language(request)
    saved = shown_rating(session, org)
    rating = saved.rating if saved is not None else None
    shown = shown_findings(session, org, rating, book, now) if rating is not None else []
    plan = None
    if saved is not None:
        plan = shown_plan(
            action_plan(with_evidence(session, org, saved.assessment), book), shown, book, chosen
        )
    history = list(reversed(reads.snapshots(session, org, HISTORY_DAYS, 0).items))
    score_label = Translator(lang).gettext("Score")
    ctx = {
        **findings_context(book, shown, lang, now),
        "principal": principal,
        "org": org,
        "rating": rating,
        "now": now,
        "history": history,
        "trend_chart": charts.snapshot_chart(history, score_label, score_label),
        "may_edit": principal.may_edit(org),
        "custom": custom_scorecards.rated_all(session, org, book),
        "eligible": scorecards.eligible_assets(session, org) if principal.may_edit(org) else [],
        "kind_names": KIND_NAMES,
        "explain_days": EXPLAIN_DAYS,
        "explained": request.query_params.get("explained"),
        "plan": plan,
        "effort_names": EFFORT_NAMES,
    }
    return render(request, "scorecard.html", ctx)


def findings_context(
    book: Rulebook, shown: list[ShownFinding], lang: Language, now: datetime
) -> dict[str, Any]:
    """What a page listing a rating's findings needs (templates `_rating.html`,
    `_factors.html`, `_finding_facts.html`): the findings, their rules and the names."""
    return {
        "findings": shown,
        "rules": {f.row.rule: book.rule(f.row.rule) for f in shown if book.has(f.row.rule)},
        "factor_names": FACTOR_NAMES,
        "status_names": STATUS_NAMES,
        "severity_names": SEVERITY_NAMES,
        "text": lambda t: t.get(lang),
        "num": number(lang),
        "age_days": lambda f: max(0, (now - f.row.first_seen).days),
    }


@router.post("/org/{orgnr}/explain")
def explain_finding(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    key: Annotated[str, Form(min_length=1, max_length=2000)],
    kind: Annotated[lifecycle.ExplanationKind, Form()],
    reason: Annotated[str, Form(max_length=4000)],
    days: Annotated[int, Form(ge=1, le=365)] = 90,
) -> Response:
    """The same store logic as POST /api/v1/organisations/{orgnr}/explanations."""
    if not principal.may_edit(org):
        raise Problem(403, N_("Forbidden"), N_("Your role may not change this organisation."))
    if "\x00" in key or "\x00" in reason:
        raise Problem(400, N_("Bad request"))
    if key not in reads.finding_rows(session, org):
        raise Problem(404, N_("Not found"), N_("The organisation has no such finding."))
    if len(reason.strip()) < 10:
        raise Problem(400, N_("Bad request"), N_("The reason must be at least 10 characters."))
    now, book = now_utc(), context(request).book
    try:
        made = findings.explain(
            session, org, key, kind, reason, principal.email, now, now + timedelta(days=days), book
        )
    except ConfigError as exc:
        raise Problem(400, N_("Bad request"), N_("This finding cannot be explained.")) from exc
    rate_organisation(session, org.orgnr, book)
    shown = "review" if made.review == lifecycle.Review.PENDING else "1"
    return RedirectResponse(f"/org/{org.orgnr}?explained={shown}#plan", status_code=303)


@router.get("/issue/{rule_id}")
def issue_type(
    request: Request, rule_id: str, principal: PagePrincipal, session: DbSession
) -> Response:
    """One issue type: what it is, how to fix it, and which organisations (in scope) have it."""
    book = context(request).book
    if not book.has(rule_id):
        raise Problem(404, N_("Not found"))
    rule = book.rule(rule_id)
    lang = request_language(request)
    affected = reads.organisations_with_rule(session, principal.scope, rule_id)
    ctx = {
        "principal": principal,
        "rule": rule,
        "title": rule.title.get(lang),
        "description": rule.description.get(lang),
        "remediation": rule.remediation.get(lang),
        "affected": affected,
        "severity_names": SEVERITY_NAMES,
    }
    return render(request, "issue.html", ctx)
