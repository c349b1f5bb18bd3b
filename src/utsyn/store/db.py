"""Engines, sessions, transactions and migrations.

Embedded (the default): one SQLite file, `settings.data_dir / "utsyn.db"`, in WAL mode so
readers never wait for the writer, with foreign keys enforced. At national scale
`UTSYN_DATABASE_URL` names PostgreSQL (`postgresql+psycopg://user@host:5432/utsyn`).

Writers queue on SQLite. A transaction that only reads begins DEFERRED and never waits. One
that writes (`atomic`, `one_transaction`, `write_engine`) begins IMMEDIATE: it takes the
write lock first, waiting up to the busy timeout (`UTSYN_DATABASE_BUSY_SECONDS`) while
another writer holds it. A transaction that read first cannot wait: SQLite answers
"database is locked" at once when it then tries to write, busy timeout or not. So a write
unit ends the reads the session began by itself before it begins. When even the busy
timeout runs out, `is_busy` tells the error apart: the web answers 503, the scan waits on
(`patiently`). PostgreSQL needs none of this; its transactions are as they were.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, SessionTransactionOrigin, sessionmaker

from utsyn.errors import ConfigError, UtsynError
from utsyn.files import create_private_file
from utsyn.settings import Settings, get_settings

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger("utsyn.store.db")

# The execution option that makes a connection's next transaction begin IMMEDIATE (SQLite).
BEGIN_MODE = "utsyn_sqlite_begin"
WRITING = {BEGIN_MODE: "IMMEDIATE"}
_BEGIN = {"DEFERRED": "BEGIN", "IMMEDIATE": "BEGIN IMMEDIATE"}
BUSY_PAUSE = 1.0  # seconds between a scan's attempts once the busy timeout ran out


class DatabaseError(UtsynError):
    """The database cannot be reached, or its schema is not the one this Utsyn expects."""

    exit_code = 5


def database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{settings.data_dir / 'utsyn.db'}"


def make_engine(url: str | None = None, busy_seconds: float | None = None) -> Engine:
    """An engine on `url` (default: the configured database). On SQLite a writer waits up to
    `busy_seconds` for another's write lock (default: `UTSYN_DATABASE_BUSY_SECONDS`)."""
    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("UTSYN_DATABASE_URL is not a database URL: %(url)r", url=url) from exc
    if parsed.get_backend_name() == "sqlite":
        busy = get_settings().database_busy_seconds if busy_seconds is None else busy_seconds
        return _sqlite_engine(url, parsed.database, busy)
    if parsed.get_backend_name() == "postgresql":
        # pool_pre_ping: a worker that outlives a PostgreSQL restart reconnects quietly.
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(
        "unsupported database %(backend)r: use SQLite or PostgreSQL",
        backend=parsed.get_backend_name(),
    )


def _sqlite_engine(url: str, database: str | None, busy_seconds: float) -> Engine:
    if database and database != ":memory:":
        create_private_file(Path(database))  # 0600 in 0700 (and so its -wal, -shm): hashes
    # The driver's timeout is SQLite's busy timeout from the first statement on.
    engine = create_engine(url, connect_args={"timeout": busy_seconds})
    event.listen(engine, "connect", partial(_sqlite_on_connect, int(busy_seconds * 1000)))
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions itself and breaks SAVEPOINT; take control of
    # BEGIN (below, SQLAlchemy's pysqlite recipe) so nested transactions work as on
    # PostgreSQL and a writer can begin IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses no commit order
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(BEGIN_MODE, "DEFERRED")
    connection.exec_driver_sql(_BEGIN[mode])


