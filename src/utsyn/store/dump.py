"""`utsyn db export` / `import`: every table as JSON lines, in an order that restores, with a
trailer that proves the dump whole.

The first line is a header naming the dump format's version and the schema revision; each
further line is `{"row": {column: value}, "table": name}`, tables in foreign-key order and
rows by primary key, keys sorted, so that an export is canonical: export → import → export
is byte-equal, from SQLite to PostgreSQL and back. The last line is the trailer: every
table's row count and the SHA-256 of every byte before it.

`import_jsonl` reads a dump twice. First it verifies: the header's version, the trailer,
the counts and the checksum; a dump cut (at a line end or within a line), altered, without
its trailer or of another version is refused, naming what is missing, before anything is
written. Then it loads the rows in one transaction, hashing them again as it goes (a file
changed in between is refused and rolled back). Both passes stream: one line and one batch
of rows in memory at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import Column, Date, Table, func, insert, select, text
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic, current_revision
from utsyn.store.models import Base, UTCDateTime

FORMAT = "utsyn-db"
VERSION = 2  # 1: no version in the header, no trailer (refused: it cannot be verified)
_BATCH = 2000
_TABLE_KEY = b', "table": "'  # how every row line ends (keys sorted): `..., "table": "x"}`


def export_jsonl(session: Session, fp: IO[bytes]) -> int:
    """Write every row, then the trailer; returns the number of rows written."""
    if session.get_bind().dialect.name == "postgresql":
        # One snapshot for every table: rows written meanwhile are all in or all out.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    digest = hashlib.sha256()

    def write(data: dict[str, Any]) -> None:
        line = _line(data)
        digest.update(line)
        fp.write(line)

    write(
        {"format": FORMAT, "version": VERSION, "revision": current_revision(session.connection())}
    )
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        counts[table.name] = 0
        for row in _table_rows(session, table):
            write({"table": table.name, "row": row})
            counts[table.name] += 1
    fp.write(_line({"end": FORMAT, "rows": counts, "sha256": digest.hexdigest()}))
    return sum(counts.values())


def _table_rows(session: Session, table: Table) -> Iterator[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    result = session.execute(query.execution_options(yield_per=_BATCH))
    for mapping in result.mappings():
        yield {c.name: _to_json(mapping[c.name]) for c in table.columns}


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _line(data: dict[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"
    return text.encode("utf-8")


@dataclass(frozen=True)
class _Trailer:
    rows: dict[str, int]
    sha256: str
    line: int  # its line number


def import_jsonl(session: Session, fp: IO[bytes]) -> int:
    """Load a verified export into an empty database at the same schema revision, all or
    nothing. `fp` is read twice (verified, then loaded), so it must be a seekable file."""
    trailer = verify_dump(fp)
    fp.seek(0)
    tables = Base.metadata.tables
    with atomic(session):
        first = fp.readline()
        _check_revision(session, _header(first))
        _require_empty(session)
        digest = hashlib.sha256(first)
        counts: Counter[str] = Counter()
        batch: list[dict[str, Any]] = []
        current: Table | None = None
        for number, line in enumerate(fp, start=2):
            if number == trailer.line:
                break
            digest.update(line)
            name, row = _parse(line, number)
            if name not in tables:
                raise ConfigError("line %(line)s: unknown table %(table)r", line=number, table=name)
            if current is not None and current.name != name:
                _flush(session, current, batch)
            current = tables[name]
            batch.append({c.name: _from_json(c, row.get(c.name)) for c in current.columns})
            if len(batch) >= _BATCH:
                _flush(session, current, batch)
            counts[name] += 1
        if current is not None:
            _flush(session, current, batch)
        if digest.hexdigest() != trailer.sha256 or +counts != +Counter(trailer.rows):
            raise ConfigError("the dump changed while it was imported; nothing was imported")
        _reset_sequences(session)
    return sum(counts.values())


def verify_dump(fp: IO[bytes]) -> _Trailer:
    """Check the header's version, then the trailer against every line before it; raise a
    ConfigError naming what is missing or wrong."""
    first = fp.readline()
    _header(first)
    digest = hashlib.sha256(first)
    counts: Counter[str] = Counter()
    last, number, previous = b"", 1, ""
    for line in fp:
        if last:
            digest.update(last)
            previous = _table_of(last)
            counts[previous] += 1
        last, number = line, number + 1
    trailer = _trailer(last, number)
    if trailer is None:
        raise _cut(last, number, counts, previous)
    short = [
        f"{table} {counts[table]} of {rows}"
        for table, rows in trailer.rows.items()
        if counts[table] != rows
    ]
    if short or set(counts) - set(trailer.rows):
        raise ConfigError(
            "the dump's rows differ from its trailer's counts (%(tables)s): rows are missing "
            "or were added; nothing was imported",
            tables=", ".join(short) or ", ".join(sorted(set(counts) - set(trailer.rows))),
        )
    if digest.hexdigest() != trailer.sha256:
        raise ConfigError(
            "the dump's SHA-256 does not match its trailer: it was altered; nothing was imported"
        )
    return trailer


def _header(line: bytes) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError("not a Utsyn database export (no header line)")
    if "version" not in header:
        raise ConfigError(
            "an export of an older Utsyn, without row counts or a checksum: it cannot be "
            "verified; export it again with this version; nothing was imported"
        )
    if header["version"] != VERSION:
        raise ConfigError(
            "an export of dump format %(version)s; this Utsyn reads format %(known)s; "
            "nothing was imported",
            version=header["version"],
            known=VERSION,
        )
    return header


def _check_revision(session: Session, header: dict[str, Any]) -> None:
    revision = current_revision(session.connection())
    if header.get("revision") != revision:
        raise ConfigError(
            "the export is of schema %(theirs)s, this database is at %(ours)s: "
            "upgrade both to the same revision first",
            theirs=header.get("revision"),
            ours=revision,
        )


def _table_of(line: bytes) -> str:
    """The table of a row line, without parsing it (the checksum vouches for the line)."""
    at = line.rfind(_TABLE_KEY)
    return line[at + len(_TABLE_KEY) :].split(b'"', 1)[0].decode("utf-8", "replace")


def _trailer(line: bytes, number: int) -> _Trailer | None:
    if not line.endswith(b"\n"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("end") != FORMAT:
        return None
    rows, sha256 = data.get("rows"), data.get("sha256")
    if not isinstance(rows, dict) or not isinstance(sha256, str):
        return None
    if not all(isinstance(v, int) for v in rows.values()):
        return None
    return _Trailer({str(k): v for k, v in rows.items()}, sha256, number)


def _cut(last: bytes, number: int, counts: Counter[str], previous: str) -> ConfigError:
    """Where a dump without its trailer ends, and so what it lacks."""
    if number == 1:
        return ConfigError(
            "the dump has its header only: its rows and its trailer (row counts and "
            "checksum) are missing; nothing was imported"
        )
    complete = last.endswith(b"\n")
    table = _table_of(last) if _TABLE_KEY in last else previous
    order = [t.name for t in Base.metadata.sorted_tables]
    after = order[order.index(table) + 1 :] if table in order else order
    rows = counts[table] + (1 if complete else 0)
    missing = ", ".join(after) or "-"
    if complete:
        return ConfigError(
            "the dump is cut after line %(line)s, in table %(table)s (%(rows)s rows of it); "
            "missing: the rest of it, the tables after it (%(after)s) and the trailer (row "
            "counts and checksum); nothing was imported",
            line=number,
            table=table or "?",
            rows=rows,
            after=missing,
        )
    return ConfigError(
        "the dump is cut within line %(line)s, in table %(table)s (%(rows)s whole rows of "
        "it); missing: the rest of it, the tables after it (%(after)s) and the trailer (row "
        "counts and checksum); nothing was imported",
        line=number,
        table=table or "?",
        rows=rows,
        after=missing,
    )


def _require_empty(session: Session) -> None:
    for table in Base.metadata.sorted_tables:
        if session.scalar(select(func.count()).select_from(table)):
            raise ConfigError(
                "table %(table)s is not empty: import into a new database", table=table.name
            )


def _parse(line: bytes, number: int) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(line)
        return str(data["table"]), dict(data["row"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "line %(line)s: not an export line (%(problem)s)", line=number, problem=exc
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
