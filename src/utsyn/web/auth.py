"""Logging in and out, and CSRF protection of every state-changing request.

CSRF (synchroniser token): each session holds a random token. Every POST, PUT, PATCH or
DELETE from a browser must carry it, as the form field `csrf_token` or the header
`X-CSRF-Token`; templates put it in forms with `{{ csrf_token() }}`. API calls with an
`Authorization: Bearer` token are exempt (a browser never adds that header by itself);
API calls that rely on a logged-in session cookie need the header. The check is an
app-wide dependency (`csrf_guard`), so a new route cannot forget it.

Logins are throttled per address, per account and address, and per account, with
exponential back-off kept in the database (`web.throttle` says the rule), and audited:
`login:success`, `login:failure`, `login:throttled`, `login:disabled`, `logout`. The client
address is the connection's; `X-Forwarded-For` replaces it only from a proxy named in
`UTSYN_TRUSTED_PROXIES` (`app.create_app`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.store import logins, users
from utsyn.web.deps import DbSession, MaybePrincipal, Principal, bearer_token, context
from utsyn.web.i18n import N_, Translator, request_language
from utsyn.web.problems import API_PREFIX, Problem
from utsyn.web.security import check_password, hash_password, needs_rehash, same_secret
from utsyn.web.sessions import current_session, ensure_session, replace_session, sid_hash
from utsyn.web.templates import render

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

router = APIRouter(include_in_schema=False)


async def csrf_guard(request: Request) -> None:
    """Refuse a state-changing request without the session's CSRF token (403)."""
    if request.method in SAFE_METHODS:
        return
    session = current_session(request)
    if request.url.path.startswith(API_PREFIX):
        logged_in = session is not None and session.user_id is not None
        if request.headers.get("authorization") or not logged_in:
            return  # bearer tokens are exempt; anonymous calls get 401 from the route
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(_FORMS):
        field = (await request.form()).get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if session is None or not same_secret(given, session.csrf):
        raise Problem(
            403,
            N_("Forbidden"),
            N_("The form has expired or did not come from Utsyn. Reload the page and try again."),
        )


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//evil.example` or `https://evil.example`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


ADDRESS_LENGTH = 64  # an IPv6 address with a zone fits; a stored key must stay bounded


def client_address(request: Request) -> str:
    """The connection's address (a trusted proxy's `X-Forwarded-For` has replaced it)."""
    host = request.client.host if request.client else "unknown"
    return host.replace("\x00", "")[:ADDRESS_LENGTH]


@router.get("/login")
def login_page(request: Request, principal: MaybePrincipal, next: str = "/") -> Response:
    return _login_form(request, principal, next, "", None)


def _login_form(
    request: Request,
    principal: Principal | None,
    next_path: str,
    email: str,
    error: str | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    settings = context(request).settings
    values = {
        "principal": principal,
        "next": safe_next(next_path),
        "email": email,
        "error": error,
        "providers": settings.oidc_providers,
        "local_passwords": settings.local_passwords,
    }
    return render(request, "login.html", values, status_code, headers)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    web = context(request)
    translate = Translator(request_language(request))
    if not web.settings.local_passwords:
        error = translate.gettext("Passwords are switched off here: log in with your provider.")
        return _login_form(request, None, next, email, error, 403)
    # NUL cannot be stored in PostgreSQL text (the audit row); no address contains one.
    account = users.normal_email(email.replace("\x00", ""))
    address, now = client_address(request), now_utc()
    wait = web.throttle.retry_after(session, account, address, now)
    if wait:
        users.audit(session, account, "login:throttled", account, now, {"address": address})
        error = _wait_text(translate, wait)
        return _login_form(request, None, next, email, error, 429, {"Retry-After": str(wait)})
    user = users.user_by_email(session, account)
    if not check_password(user.password_hash if user else None, password) or user is None:
        web.throttle.failed(session, account, address, now)
        users.audit(session, account, "login:failure", account, now, {"address": address})
        error = translate.gettext("Wrong e-mail or password.")
        return _login_form(request, None, next, email, error, 400)
    if user.disabled:
        # Said only to whoever knows the password: a guesser learns nothing.
        users.audit(session, account, "login:disabled", account, now, {"address": address})
        error = translate.gettext("This account is disabled. Ask an administrator.")
        return _login_form(request, None, next, email, error, 403)
    web.throttle.succeeded(session, account, address, now)
    if needs_rehash(user.password_hash):
        users.set_password_hash(session, user, hash_password(password))
    start_session(request, session, user.id, user.password_hash)
    users.audit(session, user.email, "login:success", user.email, now, {"address": address})
    return RedirectResponse(safe_next(next), status_code=303)


def _wait_text(translate: Translator, wait: int) -> str:
    if wait < 60:
        return translate.gettext("Too many attempts. Try again in %(seconds)s seconds.",
                                 seconds=wait)  # fmt: skip
    return translate.gettext("Too many attempts. Try again in %(minutes)s minutes.",
                             minutes=(wait + 59) // 60)  # fmt: skip


def start_session(request: Request, session: DbSession, user_id: int, password_hash: str) -> None:
    """Log in (by password or through an OpenID provider). Rotate: a new id and a new CSRF
    token; a logged-in session it replaces is revoked."""
    old = ensure_session(request)
    if old.user_id is not None:
        revoke(request, session, old.sid)
    replace_session(request, old.log_in(user_id, password_hash))


def revoke(request: Request, session: DbSession, sid: str) -> None:
    """The session id is dead until its cookie would have lapsed anyway."""
    now = now_utc()
    until = now + timedelta(seconds=context(request).codec.idle_seconds)
    logins.revoke_session(session, sid_hash(sid), until, now)


@router.post("/logout")
def logout(request: Request, session: DbSession, principal: MaybePrincipal) -> Response:
    web_session = current_session(request)
    if web_session is not None:
        if web_session.user_id is not None:
            revoke(request, session, web_session.sid)
        web_session.ended = True
    if principal is not None and bearer_token(request) is None:
        users.audit(session, principal.email, "logout", principal.email, now_utc())
    return RedirectResponse("/", status_code=303)