def write_engine(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions begin as writers: for Core writes
    (`with write_engine(engine).begin() as connection:`)."""
    return engine.execution_options(**WRITING)


def is_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked": another writer kept the lock past the busy timeout."""
    orig = exc.orig if isinstance(exc, OperationalError) else None
    code = getattr(orig, "sqlite_errorcode", None)
    # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
    return (
        isinstance(orig, sqlite3.OperationalError)
        and code is not None
        and (code & 0xFF == sqlite3.SQLITE_BUSY)
    )


def patiently(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(...)`, again after a pause for as long as SQLite stays busy: for a scan, which
    waits for the database however long another writer holds it, and never aborts. `work`
    must be whole units of work (`atomic`, `one_transaction`): a busy one rolled back."""
    while True:
        try:
            return work(*args, **kwargs)
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            log.warning("the database is busy with another writer; waiting")
            time.sleep(BUSY_PAUSE)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: repositories commit per unit of work.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def atomic(session: Session) -> Iterator[None]:
    """One unit of work, never half-written.

    Inside a transaction the caller began (`with session.begin():`) the unit is a savepoint
    and the caller commits. Otherwise (no transaction, or one the session began by itself on
    a read) the unit commits on success and rolls the session back on failure; on SQLite it
    is a transaction of its own, begun as a writer (the module docstring says why).
    """
    transaction = session.get_transaction()
    if transaction is not None and transaction.origin != SessionTransactionOrigin.AUTOBEGIN:
        with session.begin_nested():
            yield
        return
    if _sqlite_engine_of(session):
        with _writing(session):
            yield
        return
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


@contextmanager
def one_transaction(session: Session) -> Iterator[None]:
    """Several units of work committed together or not at all (each `atomic` inside becomes
    a savepoint). Inside a transaction the caller began, it is simply part of that one."""
    transaction = session.get_transaction()
    if transaction is not None and transaction.origin != SessionTransactionOrigin.AUTOBEGIN:
        yield
        return
    if _sqlite_engine_of(session):
        with _writing(session):
            yield
        return
    if transaction is not None:
        session.commit()  # the reads the session began by itself: nothing to lose
    with session.begin():
        yield


def _sqlite_engine_of(session: Session) -> bool:
    # A session bound to a connection is inside its owner's transaction: left as it is.
    bind = session.get_bind()
    return isinstance(bind, Engine) and bind.dialect.name == "sqlite"


@contextmanager
def _writing(session: Session) -> Iterator[None]:
    """A transaction of its own that begins IMMEDIATE (SQLite), committed or rolled back."""
    if session.get_transaction() is not None:
        session.commit()  # the reads the session began by itself: nothing to lose
    with session.begin():
        session.connection(execution_options=WRITING)  # BEGIN IMMEDIATE: waits its turn
        yield


def alembic_config() -> Config:
    """The shipped migrations; pass a connection in `config.attributes["connection"]`."""
    config = Config()
    config.set_main_option("script_location", str(files("utsyn.store") / "migrations"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Run the shipped migrations up to `revision` (creating the database file if needed).

    A database already at the newest revision is only read: a command that reads the
    store does not queue behind a writer."""
    engine = make_engine(url)
    try:
        config = alembic_config()
        if revision == "head" and _at_head(engine, config):
            return
        with write_engine(engine).connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(connection, on=False)
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise DatabaseError("the migration left rows whose references are broken")
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)
    finally:
        engine.dispose()


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """Alembic alters a SQLite table by copying it, dropping the old one and renaming the
    copy; with foreign keys on, the drop deletes (ON DELETE CASCADE) every row that refers to
    the old table. SQLite's own procedure for altering tables: foreign keys off outside the
    transaction, then `foreign_key_check` before committing. The pragma is a no-op inside a
    transaction, so it goes to the driver's connection, past the BEGIN this module issues."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _at_head(engine: Engine, config: Config) -> bool:
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def open_session() -> Iterator[Session]:
    """A session on the configured database, migrated to the newest schema first."""
    try:
        upgrade()
        engine = make_engine()
    except OperationalError as exc:
        raise DatabaseError("cannot reach the database: %(reason)s", reason=exc.orig) from exc
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
