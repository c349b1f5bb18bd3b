"""The dispute review page (/tvister): the national reviewers' queue of false-positive claims
and of explanations of high or critical findings (`rating.lifecycle.needs_review`).

National roles read the queue (organisation, finding, kind, rule, evidence, the claim's
reason, author and dates); only a national admin, not the claim's author, decides. A decision is
`web.disputes.decide`, the same path as POST /api/v1/disputes/{id}/review: audited with
the note, and the organisation re-rated. Organisation roles get 403.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from utsyn.i18n import SEVERITY_NAMES
from utsyn.store import reads
from utsyn.web import disputes
from utsyn.web.deps import DbSession, Principal, context
from utsyn.web.i18n import N_, request_language
from utsyn.web.pages import PagePrincipal
from utsyn.web.pages_dashboard import KIND_NAMES
from utsyn.web.problems import Problem
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
DECIDED = {
    "accepted": N_("The dispute is accepted and the organisation re-rated."),
    "rejected": N_("The dispute is rejected and the organisation re-rated."),
}


def require_national(principal: Principal) -> None:
    if not principal.national:
        raise Problem(403, N_("Forbidden"), N_("Only the national roles see the dispute queue."))


@router.get("/tvister")
def dispute_queue(
    request: Request,
    principal: PagePrincipal,
    session: DbSession,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    require_national(principal)
    book, lang = context(request).book, request_language(request)
    page = reads.disputes(session, principal.scope, "pending", PAGE_SIZE, offset)
    rules = {
        row.finding.rule: book.rule(row.finding.rule)
        for row in page.items
        if book.has(row.finding.rule)
    }
    decided = request.query_params.get("decided", "")
    ctx = {
        "principal": principal,
        "disputes": page.items,
        "total": page.total,
        "offset": offset,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < page.total else None,
        "rules": rules,
        "may_decide": principal.is_admin,
        "severity_names": SEVERITY_NAMES,
        "kind_names": KIND_NAMES,
        "decided": DECIDED.get(decided),
        "text": lambda t: t.get(lang),
        "when": lambda at: at.strftime("%Y-%m-%d %H:%M"),
    }
    return render(request, "disputes.html", ctx)


@router.post("/tvister/{explanation_id}")
def decide_dispute(
    request: Request,
    principal: PagePrincipal,
    session: DbSession,
    explanation_id: Annotated[int, Path(ge=1, le=2**53)],
    decision: Annotated[Literal["accept", "reject"], Form()],
    note: Annotated[str, Form(max_length=disputes.NOTE_LENGTH)] = "",
) -> Response:
    """The same decision as POST /api/v1/disputes/{id}/review."""
    require_national(principal)
    if "\x00" in note:
        raise Problem(400, N_("Bad request"))
    accept = decision == "accept"
    disputes.decide(session, principal, explanation_id, accept, context(request).book, note)
    outcome = "accepted" if accept else "rejected"
    return RedirectResponse(f"/tvister?decided={outcome}", status_code=303)
