"""Accounts signed in to through an OpenID provider, and the ID token nonces already used.

A person at a provider (its name and their `sub`, which the provider never reuses) is
linked to one local account. On their first login the account is found by e-mail, or made
(with no password: `NO_PASSWORD` matches no argon2 hash, so only the provider logs them in);
each login then gives it the role the operator's mapping chose. Every link, new account and
role change is audited in the transaction that makes it (`store.users`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from utsyn.store import users
from utsyn.store.db import atomic, one_transaction
from utsyn.store.models import OidcIdentity, OidcNonce, User

NO_PASSWORD = "!oidc"


def spend_nonce(session: Session, nonce_hash: str, until: datetime, now: datetime) -> bool:
    """Note a nonce as used until `until`; False when it was used already (a replay). Of two
    uses at once, the primary key lets one through."""
    try:
        with atomic(session):
            session.execute(delete(OidcNonce).where(OidcNonce.until <= now))
            if session.get(OidcNonce, nonce_hash) is not None:
                return False
            session.add(OidcNonce(nonce_hash=nonce_hash, until=until))
    except IntegrityError:
        return False
    return True


def sign_in(
    session: Session,
    provider: str,
    subject: str,
    email: str,
    role: str,
    org_id: int | None,
    now: datetime,
) -> User:
    """The account of `subject` at `provider`, linked or made on their first login, with the
    mapped role (a disabled account stays disabled: the caller refuses it)."""
    actor = f"oidc:{provider}"
    with one_transaction(session):
        # The link goes with its account (ON DELETE CASCADE): a link always has one.
        identity = session.get(OidcIdentity, (provider, subject))
        user = users.user_by_id(session, identity.user_id) if identity else None
        if identity is None or user is None:
            user = users.user_by_email(session, email)
            if user is None:
                user = users.add_user(session, email, NO_PASSWORD, role, org_id, now, actor)
                session.flush()  # its id, for the link
            identity = OidcIdentity(
                provider=provider, subject=subject, user_id=user.id, created=now, last_login=now
            )
            session.add(identity)
            users.add_audit(session, actor, "oidc:link", user.email, now, {"subject": subject})
        identity.last_login = now
        if (user.role, user.org_id) != (role, org_id):
            users.set_role(session, user, role, org_id, actor, now)
    return user
