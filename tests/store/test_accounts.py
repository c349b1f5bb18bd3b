"""Accounts and what logins leave behind, on SQLite and PostgreSQL: the lifecycle rules,
one-time reset links, tokens that always expire, revocations and back-off that outlive
the process (they are rows), counted right when failures come at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store import logins, users
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import ApiToken, AuditLog, LoginThrottle, Portfolio, User

from .conftest import T0, NewDatabase

YEAR = timedelta(days=365)
RULE = logins.Backoff(limit=3, first=1, cap=60, forget=timedelta(hours=24))


def _user(session: Session, email: str, role: str = "national_admin") -> User:
    return users.add_user(session, email, "hash", role, None, T0, "test")


def _actions(session: Session) -> list[tuple[str, str, str]]:
    rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
    return [(r.actor, r.action, r.subject) for r in rows]


def test_the_last_enabled_admin_cannot_be_disabled_demoted_or_deleted(session: Session) -> None:
    first = _user(session, "first@x.test")
    analyst = _user(session, "analyst@x.test", "national_analyst")
    for change in (
        lambda: users.set_disabled(session, first, True, "test", T0),
        lambda: users.set_role(session, first, "national_analyst", None, "test", T0),
        lambda: users.delete_user(session, first, "test", T0),
    ):
        with pytest.raises(ConfigError, match="last enabled national administrator"):
            change()
    second = _user(session, "second@x.test")
    users.set_disabled(session, second, True, "test", T0)
    with pytest.raises(ConfigError):  # a disabled admin does not count
        users.set_disabled(session, first, True, "test", T0)
    users.set_disabled(session, second, False, "test", T0)
    users.set_role(session, first, "national_analyst", None, "admin@x.test", T0)
    users.delete_user(session, analyst, "second@x.test", T0)
    assert users.user_by_email(session, "analyst@x.test") is None
    assert [a for a in _actions(session) if a[1] != "user:add"] == [
        ("test", "user:disable", "second@x.test"),
        ("test", "user:enable", "second@x.test"),
        ("admin@x.test", "user:role", "first@x.test"),
        ("second@x.test", "user:delete", "analyst@x.test"),
    ]


def test_roles_and_organisations_must_agree(session: Session) -> None:
    user = _user(session, "a@x.test")
    with pytest.raises(ConfigError, match="belongs to an organisation"):
        users.set_role(session, user, "org_viewer", None, "test", T0)
    with pytest.raises(ConfigError, match="unknown role"):
        users.set_role(session, user, "root", None, "test", T0)


def test_a_reset_link_works_once_until_it_expires(session: Session) -> None:
    user = _user(session, "a@x.test")
    users.add_reset(session, user, "h1", T0, T0 + timedelta(hours=1), "admin")
    users.add_reset(session, user, "h2", T0, T0 + timedelta(hours=1), "admin")
    assert users.reset_owner(session, "h1", T0) is None  # replaced by the newer link
    assert users.reset_owner(session, "h2", T0 + timedelta(hours=1)) is None  # expired
    assert users.use_reset(session, "h2", "new hash", T0 + timedelta(minutes=5)) is not None
    assert user.password_hash == "new hash"
    assert users.use_reset(session, "h2", "other", T0 + timedelta(minutes=6)) is None  # spent
    assert user.password_hash == "new hash"
    assert ("a@x.test", "password:reset", "a@x.test") in _actions(session)
    # A disabled account's links stop working, and it gets no new one.
    users.add_reset(session, user, "h3", T0, T0 + timedelta(hours=1), "admin")
    _user(session, "b@x.test")
    users.set_disabled(session, user, True, "b@x.test", T0)
    assert users.reset_owner(session, "h3", T0) is None
    with pytest.raises(ConfigError, match="disabled"):
        users.add_reset(session, user, "h4", T0, T0 + timedelta(hours=1), "admin")


def test_tokens_expire_and_die_with_a_disabled_account(session: Session) -> None:
    user = _user(session, "a@x.test")
    _user(session, "b@x.test")
    users.add_token(session, user, "ci", "t1", T0, T0 + timedelta(days=30), "a@x.test")
    assert users.user_by_token(session, "t1", T0 + timedelta(days=29), YEAR) is not None
    assert users.user_by_token(session, "t1", T0 + timedelta(days=30), YEAR) is None
    # A maximum lowered later applies to tokens made before.
    assert users.user_by_token(session, "t1", T0 + timedelta(days=11), timedelta(days=10)) is None
    users.set_disabled(session, user, True, "b@x.test", T0)
    assert users.user_by_token(session, "t1", T0 + timedelta(days=1), YEAR) is None


def test_backoff_doubles_from_the_limit_up_to_the_cap() -> None:
    waits = [RULE.wait(n) for n in range(1, 12)]
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert RULE.wait(10_000) == 60


def test_failures_wait_doubles_and_are_forgotten_after_a_quiet_day(session: Session) -> None:
    at = T0
    waits = []
    for _ in range(6):
        waits.append(logins.record_failure(session, "address:192.0.2.1", RULE, at))
        at += timedelta(minutes=1)
    assert waits == [0, 0, 1, 2, 4, 8]
    last = at - timedelta(minutes=1)
    assert logins.blocked_for(session, ["address:192.0.2.1", "other"], last) == 8
    assert logins.blocked_for(session, ["address:192.0.2.1"], last + timedelta(seconds=8)) == 0
    quiet = last + timedelta(hours=25)
    assert logins.record_failure(session, "address:192.0.2.1", RULE, quiet) == 0
    row = session.get(LoginThrottle, "address:192.0.2.1")
    assert row is not None and row.failures == 1
    logins.forget_failures(session, quiet + timedelta(hours=25))
    session.expire_all()
    assert session.get(LoginThrottle, "address:192.0.2.1") is None


def test_failures_at_once_are_all_counted(engine: Engine, session: Session) -> None:
    def fail(_: int) -> int:
        with session_factory(engine)() as own:
            return logins.record_failure(own, "account:a@x.test", RULE, T0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(fail, range(12)))
    row = session.get(LoginThrottle, "account:a@x.test")
    assert row is not None and row.failures == 12
    assert logins.blocked_for(session, ["account:a@x.test"], T0) == 60


def test_a_revoked_session_stays_revoked_until_its_cookie_lapses(session: Session) -> None:
    logins.revoke_session(session, "sid", T0 + timedelta(minutes=30), T0)
    logins.revoke_session(session, "sid", T0 + timedelta(minutes=31), T0)  # twice: no error
    assert logins.session_revoked(session, "sid", T0 + timedelta(minutes=30))
    assert not logins.session_revoked(session, "sid", T0 + timedelta(minutes=31))
    assert not logins.session_revoked(session, "other", T0)


def test_known_addresses(session: Session) -> None:
    logins.note_success(session, "a@x.test", "192.0.2.1", T0)
    assert logins.known_address(session, "a@x.test", "192.0.2.1", T0 - timedelta(days=90))
    assert not logins.known_address(session, "a@x.test", "192.0.2.2", T0 - timedelta(days=90))
    assert not logins.known_address(session, "b@x.test", "192.0.2.1", T0 - timedelta(days=90))
    logins.forget_addresses(session, T0 + timedelta(seconds=1))
    assert not logins.known_address(session, "a@x.test", "192.0.2.1", T0 - timedelta(days=90))


def test_the_migration_gives_endless_tokens_an_expiry_and_loses_nothing(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    upgrade(url, "0005_zone_and_host_kept")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO app_user (id, email, password_hash, role, created) "
                    "VALUES (1, 'a@x.test', 'h', 'national_admin', :at)"
                ),
                {"at": T0},
            )
            connection.execute(
                text(
                    "INSERT INTO api_token (user_id, name, token_hash, created) "
                    "VALUES (1, 'old', 't', :at)"
                ),
                {"at": T0},
            )
            connection.execute(
                text("INSERT INTO portfolio (owner_id, name, created) VALUES (1, 'p', :at)"),
                {"at": T0},
            )
        upgrade(url)
        with session_factory(engine)() as session:
            token = session.scalars(select(ApiToken)).one()
            assert token.expires == T0 + YEAR
            user = session.scalars(select(User)).one()
            assert user.disabled is False
            # SQLite rebuilds a table to alter it: a rebuilt app_user would have taken its
            # tokens and portfolios with it (ON DELETE CASCADE).
            assert session.scalars(select(Portfolio)).one().name == "p"
    finally:
        engine.dispose()
