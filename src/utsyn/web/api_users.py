"""REST API v1: accounts, for national administrators (others 403).

GET /users and /users/{id}; PATCH /users/{id} changes the role, the organisation or
whether the account is disabled; DELETE /users/{id}; POST /users/{id}/password-reset
answers a one-time link (with a password session only, see `web.accounts`);
GET /users/{id}/tokens lists an account's tokens (revoke one with DELETE /tokens/{id}).
Every change is audited; the last enabled national administrator cannot be disabled,
demoted or deleted (422).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.store import users
from utsyn.store.models import Organisation, User
from utsyn.web import accounts
from utsyn.web.api import PROBLEMS, Limit, Offset, RowId, require_password_session, token_out
from utsyn.web.deps import Admin, DbSession, context
from utsyn.web.problems import not_found
from utsyn.web.schemas import Paged, ResetOut, TokenOut, UserOut, UserPatch

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


def user_out(session: Session, user: User) -> UserOut:
    org = session.get(Organisation, user.org_id) if user.org_id is not None else None
    return UserOut(
        id=user.id,
        email=user.email,
        role=user.role,
        orgnr=org.orgnr if org else None,
        disabled=user.disabled,
        created=user.created,
    )


def _account(session: Session, user_id: int) -> User:
    user = users.user_by_id(session, user_id)
    if user is None:
        raise not_found()
    return user


@router.get("/users", response_model=Paged[UserOut], summary="Accounts (national admin)")
def list_users(
    principal: Admin, session: DbSession, limit: Limit = 100, offset: Offset = 0
) -> Paged[UserOut]:
    found, total = users.list_users(session, limit, offset)
    items = [user_out(session, u) for u in found]
    return Paged(items=items, total=total, limit=limit, offset=offset)


@router.get("/users/{user_id}", response_model=UserOut, summary="One account (national admin)")
def get_user(user_id: RowId, principal: Admin, session: DbSession) -> UserOut:
    return user_out(session, _account(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Change an account's role, organisation or whether it is disabled",
)
def patch_user(user_id: RowId, body: UserPatch, principal: Admin, session: DbSession) -> UserOut:
    user, now = _account(session, user_id), now_utc()
    if body.role is not None or body.orgnr is not None:
        accounts.change_role(session, user, body.role, body.orgnr, principal.email, now)
    if body.disabled is not None and body.disabled != user.disabled:
        users.set_disabled(session, user, body.disabled, principal.email, now)
    return user_out(session, user)


@router.delete("/users/{user_id}", status_code=204, summary="Delete an account")
def delete_user(user_id: RowId, principal: Admin, session: DbSession) -> None:
    """Its tokens, reset links and portfolios go with it; the audit log keeps its e-mail."""
    users.delete_user(session, _account(session, user_id), principal.email, now_utc())


@router.post(
    "/users/{user_id}/password-reset",
    response_model=ResetOut,
    status_code=201,
    summary="A one-time link that sets a new password (password session only)",
)
def post_reset(user_id: RowId, principal: Admin, session: DbSession, request: Request) -> ResetOut:
    """Earlier links of the account stop working; the link works once, until it expires."""
    require_password_session(principal)
    user = _account(session, user_id)
    settings = context(request).settings
    url, expires = accounts.reset_link(session, settings, user, principal.email, now_utc())
    return ResetOut(url=url, expires=expires)


@router.get(
    "/users/{user_id}/tokens", response_model=list[TokenOut], summary="An account's API tokens"
)
def list_user_tokens(user_id: RowId, principal: Admin, session: DbSession) -> list[TokenOut]:
    return [token_out(t) for t in users.tokens_of(session, _account(session, user_id))]
