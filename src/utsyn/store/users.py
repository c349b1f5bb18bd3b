"""Accounts, API tokens, password reset links and the audit log of the web service.

Only hashes are stored: an argon2 hash of each password, the SHA-256 of each API token and
of each reset link (a token or a link is shown once, when it is made). Hashing and checking
happen in `utsyn.web.security`; this module keeps the rows, and every change it makes to an
account is audited in the same transaction as the change.

Lifecycle: an account is added, may be disabled (no login; its sessions and tokens stop
working at once) and enabled again, given another role, sent a password reset link, and
deleted (its tokens, reset links and portfolios go with it). The last enabled national
administrator can be neither disabled, demoted nor deleted: someone must be able to
administer the accounts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic
from utsyn.store.models import ROLES, ApiToken, AuditLog, PasswordReset, User

NATIONAL_ROLES = ("national_admin", "national_analyst")
ADMIN_ROLE = "national_admin"
# A token's last use is written at most this often: a busy client must not mean a write
# per request.
LAST_USED_PRECISION = timedelta(minutes=5)


def normal_email(email: str) -> str:
    return email.strip().lower()


def check_role(role: str, org_id: int | None) -> None:
    """National roles belong to no organisation, the others to one."""
    if role not in ROLES:
        raise ConfigError(
            "unknown role %(role)s; one of %(roles)s", role=role, roles=", ".join(ROLES)
        )
    if role in NATIONAL_ROLES and org_id is not None:
        raise ConfigError("a %(role)s belongs to no organisation", role=role)
    if role not in NATIONAL_ROLES and org_id is None:
        raise ConfigError(
            "a %(role)s belongs to an organisation: give its organisation number", role=role
        )


def add_user(
    session: Session,
    email: str,
    password_hash: str,
    role: str,
    org_id: int | None,
    now: datetime,
    actor: str = "cli",
) -> User:
    """A new local account (audited `user:add` by `actor`)."""
    check_role(role, org_id)
    email = normal_email(email)
    if "@" not in email:
        raise ConfigError("%(email)s is not an e-mail address", email=email)
    with atomic(session):
        if user_by_email(session, email) is not None:
            raise ConfigError("a user %(email)s exists already", email=email)
        user = User(email=email, password_hash=password_hash, role=role, org_id=org_id, created=now)
        session.add(user)
        add_audit(session, actor, "user:add", email, now, {"role": role})
    return user


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normal_email(email)))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def find_user(session: Session, email: str) -> User:
    """The account, or a user error naming the e-mail."""
    user = user_by_email(session, email)
    if user is None:
        raise ConfigError("no user %(email)s", email=normal_email(email))
    return user


def list_users(session: Session, limit: int, offset: int) -> tuple[list[User], int]:
    """A page of accounts by e-mail, and how many there are."""
    total = session.scalar(select(func.count()).select_from(User)) or 0
    query = select(User).order_by(User.email).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def set_password_hash(session: Session, user: User, password_hash: str) -> None:
    """A new hash of the same password (argon2 parameters raised) or of a new one."""
    with atomic(session):
        user.password_hash = password_hash


def set_disabled(session: Session, user: User, disabled: bool, actor: str, now: datetime) -> None:
    """Disable (or enable) the account; audited `user:disable` or `user:enable`."""
    with atomic(session):
        if disabled:
            _keep_an_admin(session, user)
        user.disabled = disabled
        action = "user:disable" if disabled else "user:enable"
        add_audit(session, actor, action, user.email, now)


def set_role(
    session: Session, user: User, role: str, org_id: int | None, actor: str, now: datetime
) -> None:
    """Another role (and organisation); audited `user:role` with the old and the new."""
    check_role(role, org_id)
    with atomic(session):
        if role != ADMIN_ROLE:
            _keep_an_admin(session, user)
        detail = {"from": user.role, "to": role, "org_id": org_id}
        user.role, user.org_id = role, org_id
        add_audit(session, actor, "user:role", user.email, now, detail)


def delete_user(session: Session, user: User, actor: str, now: datetime) -> None:
    """Delete the account with its tokens, reset links and portfolios; audited `user:delete`
    (the audit log keeps its e-mail: the trail outlives the account)."""
    with atomic(session):
        _keep_an_admin(session, user)
        add_audit(session, actor, "user:delete", user.email, now, {"role": user.role})
        session.delete(user)


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse a change that would leave no enabled national administrator."""
    if user.role != ADMIN_ROLE or user.disabled:
        return
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == ADMIN_ROLE, User.id != user.id, User.disabled.is_(False))
    )
    if not others:
        raise ConfigError(
            "%(email)s is the last enabled national administrator: add another first",
            email=user.email,
        )


