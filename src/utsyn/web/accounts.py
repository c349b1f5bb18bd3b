"""Account lifecycle, the one path for the API (`api_users`), the admin pages
(`pages_users`) and the command line (`utsyn users`): tokens with a lifetime, password
reset links, role changes. Every change is audited by `store.users`.

Two powers belong to a password session only, never to an API token: making a token (a
token that minted tokens could outlive itself for ever) and issuing a password reset link
(the link would give its holder a password session, so the same escape).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store import users
from utsyn.store.models import ApiToken, User
from utsyn.store.orgs import organisation
from utsyn.web.security import new_api_token, new_reset_token
from utsyn.web.settings import WebSettings

RESET_PATH = "/nytt-passord/"


def make_token(
    session: Session,
    settings: WebSettings,
    user: User,
    name: str,
    days: int,
    actor: str,
    now: datetime,
) -> tuple[str, ApiToken]:
    """A new token of `user` living `days` days (1 to `UTSYN_TOKEN_MAX_DAYS`): the token,
    shown once, and its row."""
    if not 1 <= days <= settings.token_max_days:
        raise ConfigError(
            "a token lives from 1 to %(most)s days (UTSYN_TOKEN_MAX_DAYS)",
            most=settings.token_max_days,
        )
    if user.disabled:
        raise ConfigError("%(email)s is disabled: enable the account first", email=user.email)
    token, digest = new_api_token()
    row = users.add_token(session, user, name, digest, now, now + timedelta(days=days), actor)
    return token, row


def reset_link(
    session: Session, settings: WebSettings, user: User, actor: str, now: datetime
) -> tuple[str, datetime]:
    """A one-time link that sets a new password for `user`, and when it expires."""
    token, digest = new_reset_token()
    expires = now + timedelta(hours=settings.password_reset_hours)
    users.add_reset(session, user, digest, now, expires, actor)
    return f"{settings.public_url}{RESET_PATH}{token}", expires


def change_role(
    session: Session, user: User, role: str | None, orgnr: str | None, actor: str, now: datetime
) -> None:
    """A new role and/or organisation (left out: kept; a national role has none)."""
    role = role or user.role
    if role in users.NATIONAL_ROLES:
        org_id = None if orgnr is None else organisation(session, orgnr).id
    else:
        org_id = organisation(session, orgnr).id if orgnr else user.org_id
    if role == user.role and org_id == user.org_id:
        return
    users.set_role(session, user, role, org_id, actor, now)
