"""Accounts, API tokens and the audit log of the web service.

Only hashes are stored: an argon2 hash of each password and the SHA-256 of each API token
(the token itself is shown once, when it is made). Hashing and checking happen in
`utsyn.web.security`; this module only keeps the rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic
from utsyn.store.models import ROLES, ApiToken, AuditLog, User

NATIONAL_ROLES = ("national_admin", "national_analyst")
# A token's last use is written at most this often: a busy client must not mean a write
# per request.
LAST_USED_PRECISION = timedelta(minutes=5)


def normal_email(email: str) -> str:
    return email.strip().lower()


def add_user(
    session: Session, email: str, password_hash: str, role: str, org_id: int | None, now: datetime
) -> User:
    """A new local account; national roles belong to no organisation, the others to one."""
    if role not in ROLES:
        raise ConfigError(
            "unknown role %(role)r; one of %(choices)s", role=role, choices=", ".join(ROLES)
        )
    if role in NATIONAL_ROLES and org_id is not None:
        raise ConfigError("a %(role)s belongs to no organisation: leave out --org", role=role)
    if role not in NATIONAL_ROLES and org_id is None:
        raise ConfigError("a %(role)s belongs to an organisation: give --org ORGNR", role=role)
    email = normal_email(email)
    if "@" not in email:
        raise ConfigError("%(email)r is not an e-mail address", email=email)
    with atomic(session):
        if user_by_email(session, email) is not None:
            raise ConfigError("a user %(email)s exists already", email=email)
        user = User(email=email, password_hash=password_hash, role=role, org_id=org_id, created=now)
        session.add(user)
    return user


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normal_email(email)))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def set_password_hash(session: Session, user: User, password_hash: str) -> None:
    """A new hash of the same password (argon2 parameters raised) or of a new one."""
    with atomic(session):
        user.password_hash = password_hash


def add_token(
    session: Session,
    user: User,
    name: str,
    token_hash: str,
    now: datetime,
    expires: datetime | None,
) -> ApiToken:
    with atomic(session):
        token = ApiToken(
            user_id=user.id, name=name, token_hash=token_hash, created=now, expires=expires
        )
        session.add(token)
    return token


def user_by_token(session: Session, token_hash: str, now: datetime) -> User | None:
    """The owner of an unexpired token; its last use is noted (coarsely)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
    if token is None or (token.expires is not None and token.expires <= now):
        return None
    if token.last_used is None or now - token.last_used >= LAST_USED_PRECISION:
        with atomic(session):
            token.last_used = now
    return session.get(User, token.user_id)


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    return list(session.scalars(query))


def revoke_token(session: Session, user: User, token_id: int) -> bool:
    """Delete one of the user's own tokens; False when they have no such token."""
    with atomic(session):
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != user.id:
            return False
        session.delete(token)
    return True


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