# ------------------------------------------------------------------ API tokens


def add_token(
    session: Session,
    user: User,
    name: str,
    token_hash: str,
    now: datetime,
    expires: datetime,
    actor: str,
) -> ApiToken:
    """A new token of `user` (audited `token:create` by `actor`)."""
    with atomic(session):
        token = ApiToken(
            user_id=user.id, name=name, token_hash=token_hash, created=now, expires=expires
        )
        session.add(token)
        session.flush()  # its id, for the audit row
        detail = {"owner": user.email, "expires": expires.isoformat()}
        add_audit(session, actor, "token:create", f"token/{token.id}", now, detail)
    return token


def user_by_token(
    session: Session, token_hash: str, now: datetime, max_age: timedelta
) -> User | None:
    """The owner of a live token: unexpired, younger than `max_age` (a lower maximum
    applies to tokens made before it), of an enabled account. Its last use is noted
    (coarsely)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
    if token is None or token.expires <= now or token.created + max_age <= now:
        return None
    user = session.get(User, token.user_id)
    if user is None or user.disabled:
        return None
    if token.last_used is None or now - token.last_used >= LAST_USED_PRECISION:
        with atomic(session):
            token.last_used = now
    return user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    return list(session.scalars(query))


def revoke_token(
    session: Session, token_id: int, owner: User | None, actor: str, now: datetime
) -> bool:
    """Delete a token of `owner` (any token when `owner` is None: administrators);
    False when there is no such token. Audited `token:revoke`."""
    with atomic(session):
        token = session.get(ApiToken, token_id)
        if token is None or (owner is not None and token.user_id != owner.id):
            return False
        holder = session.get(User, token.user_id)
        detail = {"owner": holder.email if holder else None}
        session.delete(token)
        add_audit(session, actor, "token:revoke", f"token/{token_id}", now, detail)
    return True


# ------------------------------------------------------------------ password reset links


def add_reset(
    session: Session, user: User, token_hash: str, now: datetime, expires: datetime, actor: str
) -> PasswordReset:
    """A one-time reset link for `user`; earlier unused links of theirs stop working.
    Audited `password:reset_link`."""
    if user.disabled:
        raise ConfigError("%(email)s is disabled: enable the account first", email=user.email)
    with atomic(session):
        session.execute(delete(PasswordReset).where(PasswordReset.user_id == user.id))
        reset = PasswordReset(user_id=user.id, token_hash=token_hash, created=now, expires=expires)
        session.add(reset)
        detail = {"expires": expires.isoformat()}
        add_audit(session, actor, "password:reset_link", user.email, now, detail)
    return reset


def reset_owner(session: Session, token_hash: str, now: datetime) -> User | None:
    """The enabled account whose unspent, unexpired link this is; None otherwise."""
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == token_hash))
    if reset is None or reset.expires <= now:
        return None
    user = session.get(User, reset.user_id)
    return None if user is None or user.disabled else user


def use_reset(session: Session, token_hash: str, password_hash: str, now: datetime) -> User | None:
    """Set the password through a link and spend it; None when the link is not (or no
    longer) valid. The link is deleted in the same transaction that sets the password, so
    of two uses at once only one succeeds. Audited `password:reset` by the account itself."""
    with atomic(session):
        user = reset_owner(session, token_hash, now)
        if user is None:
            return None
        spent = session.execute(delete(PasswordReset).where(PasswordReset.token_hash == token_hash))
        if getattr(spent, "rowcount", 0) != 1:
            return None
        session.execute(delete(PasswordReset).where(PasswordReset.user_id == user.id))
        user.password_hash = password_hash
        add_audit(session, user.email, "password:reset", user.email, now)
    return user


# ------------------------------------------------------------------ audit


def add_audit(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row in the caller's unit of work (it commits with the change it records)."""
    session.add(AuditLog(at=now, actor=actor, action=action, subject=subject, detail=detail or {}))


def audit(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row, committed on its own (a failed login leaves a trace too)."""
    with atomic(session):
        add_audit(session, actor, action, subject, now, detail)
