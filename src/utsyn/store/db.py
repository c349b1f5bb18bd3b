"""Engines, sessions, transactions and migrations.

Embedded (the default): one SQLite file, `settings.data_dir / "utsyn.db"`, in WAL mode so
readers never wait for the writer, with foreign keys enforced and a busy timeout so two
writers queue instead of failing. At national scale `UTSYN_DATABASE_URL` names PostgreSQL
(`postgresql+psycopg://user@host:5432/utsyn`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, SessionTransactionOrigin, sessionmaker

from utsyn.errors import ConfigError, UtsynError
from utsyn.files import create_private_file
from utsyn.settings import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseError(UtsynError):
    """The database cannot be reached, or its schema is not the one this Utsyn expects."""

    exit_code = 5


def database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{settings.data_dir / 'utsyn.db'}"


def make_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("UTSYN_DATABASE_URL is not a database URL: %(url)r", url=url) from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        # pool_pre_ping: a worker that outlives a PostgreSQL restart reconnects quietly.
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(
        "unsupported database %(backend)r: use SQLite or PostgreSQL",
        backend=parsed.get_backend_name(),
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        create_private_file(Path(database))  # 0600 in 0700 (and so its -wal, -shm): hashes
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions itself and breaks SAVEPOINT; take control of
    # BEGIN (below) so nested transactions work as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses no commit order
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: repositories commit per unit of work.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def atomic(session: Session) -> Iterator[None]:
    """One unit of work, never half-written.

    Inside a transaction the caller began (`with session.begin():`) the unit is a savepoint
    and the caller commits. Otherwise (no transaction, or one the session began by itself on
    a read) the unit commits on success and rolls the session back on failure.
    """
    transaction = session.get_transaction()
    if transaction is not None and transaction.origin != SessionTransactionOrigin.AUTOBEGIN:
        with session.begin_nested():
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
    if transaction is not None:
        session.commit()  # the reads the session began by itself: nothing to lose
    with session.begin():
        yield


def alembic_config() -> Config:
    """The shipped migrations; pass a connection in `config.attributes["connection"]`."""
    config = Config()
    config.set_main_option("script_location", str(files("utsyn.store") / "migrations"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Run the shipped migrations up to `revision` (creating the database file if needed)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(connection, on=False)
            with connection.begin():
                config = alembic_config()
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
