"""Every store test runs on SQLite (a temporary file) and on PostgreSQL (127.0.0.1:5432).

PostgreSQL gets a database of its own per test session (`utsyn_test_<pid>`), dropped at the
end. When the server cannot be reached the PostgreSQL half is skipped, or fails when
UTSYN_REQUIRE_SERVICES is set (CI). UTSYN_TEST_POSTGRES names another server's maintenance
database (default: postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Base

from ..services import required

ADMIN_URL = os.environ.get(
    "UTSYN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

_databases = count()
NewDatabase = Callable[[], str]


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(ADMIN_URL)
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            connect_timeout=3,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL at {url.host}:{url.port} is unreachable: {exc}".strip()
        if required():
            pytest.fail(f"{message} (UTSYN_REQUIRE_SERVICES is set)")
        pytest.skip(f"{message} (set UTSYN_REQUIRE_SERVICES=1 to fail instead)")


class Databases:
    """Creates empty databases of one backend and drops them at the end of the session."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.created: list[str] = []
        self.admin = _admin() if backend == "postgresql" else None

    def new(self) -> str:
        number = next(_databases)
        if self.admin is None:
            return f"sqlite:///{self.tmp / f'utsyn-{number}.db'}"
        name = f"utsyn_test_{os.getpid()}_{number}"
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.admin is not None:
            for name in self.created:
                self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    made = Databases(request.param, tmp_path_factory.mktemp(f"store-{request.param}"))
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def backend(databases: Databases) -> str:
    return databases.backend


@pytest.fixture(scope="session")
def db_url(databases: Databases) -> str:
    url = databases.new()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    made = make_engine(db_url)
    yield made
    made.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on an empty schema (every table emptied before the test)."""
    _empty(engine)
    with session_factory(engine)() as opened:
        yield opened


@pytest.fixture
def new_database(databases: Databases) -> NewDatabase:
    """Another empty database of the same backend (no schema): call it to get its URL."""
    return databases.new


def _empty(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
