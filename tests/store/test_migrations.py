"""The shipped migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from tests.reads import head_revision
from utsyn.errors import ConfigError
from utsyn.settings import Settings
from utsyn.store.db import alembic_config, database_url, make_engine, upgrade
from utsyn.store.models import Base

from .conftest import NewDatabase


def test_migrated_schema_is_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_builds_an_empty_database_and_downgrade_removes_it(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    upgrade(url)
    upgrade(url)  # at head already: nothing to do
    engine = make_engine(url)
    try:
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(database_url(Settings(data_dir=tmp_path / "data")))
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}
        assert (tmp_path / "data" / "utsyn.db").exists()
    finally:
        engine.dispose()


def test_the_database_url_setting_selects_postgresql() -> None:
    url = "postgresql+psycopg://utsyn@127.0.0.1:5432/utsyn"
    assert database_url(Settings(database_url=url)) == url


def test_an_unsupported_database_is_a_user_error() -> None:
    with pytest.raises(ConfigError, match="unsupported database"):
        make_engine("mysql://127.0.0.1/utsyn")
    with pytest.raises(ConfigError, match="not a database URL"):
        make_engine("utsyn")
