"""The account pages: /brukere for national administrators (others 403), and the password
reset link's page /nytt-passord/{token} for anyone holding a link.

/brukere lists the accounts with their actions: change the role and organisation, disable
or enable, issue a password reset link (shown once, on the answer page), delete;
/brukere/{id} lists an account's API tokens, each revocable. Every form is a CSRF-checked
POST answered with a 303 (the reset link's page excepted), and every change goes through
`store.users` or `web.accounts`, the API's code: audited, and never leaving Utsyn without
an enabled national administrator (that refusal is an error page).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.i18n import error_text
from utsyn.store import users
from utsyn.store.models import ROLES, Organisation, User
from utsyn.web import accounts, passwords
from utsyn.web.auth import client_address
from utsyn.web.deps import DbSession, Principal, context
from utsyn.web.i18n import N_, Translator, request_language
from utsyn.web.pages import PagePrincipal
from utsyn.web.problems import Problem, not_found
from utsyn.web.security import hash_password, token_hash
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
UserId = Annotated[int, Path(ge=1, le=2**53)]
DONE = {
    "role": N_("The role is changed."),
    "disabled": N_("The account is disabled: its sessions and tokens no longer work."),
    "enabled": N_("The account is enabled."),
    "deleted": N_("The account is deleted."),
    "revoked": N_("The token is revoked."),
}
ROLE_NAMES = {
    "national_admin": N_("National administrator"),
    "national_analyst": N_("National analyst"),
    "org_admin": N_("Organisation administrator"),
    "org_viewer": N_("Organisation viewer"),
}


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Problem(403, N_("Forbidden"), N_("Only a national administrator may do this."))


def _account(session: Session, user_id: int) -> User:
    user = users.user_by_id(session, user_id)
    if user is None:
        raise not_found()
    return user


def _orgnrs(session: Session, accounts_shown: list[User]) -> dict[int, str]:
    ids = {u.org_id for u in accounts_shown if u.org_id is not None}
    return {org_id: org.orgnr for org_id in ids if (org := session.get(Organisation, org_id))}


@router.get("/brukere")
def user_list(
    request: Request,
    principal: PagePrincipal,
    session: DbSession,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    require_admin(principal)
    found, total = users.list_users(session, PAGE_SIZE, offset)
    ctx = {
        "principal": principal,
        "users": found,
        "total": total,
        "offset": offset,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
        "orgnrs": _orgnrs(session, found),
        "roles": ROLES,
        "role_names": ROLE_NAMES,
        "done": DONE.get(request.query_params.get("done", "")),
        "when": lambda at: at.strftime("%Y-%m-%d %H:%M"),
    }
    return render(request, "users.html", ctx)


@router.get("/brukere/{user_id}")
def user_page(
    request: Request, principal: PagePrincipal, session: DbSession, user_id: UserId
) -> Response:
    require_admin(principal)
    user = _account(session, user_id)
    ctx = {
        "principal": principal,
        "user": user,
        "orgnr": _orgnrs(session, [user]).get(user.org_id or 0),
        "role_names": ROLE_NAMES,
        "tokens": users.tokens_of(session, user),
        "done": DONE.get(request.query_params.get("done", "")),
        "when": lambda at: at.strftime("%Y-%m-%d %H:%M") if at else "–",
    }
    return render(request, "user.html", ctx)


@router.post("/brukere/{user_id}/rolle")
def change_role(
    principal: PagePrincipal,
    session: DbSession,
    user_id: UserId,
    role: Annotated[str, Form(max_length=32)],
    orgnr: Annotated[str, Form(max_length=11)] = "",
) -> Response:
    require_admin(principal)
    user = _account(session, user_id)
    given = orgnr.replace(" ", "") or None
    if role in users.NATIONAL_ROLES:
        given = None  # the form has an organisation field for every role
    accounts.change_role(session, user, role, given, principal.email, now_utc())
    return RedirectResponse("/brukere?done=role", status_code=303)


@router.post("/brukere/{user_id}/status")
def change_status(
    principal: PagePrincipal,
    session: DbSession,
    user_id: UserId,
    status: Annotated[Literal["disabled", "enabled"], Form()],
) -> Response:
    require_admin(principal)
    user = _account(session, user_id)
    users.set_disabled(session, user, status == "disabled", principal.email, now_utc())
    return RedirectResponse(f"/brukere?done={status}", status_code=303)


@router.post("/brukere/{user_id}/slett")
def delete_user(
    principal: PagePrincipal,
    session: DbSession,
    user_id: UserId,
    confirm: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    """Deleting needs the account's e-mail typed again: a slip of the mouse deletes nothing."""
    require_admin(principal)
    user = _account(session, user_id)
    if users.normal_email(confirm) != user.email:
        raise Problem(400, N_("Bad request"), N_("Type the account's e-mail address to delete it."))
    users.delete_user(session, user, principal.email, now_utc())
    return RedirectResponse("/brukere?done=deleted", status_code=303)


