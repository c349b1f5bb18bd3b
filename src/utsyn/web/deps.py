"""What routes depend on: the app's context, a database session, the user and their scope.

Who may see what (the one place it is decided)
- national_admin: every organisation, plus user administration and dispute review;
- national_analyst: reads every organisation;
- org_admin: their own organisation: reads, explains findings, changes its footprint;
- org_viewer: reads their own organisation only.

Every organisation read goes through `Principal.scope` (a `store.reads.Scope`). Outside
the scope, the API answers 404 (it does not confirm that another body's resource exists)
and pages answer 403 (a person who followed a link is told they lack access). A resource in
scope that the role may not change answers 403 in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from utsyn.clock import now_utc
from utsyn.rules.rulebook import Rulebook
from utsyn.store import logins, users
from utsyn.store.models import Organisation, User
from utsyn.store.reads import Scope
from utsyn.web.i18n import N_, Language, Translator, request_language
from utsyn.web.problems import Problem
from utsyn.web.security import token_hash
from utsyn.web.sessions import (
    SessionCodec,
    current_session,
    password_tag,
    replace_session,
    sid_hash,
)
from utsyn.web.settings import WebSettings
from utsyn.web.throttle import LoginThrottle

NATIONAL_ROLES = frozenset({"national_admin", "national_analyst"})
EDITOR_ROLES = frozenset({"national_admin", "org_admin"})


@dataclass
class WebContext:
    """Everything the app holds for its lifetime (in `app.state.web`)."""

    settings: WebSettings
    engine: Engine
    sessions: sessionmaker[Session]
    book: Rulebook
    codec: SessionCodec
    throttle: LoginThrottle


def context(request: Request) -> WebContext:
    found = request.app.state.web
    assert isinstance(found, WebContext)
    return found


def db_session(request: Request) -> Iterator[Session]:
    """One database session per request."""
    with context(request).sessions() as session:
        yield session


@dataclass(frozen=True)
class Principal:
    """The person (or their API token) behind a request."""

    user_id: int
    email: str
    role: str
    org_id: int | None
    via: str  # "session" or "token"

    @classmethod
    def of(cls, user: User, via: str) -> Principal:
        return cls(user.id, user.email, user.role, user.org_id, via)

    @property
    def national(self) -> bool:
        return self.role in NATIONAL_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "national_admin"

    @property
    def scope(self) -> Scope:
        return Scope.national() if self.national else Scope.organisation(self.org_id)

    def may_edit(self, org: Organisation) -> bool:
        """Explain findings and change the footprint of `org`."""
        return self.role in EDITOR_ROLES and self.scope.allows(org.id)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def find_principal(request: Request, session: Session) -> Principal | None:
    """The bearer token's owner, or the session's user; None when anonymous.

    A request with an Authorization header is judged by it alone: a bad token is not
    rescued by a session cookie. A disabled account is nobody, by token or by session.
    """
    now = now_utc()
    token = bearer_token(request)
    if token is not None:
        max_age = timedelta(days=context(request).settings.token_max_days)
        user = users.user_by_token(session, token_hash(token), now, max_age)
        return Principal.of(user, "token") if user is not None else None
    if request.headers.get("authorization"):
        return None
    web_session = current_session(request)
    if web_session is None or web_session.user_id is None:
        return None
    if logins.session_revoked(session, sid_hash(web_session.sid), now):
        replace_session(request, None)  # a logout: forms get a fresh anonymous session
        return None
    user = users.user_by_id(session, web_session.user_id)
    if user is None or user.disabled:
        return None
    if password_tag(user.password_hash) != web_session.password_tag:
        return None
    return Principal.of(user, "session")


def optional_principal(
    request: Request, session: Annotated[Session, Depends(db_session)]
) -> Principal | None:
    return find_principal(request, session)


bearer_scheme = HTTPBearer(
    auto_error=False, description="An API token from `utsyn users token` or POST /api/v1/tokens."
)


def require_principal(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """For the API: 401 (problem details, WWW-Authenticate: Bearer) when anonymous."""
    principal = find_principal(request, session)
    if principal is None:
        raise Problem(401, N_("Not authenticated"), N_("Log in or send an API token."))
    return principal


def require_admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.is_admin:
        raise Problem(403, N_("Forbidden"), N_("Only a national administrator may do this."))
    return principal


def language(
    request: Request,
    lang: Annotated[
        str | None,
        Query(max_length=16, description="nb or en; else Accept-Language; bokmål by default."),
    ] = None,
) -> Language:
    """The request's language; declaring `lang` here puts it in the API schema."""
    return request_language(request)


def translator(lang: Annotated[Language, Depends(language)]) -> Translator:
    return Translator(lang)


DbSession = Annotated[Session, Depends(db_session)]
CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
Admin = Annotated[Principal, Depends(require_admin)]
Lang = Annotated[Language, Depends(language)]
Gettext = Annotated[Translator, Depends(translator)]
