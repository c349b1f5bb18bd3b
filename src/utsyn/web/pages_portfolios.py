"""The portfolio page (/portefoljer): a national user's own portfolios and their members.

A portfolio is the organisations a user follows; /oversikt?portfolio=<id> shows its
figures. National roles make portfolios, add and remove organisations by organisation
number, and delete them (`store.portfolios`, audited); another user's portfolio is 404,
organisation roles get 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.orgnr import is_valid_orgnr
from utsyn.store import portfolios, reads
from utsyn.store.models import Organisation, Portfolio
from utsyn.web.deps import DbSession, Principal
from utsyn.web.i18n import N_, request_language
from utsyn.web.pages import PagePrincipal
from utsyn.web.pages_dashboard import number
from utsyn.web.problems import Problem
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

PortfolioId = Annotated[int, Path(ge=1, le=2**53)]
DONE = {
    "made": N_("The portfolio is made."),
    "added": N_("The organisation is added."),
    "removed": N_("The organisation is removed."),
    "deleted": N_("The portfolio is deleted."),
}


def _national(principal: Principal) -> Principal:
    if not principal.national:
        raise Problem(
            403, N_("Forbidden"), N_("Only the national roles see figures across organisations.")
        )
    return principal


def _own(session: Session, principal: Principal, portfolio_id: int) -> Portfolio:
    _national(principal)
    found = reads.portfolio(session, principal.user_id, portfolio_id)
    if found is None:
        raise Problem(404, N_("Not found"), N_("You have no such portfolio."))
    return found


def _member(session: Session, orgnr: str) -> Organisation:
    orgnr = orgnr.strip().replace(" ", "")
    if not is_valid_orgnr(orgnr):
        raise Problem(400, N_("Bad request"), N_("That is not a valid organisation number."))
    org = reads.organisation(session, reads.Scope.national(), orgnr)
    if org is None:
        raise Problem(404, N_("Not found"), N_("No organisation has that number."))
    return org


def _back(done: str, portfolio_id: int | None = None) -> Response:
    anchor = f"#portfolio-{portfolio_id}" if portfolio_id else ""
    return RedirectResponse(f"/portefoljer?done={done}{anchor}", status_code=303)


@router.get("/portefoljer")
def portfolio_page(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    _national(principal)
    owned = reads.portfolios(session, principal.user_id)
    members = {p.id: portfolios.members(session, p) for p in owned}
    latest = {o.id: reads.latest(session, o) for orgs in members.values() for o in orgs}
    ctx = {
        "principal": principal,
        "portfolios": owned,
        "members": members,
        "latest": latest,
        "done": DONE.get(request.query_params.get("done", "")),
        "num": number(request_language(request)),
    }
    return render(request, "portfolios.html", ctx)


@router.post("/portefoljer")
def make_portfolio(
    principal: PagePrincipal,
    session: DbSession,
    name: Annotated[str, Form(max_length=portfolios.NAME_LENGTH)],
) -> Response:
    _national(principal)
    name = name.strip()
    if not name or "\x00" in name:
        raise Problem(400, N_("Bad request"), N_("Give the portfolio a name."))
    if any(p.name == name for p in reads.portfolios(session, principal.user_id)):
        raise Problem(409, N_("Conflict"), N_("You have a portfolio of that name already."))
    try:
        made = portfolios.create(session, principal.user_id, name, principal.email, now_utc())
    except ConfigError as exc:  # a concurrent twin
        raise Problem(
            409, N_("Conflict"), N_("You have a portfolio of that name already.")
        ) from exc
    return _back("made", made.id)


@router.post("/portefoljer/{portfolio_id}/medlemmer")
def add_member(
    principal: PagePrincipal,
    session: DbSession,
    portfolio_id: PortfolioId,
    orgnr: Annotated[str, Form(max_length=20)],
) -> Response:
    portfolio = _own(session, principal, portfolio_id)
    portfolios.add_member(session, portfolio, _member(session, orgnr), principal.email, now_utc())
    return _back("added", portfolio.id)


@router.post("/portefoljer/{portfolio_id}/medlemmer/{orgnr}/fjern")
def remove_member(
    principal: PagePrincipal, session: DbSession, portfolio_id: PortfolioId, orgnr: str
) -> Response:
    portfolio = _own(session, principal, portfolio_id)
    org = _member(session, orgnr)
    if not portfolios.remove_member(session, portfolio, org, principal.email, now_utc()):
        raise Problem(404, N_("Not found"), N_("The organisation is not in the portfolio."))
    return _back("removed", portfolio.id)


@router.post("/portefoljer/{portfolio_id}/slett")
def delete_portfolio(
    principal: PagePrincipal, session: DbSession, portfolio_id: PortfolioId
) -> Response:
    portfolio = _own(session, principal, portfolio_id)
    portfolios.delete(session, portfolio, principal.email, now_utc())
    return _back("deleted")
