"""The board summary PDF and the exports, from the web UI (report/ does the work).

The PDF is for anyone who may see the organisation; exports are authorised by
`report.exports.export` itself (national exports for national roles only).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from utsyn.report.board import board_pdf
from utsyn.report.exports import export
from utsyn.report.scope import Caller, ExportRefused, Scope
from utsyn.store.models import Organisation
from utsyn.web.api import PROBLEMS
from utsyn.web.deps import CurrentPrincipal, DbSession, Lang, Principal
from utsyn.web.i18n import N_
from utsyn.web.pages import PageOrganisation, PagePrincipal
from utsyn.web.problems import Problem

router = APIRouter()
api_router = APIRouter(prefix="/api/v1", responses=PROBLEMS)

_MEDIA = {"csv": "text/csv", "json": "application/json", "stix": "application/stix+json"}


@router.get("/org/{orgnr}/board.pdf", include_in_schema=False)
def board(
    principal: PagePrincipal, org: PageOrganisation, session: DbSession, lang: Lang
) -> Response:
    pdf = board_pdf(session, org.orgnr, lang=lang)
    name = f"utsyn-styresammendrag-{org.orgnr}-{lang}.pdf"
    headers = {"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"}
    del principal
    return Response(pdf, media_type="application/pdf", headers=headers)


@api_router.get(
    "/exports",
    summary="Findings as CSV, JSON or a STIX 2.1 bundle (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in _MEDIA.values()}}},
)
def exports(
    principal: CurrentPrincipal,
    session: DbSession,
    lang: Lang,
    scope: Annotated[Literal["org", "portfolio", "national"], Query()] = "org",
    fmt: Annotated[Literal["csv", "json", "stix"], Query(alias="format")] = "json",
    orgnr: Annotated[str | None, Query(pattern=r"^[0-9]{9}$")] = None,
    portfolio: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> StreamingResponse:
    caller = Caller(principal.role, _own_orgnr(session, principal), principal.user_id)
    try:
        chunks = export(session, Scope(scope, orgnr, portfolio), caller, fmt, lang=lang)
    except ExportRefused as exc:
        raise Problem(403, N_("Forbidden"), N_("Your role may not have this export.")) from exc
    stream = (chunk.encode("utf-8") for chunk in chunks)
    return StreamingResponse(stream, media_type=_MEDIA[fmt], headers={"Cache-Control": "no-store"})


def _own_orgnr(session: DbSession, principal: Principal) -> str | None:
    if principal.org_id is None:
        return None
    org = session.get(Organisation, principal.org_id)
    return org.orgnr if org is not None else None
