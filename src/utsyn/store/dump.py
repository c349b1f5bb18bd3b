"""`utsyn db export` / `import`: every table as JSON lines, in an order that restores.

The first line is a header naming the schema revision; each further line is
`{"table": name, "row": {column: value}}`, tables in foreign-key order and rows by primary
key, keys sorted, so that an export is canonical: export → import → export is byte-equal,
from SQLite to PostgreSQL and back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import Column, Date, Table, func, insert, select, text
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic, current_revision
from utsyn.store.models import Base, UTCDateTime

FORMAT = "utsyn-db"
_BATCH = 2000


def export_jsonl(session: Session, fp: IO[str]) -> int:
    """Write every row; returns the number of rows written."""
    revision = current_revision(session.connection())
    fp.write(_line({"format": FORMAT, "revision": revision}))
    count = 0
    for table in Base.metadata.sorted_tables:
        for row in _table_rows(session, table):
            fp.write(_line({"table": table.name, "row": row}))
            count += 1
    return count


def _table_rows(session: Session, table: Table) -> Iterator[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    result = session.execute(query.execution_options(yield_per=_BATCH))
    for mapping in result.mappings():
        yield {c.name: _to_json(mapping[c.name]) for c in table.columns}


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"


def import_jsonl(session: Session, fp: IO[str]) -> int:
    """Load an export into an empty database at the same schema revision, all or nothing."""
    tables = Base.metadata.tables
    with atomic(session):
        _check_header(session, fp.readline())
        _require_empty(session)
        count = 0
        batch: list[dict[str, Any]] = []
        current: Table | None = None
        for number, line in enumerate(fp, start=2):
            name, row = _parse(line, number)
            if name not in tables:
                raise ConfigError("line %(line)s: unknown table %(table)r", line=number, table=name)
            if current is not None and current.name != name:
                _flush(session, current, batch)
            current = tables[name]
            batch.append({c.name: _from_json(c, row.get(c.name)) for c in current.columns})
            if len(batch) >= _BATCH:
                _flush(session, current, batch)
            count += 1
        if current is not None:
            _flush(session, current, batch)
        _reset_sequences(session)
    return count


def _check_header(session: Session, line: str) -> None:
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise ConfigError("not a Utsyn database export (no header line)") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError("not a Utsyn database export (no header line)")
    revision = current_revision(session.connection())
    if header.get("revision") != revision:
        raise ConfigError(
            "the export is of schema %(theirs)s, this database is at %(ours)s: "
            "upgrade both to the same revision first",
            theirs=header.get("revision"),
            ours=revision,
        )


def _require_empty(session: Session) -> None:
    for table in Base.metadata.sorted_tables:
        if session.scalar(select(func.count()).select_from(table)):
            raise ConfigError(
                "table %(table)s is not empty: import into a new database", table=table.name
            )


def _parse(line: str, number: int) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(line)
        return str(data["table"]), dict(data["row"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "line %(line)s: not an export line (%(reason)s)", line=number, reason=exc
        ) from exc


def _from_json(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, UTCDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column.type, Date):
        return date.fromisoformat(value)
    return value


def _flush(session: Session, table: Table, batch: list[dict[str, Any]]) -> None:
    if batch:
        session.execute(insert(table), batch)
        batch.clear()


def _reset_sequences(session: Session) -> None:
    """PostgreSQL hands out ids from sequences, which explicit ids do not advance."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        if "id" in table.columns and table.c.id.primary_key:
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )
            )
