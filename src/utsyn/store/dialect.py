"""The few statements SQLite and PostgreSQL spell differently (both speak ON CONFLICT)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from utsyn.store.models import Base


def upsert(
    session: Session,
    model: type[Base],
    values: Mapping[str, Any],
    keys: Sequence[str],
    update: Mapping[str, Any],
    returning: str | None = None,
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE; one statement, so it is safe between workers.

    `update` maps a column to a new value; a callable gets the `excluded` row
    (e.g. `lambda excluded: GradeCount.orgs + excluded.orgs`).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(dict(values))
    set_ = {k: (v(stmt.excluded) if callable(v) else v) for k, v in update.items()}
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)
    if returning is None:
        session.execute(stmt)
        return None
    return session.execute(stmt.returning(getattr(model, returning))).scalar_one()


def upsert_many(
    session: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    add: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT (keys) DO UPDATE for many rows of the same columns, one statement.

    Columns in `add` are summed with the stored value (counters); the others are replaced.
    PostgreSQL gets one array per column (`unnest`): one short statement whatever the number
    of rows, which the driver parses once, where a VALUES list of thousands of parameters is
    parsed anew each time. SQLite's executemany is already fast.
    """
    if not rows:
        return []
    table = _table(model)
    columns = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        return _sqlite_upsert_many(session, model, rows, keys, add, returning)
    casts = ", ".join(f"CAST(%({c})b AS {_pg_type(table.c[c])}[])" for c in columns)
    sets = ", ".join(
        f"{c} = {table.name}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
        for c in columns
        if c not in keys
    )
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    arrays = {c: _pg_array(table.c[c], [row[c] for row in rows]) for c in columns}
    return _pg_execute(session, sql, arrays, fetch=bool(returning))


def _pg_execute(
    session: Session, sql: str, params: Mapping[str, Any], fetch: bool
) -> list[tuple[Any, ...]]:
    """Run on the session's connection in binary: arrays of strings are not escaped one by one."""
    session.flush()  # the raw cursor does not flush pending objects itself
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live psycopg connection: the session is in a transaction
    with raw.cursor(binary=True) as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()] if fetch else []


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # every model maps one table
    return table


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(column: Any) -> str:
    return str(column.type.compile(dialect=_PG))


def _pg_array(column: Any, values: list[Any]) -> list[Any]:
    # JSON travels as text in the array and becomes JSONB in the cast.
    return [json.dumps(v) for v in values] if _pg_type(column) == "JSONB" else values


def _sqlite_upsert_many(
    session: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    add: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    table = _table(model)
    stmt = sqlite.insert(table)
    sets = {
        c: (table.c[c] + stmt.excluded[c]) if c in add else stmt.excluded[c]
        for c in rows[0]
        if c not in keys
    }
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=sets)
    if not returning:
        session.execute(stmt, list(rows))
        return []
    returned = session.execute(stmt.returning(*(table.c[c] for c in returning)), list(rows))
    return [tuple(row) for row in returned]
