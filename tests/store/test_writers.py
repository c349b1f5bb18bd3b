"""Writers queue on SQLite: a unit of work waits for another writer's lock instead of failing,
reads never wait, and a scan waits past the busy timeout (`patiently`) instead of aborting.

SQLite only (PostgreSQL's transactions are left as they were; the other store tests run on
both). Another writer is a plain sqlite3 connection holding BEGIN IMMEDIATE, as `utsyn scan`
or `utsyn serve` in another process would.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from utsyn.store import scans, users
from utsyn.store.db import is_busy, make_engine, patiently, session_factory, upgrade
from utsyn.store.models import AuditLog, Organisation, ScanRun

from .builders import add_orgs
from .conftest import T0


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "utsyn.db"
    upgrade(f"sqlite:///{path}")
    return path


def _engine(database: Path, busy_seconds: float) -> Engine:
    return make_engine(f"sqlite:///{database}", busy_seconds=busy_seconds)


@contextmanager
def other_writer(database: Path, release_after: float | None) -> Iterator[threading.Event]:
    """Another connection holds the write lock, and writes an audit row, until the returned
    event is set (or `release_after` seconds have passed); then it commits."""
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) "
        "VALUES ('2026-01-05 12:00:00', 'other', 'other:write', 'x', '{}')"
    )
    release = threading.Event()

    def commit_later() -> None:
        release.wait(release_after)
        connection.execute("COMMIT")

    thread = threading.Thread(target=commit_later)
    thread.start()
    try:
        yield release
    finally:
        release.set()
        thread.join()
        connection.close()


def _audited(session: Session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(AuditLog.action)))


def test_a_unit_of_work_after_reads_waits_for_the_writer_instead_of_failing(
    database: Path,
) -> None:
    engine = _engine(database, busy_seconds=20)
    with session_factory(engine)() as session:
        add_orgs(session, 2)
        # The session reads first (a transaction it began by itself), as a web request does
        # before it writes.
        assert session.scalar(select(func.count()).select_from(Organisation)) == 2
        with other_writer(database, release_after=0.5):
            # Reads, then writes: a transaction begun DEFERRED could not wait here.
            users.add_user(session, "new@utsyn.test", "hash", "national_analyst", None, T0)
        with other_writer(database, release_after=0.5):
            users.audit(session, "web", "web:write", "y", T0)
        # add_user audits itself (user:add).
        assert _audited(session) == ["other:write", "other:write", "user:add", "web:write"]
        assert users.user_by_email(session, "new@utsyn.test") is not None
    engine.dispose()


def test_a_reader_does_not_wait_for_the_writer(database: Path) -> None:
    engine = _engine(database, busy_seconds=20)
    with session_factory(engine)() as session:
        add_orgs(session, 3)
        session.commit()
        with other_writer(database, release_after=None) as release:
            # Released only after the reads: were they waiting, they would time out first.
            assert session.scalar(select(func.count()).select_from(Organisation)) == 3
            assert session.scalars(select(Organisation.orgnr)).all()
            release.set()
    engine.dispose()


def test_a_writer_gives_up_after_the_busy_timeout_and_is_told_apart(database: Path) -> None:
    engine = _engine(database, busy_seconds=0.2)
    with session_factory(engine)() as session, other_writer(database, release_after=None):
        with pytest.raises(OperationalError) as refused:
            users.audit(session, "web", "web:write", "y", T0)
        assert is_busy(refused.value)
        # Nothing half-written, and the session is usable again.
        session.rollback()
    with session_factory(engine)() as session:
        assert _audited(session) == ["other:write"]
    engine.dispose()


def test_a_scan_waits_past_the_busy_timeout_instead_of_aborting(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(database, busy_seconds=0.1)
    with session_factory(engine)() as session, other_writer(database, release_after=1.5):
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="utsyn.store.db"):
            run = patiently(scans.start_run, session, {"mode": "lab"}, "test", T0)
        assert time.monotonic() - began >= 1.0  # it waited for the other writer
        assert "busy" in caplog.text
    with session_factory(engine)() as session:
        assert session.get(ScanRun, run.id) is not None
    engine.dispose()


def test_patiently_gives_up_at_once_on_other_failures(database: Path) -> None:
    engine = _engine(database, busy_seconds=5)
    with session_factory(engine)() as session, pytest.raises(OperationalError) as failed:
        patiently(session.execute, select(func.count()).select_from(Organisation).where(
            Organisation.id == func.no_such_function()
        ))  # fmt: skip
    assert not is_busy(failed.value)
    engine.dispose()
