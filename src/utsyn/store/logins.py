"""What logins leave behind, kept in the database so that a restart, or another process
behind the same balancer, forgets none of it: logged-out sessions, failed logins with their
back-off, and the addresses each account logged in from.

The rules (which keys, how many failures, how long a wait) are the web's
(`utsyn.web.throttle`); this module keeps the rows and does the arithmetic of one rule: the
`limit`th failure of a key makes it wait `first` seconds, each further failure doubles the
wait, up to `cap`; a key quiet for `forget` starts again from zero. Rows past their use are
deleted by the caller as new ones are written (`forget_…`), so the tables stay as small as
the recent failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from utsyn.store.db import atomic
from utsyn.store.dialect import upsert
from utsyn.store.models import LoginAddress, LoginThrottle, SessionRevocation


def revoke_session(session: Session, sid_hash: str, until: datetime, now: datetime) -> None:
    """Revoke a session id until `until` (when its cookie lapses anyway)."""
    with atomic(session):
        session.execute(delete(SessionRevocation).where(SessionRevocation.until <= now))
        upsert(
            session,
            SessionRevocation,
            {"sid_hash": sid_hash, "until": until},
            ["sid_hash"],
            {"until": until},
        )


def session_revoked(session: Session, sid_hash: str, now: datetime) -> bool:
    until = session.scalar(
        select(SessionRevocation.until).where(SessionRevocation.sid_hash == sid_hash)
    )
    return until is not None and until > now


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off of one kind of key."""

    limit: int  # failures before the first wait
    first: int  # seconds: the wait after the `limit`th failure
    cap: int  # seconds: the longest wait
    forget: timedelta  # a key without a failure for this long starts again

    def wait(self, failures: int) -> int:
        """Seconds to wait after `failures` failures."""
        beyond = failures - self.limit
        if beyond < 0:
            return 0
        # 2**beyond passes any cap quickly: stop doubling before the number gets large.
        wait: int = self.first * 2 ** min(beyond, 40)
        return min(self.cap, wait)


def record_failure(session: Session, key: str, rule: Backoff, now: datetime) -> int:
    """Count one failure of `key`; the seconds it must now wait (0: none yet)."""
    stale = now - rule.forget
    with atomic(session):
        failures = int(
            upsert(
                session,
                LoginThrottle,
                {"key": key, "failures": 1, "last_failure": now, "blocked_until": None},
                ["key"],
                {
                    # One statement: two failures at once are both counted.
                    "failures": case(
                        (LoginThrottle.last_failure < stale, 1), else_=LoginThrottle.failures + 1
                    ),
                    "last_failure": now,
                },
                returning="failures",
            )
        )
        wait = rule.wait(failures)
        if wait:
            until = now + timedelta(seconds=wait)
            session.execute(
                update(LoginThrottle).where(LoginThrottle.key == key).values(blocked_until=until)
            )
    return wait


def blocked_for(session: Session, keys: Iterable[str], now: datetime) -> int:
    """Seconds until every key may try again (0: now)."""
    until = session.scalar(
        select(func.max(LoginThrottle.blocked_until)).where(
            LoginThrottle.key.in_(list(keys)), LoginThrottle.blocked_until > now
        )
    )
    if until is None:
        return 0
    return max(1, int((until - now).total_seconds() + 0.999))


def forget_failures(session: Session, before: datetime) -> None:
    """Delete the keys whose last failure was before `before` (forgotten anyway)."""
    with atomic(session):
        session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure < before))


def clear(session: Session, keys: Iterable[str]) -> None:
    with atomic(session):
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(list(keys))))


def note_success(session: Session, account: str, address: str, now: datetime) -> None:
    """Remember that `account` logged in from `address`."""
    with atomic(session):
        upsert(
            session,
            LoginAddress,
            {"account": account, "address": address, "last_success": now},
            ["account", "address"],
            {"last_success": now},
        )


def known_address(session: Session, account: str, address: str, since: datetime) -> bool:
    """Did `account` log in from `address` after `since`?"""
    found = session.scalar(
        select(LoginAddress.last_success).where(
            LoginAddress.account == account, LoginAddress.address == address
        )
    )
    return found is not None and found > since


def forget_addresses(session: Session, before: datetime) -> None:
    with atomic(session):
        session.execute(delete(LoginAddress).where(LoginAddress.last_success < before))
