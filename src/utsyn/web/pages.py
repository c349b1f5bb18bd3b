"""The pages of the core: the front page and /.well-known/security.txt.

The front page welcomes visitors with a login link; a logged-in user is sent on (303) to
their dashboard: the national roles to /oversikt, the organisation roles to their scorecard.

The dashboard's pages are added beside these, in their own routers, rendered with
`templates.render` and guarded with `page_principal` and `page_organisation`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.store import reads
from utsyn.store.models import Organisation
from utsyn.web.deps import DbSession, MaybePrincipal, Principal, context
from utsyn.web.i18n import N_
from utsyn.web.problems import Problem
from utsyn.web.templates import render

SECURITY_TXT_DAYS = 180  # RFC 9116 advises an Expires less than a year ahead

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """Raised by `page_principal`: the app answers with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page_principal(request: Request, principal: MaybePrincipal) -> Principal:
    """For pages: the logged-in user, or a redirect to /login?next=<this page>."""
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def page_organisation(orgnr: str, principal: PagePrincipal, session: DbSession) -> Organisation:
    """For pages under /organisations/{orgnr}: 403 outside the user's scope (see deps)."""
    org = reads.organisation(session, principal.scope, orgnr)
    if org is None:
        if reads.organisation(session, reads.Scope.national(), orgnr) is None:
            raise Problem(404, N_("Not found"))
        raise Problem(403, N_("Forbidden"), N_("You do not have access to this organisation."))
    return org


PageOrganisation = Annotated[Organisation, Depends(page_organisation)]


def to_own_organisation(session: Session, principal: Principal, page: str = "") -> Response:
    """An organisation role's way from a national page to its own (`/org/<orgnr><page>`);
    403 for an account whose organisation is gone."""
    org = reads.organisation_by_id(session, principal.scope, principal.org_id)
    if org is None:
        raise Problem(403, N_("Forbidden"), N_("Your account belongs to no organisation."))
    return RedirectResponse(f"/org/{org.orgnr}{page}", status_code=303)


@router.get("/")
def index(request: Request, principal: MaybePrincipal, session: DbSession) -> Response:
    """A welcome for visitors; users go straight to their dashboard."""
    if principal is not None and principal.national:
        return RedirectResponse("/oversikt", status_code=303)
    if principal is not None:
        org = reads.organisation_by_id(session, principal.scope, principal.org_id)
        if org is not None:
            return RedirectResponse(f"/org/{org.orgnr}", status_code=303)
    # Anonymous, or an account whose organisation is gone: the welcome (and who is logged in).
    return render(request, "index.html", {"principal": principal})


@router.get("/.well-known/security.txt")
def security_txt(request: Request) -> Response:
    expires = (now_utc() + timedelta(days=SECURITY_TXT_DAYS)).replace(microsecond=0)
    contact = context(request).settings.security_contact
    text = (
        f"Contact: {contact}\n"
        f"Expires: {expires.isoformat().replace('+00:00', 'Z')}\n"
        "Preferred-Languages: nb, en\n"
    )
    return PlainTextResponse(text)
