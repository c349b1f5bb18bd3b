"""Custom scorecard pages: /org/{orgnr}/scorecards/{id}, and making and deleting them.

The organisation's scorecard page (/org/{orgnr}) lists its custom scorecards and offers
editors a form (POST /org/{orgnr}/scorecards) ticking assets of the footprint. A custom
scorecard's page has its grade, score, factor scores, assets and findings, rated by the
organisation's own model on its part of the assessment (`web.custom_scorecards`).
Outside the scope 403 (`PageOrganisation`); another organisation's scorecard 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.web import custom_scorecards
from utsyn.web.deps import DbSession, context
from utsyn.web.i18n import request_language
from utsyn.web.pages import PageOrganisation, PagePrincipal
from utsyn.web.pages_dashboard import findings_context
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

CardId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/org/{orgnr}/scorecards/{scorecard_id}")
def custom_scorecard(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    scorecard_id: CardId,
) -> Response:
    book, now, lang = context(request).book, now_utc(), request_language(request)
    card = custom_scorecards.card_in(session, org, scorecard_id)
    rated = custom_scorecards.rated_one(session, org, card, book)
    shown = custom_scorecards.findings_of(session, org, rated, book)
    ctx = {
        **findings_context(book, shown, lang, now),
        "principal": principal,
        "org": org,
        "rated": rated,
        "rating": rated.rating,
        "may_edit": principal.may_edit(org),
        "made": request.query_params.get("made") == "1",
    }
    return render(request, "custom_scorecard.html", ctx)


@router.post("/org/{orgnr}/scorecards")
def make_scorecard(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    asset: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """Editors only (403); the same store logic as POST /api/v1/.../scorecards."""
    book = context(request).book
    wanted = [a for a in asset or [] if 1 <= a <= 2**53]
    card = custom_scorecards.make(session, principal, org, name, wanted, book)
    return RedirectResponse(f"/org/{org.orgnr}/scorecards/{card.id}?made=1", status_code=303)


@router.post("/org/{orgnr}/scorecards/{scorecard_id}/slett")
def delete_scorecard(
    principal: PagePrincipal, org: PageOrganisation, session: DbSession, scorecard_id: CardId
) -> Response:
    custom_scorecards.require_editor(principal, org)
    card = custom_scorecards.card_in(session, org, scorecard_id)
    custom_scorecards.remove(session, principal, org, card)
    return RedirectResponse(f"/org/{org.orgnr}#scorecards", status_code=303)