@router.post("/brukere/{user_id}/tilbakestill")
def issue_reset(
    request: Request, principal: PagePrincipal, session: DbSession, user_id: UserId
) -> Response:
    """The link is shown on this answer only (never put in a redirect's address)."""
    require_admin(principal)
    user = _account(session, user_id)
    settings = context(request).settings
    url, expires = accounts.reset_link(session, settings, user, principal.email, now_utc())
    ctx = {
        "principal": principal,
        "user": user,
        "url": url,
        "expires": expires.strftime("%Y-%m-%d %H:%M"),
    }
    return render(request, "reset_issued.html", ctx)


@router.post("/brukere/{user_id}/nokler/{token_id}/slett")
def revoke_token(
    principal: PagePrincipal,
    session: DbSession,
    user_id: UserId,
    token_id: Annotated[int, Path(ge=1, le=2**53)],
) -> Response:
    require_admin(principal)
    user = _account(session, user_id)
    if not users.revoke_token(session, token_id, user, principal.email, now_utc()):
        raise not_found()
    return RedirectResponse(f"/brukere/{user.id}?done=revoked", status_code=303)


# ------------------------------------------------------------------ the reset link's page


ResetToken = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


def _holder(session: Session, token: str) -> User:
    user = users.reset_owner(session, token_hash(token), now_utc())
    if user is None:
        raise Problem(
            404,
            N_("Not found"),
            N_("This link does not work: it has been used, has expired or a newer one was made."),
        )
    return user


@router.get("/nytt-passord/{token}")
def reset_page(request: Request, session: DbSession, token: ResetToken) -> Response:
    user = _holder(session, token)
    return _reset_form(request, user.email)


def _reset_form(
    request: Request, email: str, error: str | None = None, done: bool = False
) -> Response:
    ctx = {"principal": None, "email": email, "error": error, "done": done}
    return render(request, "password_reset.html", ctx, 400 if error else 200)


@router.post("/nytt-passord/{token}")
def reset_password(
    request: Request,
    session: DbSession,
    token: ResetToken,
    password: Annotated[str, Form(max_length=passwords.MAX_PASSWORD_LENGTH)],
    again: Annotated[str, Form(max_length=passwords.MAX_PASSWORD_LENGTH)],
) -> Response:
    """Set the password (the policy's reason when refused) and spend the link; every
    session of the account ends (`web.sessions`), its login waits are cleared."""
    user = _holder(session, token)
    lang = request_language(request)
    error = None
    if password != again:
        error = Translator(lang).gettext("The two passwords are not the same.")
    else:
        try:
            passwords.check_password(password, user.email)
        except ConfigError as exc:
            error = error_text(exc, lang)
    if error is not None:
        return _reset_form(request, user.email, error)
    now = now_utc()
    if users.use_reset(session, token_hash(token), hash_password(password), now) is None:
        raise Problem(404, N_("Not found"), N_("This link has just been used."))
    context(request).throttle.succeeded(session, user.email, client_address(request), now)
    return _reset_form(request, user.email, done=True)
