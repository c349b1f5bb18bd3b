"""The shipped migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, inspect, text

from tests.reads import head_revision
from utsyn.errors import ConfigError
from utsyn.settings import Settings
from utsyn.store.db import alembic_config, database_url, make_engine, upgrade
from utsyn.store.models import (
    ALERT_CHANNELS,
    ASSET_KINDS,
    ASSET_STATES,
    EXPLANATION_KINDS,
    REVIEWS,
    ROLES,
    RUN_STATUSES,
    Base,
)

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


def test_no_migration_loses_a_row(new_database: NewDatabase) -> None:
    """One row in every table of the first schema, then every later migration: each row is
    still there (on SQLite, altering a table rebuilds it, and dropping the old copy with
    foreign keys on used to delete every observation through ON DELETE CASCADE)."""
    url = new_database()
    upgrade(url, "0001")
    engine = make_engine(url)
    try:
        tables = _fill_one_row_each(engine)
        upgrade(url)
        with engine.connect() as connection:
            counts = {
                t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in tables
            }
        assert counts == dict.fromkeys(tables, 1)
    finally:
        engine.dispose()


def _fill_one_row_each(engine: Engine) -> list[str]:
    """A row with id 1 in each table, parents first, every required column given a value of
    its type (foreign keys point at the parents' row 1)."""
    reflected = MetaData()
    reflected.reflect(engine)
    filled = []
    with engine.begin() as connection:
        for table in reflected.sorted_tables:
            if table.name == "alembic_version":
                continue
            row = {c.name: _a_value(c) for c in table.columns if _needs_value(c)}
            connection.execute(table.insert().values(**row))
            filled.append(table.name)
    return filled


def _needs_value(column: Column[Any]) -> bool:
    return column.primary_key or (not column.nullable and column.server_default is None)


# Columns whose CHECK constraints want more than any value of their type.
CHECKED = {
    "organisation.orgnr": "974760673",
    "asset.kind": ASSET_KINDS[0],
    "asset.state": ASSET_STATES[0],
    "scan_run.status": RUN_STATUSES[0],
    "target_scan.kind": "host",
    "explanation.kind": EXPLANATION_KINDS[0],
    "explanation.review": REVIEWS[0],
    "app_user.role": ROLES[0],
    "alert_delivery.channel": ALERT_CHANNELS[0],
    "org_latest.rules": [],
}


def _a_value(column: Column[Any]) -> object:
    if column.foreign_keys or column.name == "id":
        return 1
    if str(column) in CHECKED:
        return CHECKED[str(column)]
    kind = column.type.python_type if not isinstance(column.type, sa.JSON) else dict
    values: dict[type, object] = {
        int: 1,
        str: "x",
        bool: False,
        float: 0.0,
        datetime: datetime(2026, 1, 1, tzinfo=UTC),
        date: date(2026, 1, 1),
        dict: {},
        bytes: b"x",
    }
    return values[kind]
