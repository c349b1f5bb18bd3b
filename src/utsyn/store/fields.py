"""What text from outside may be stored: the column's length, and no control characters.

PostgreSQL refuses a string longer than its column and any NUL; SQLite takes both, so a
database that worked embedded would fail at national scale, and a name with an ESC or a
U+202E in it would drive the terminal or reorder the page that shows it. Every store
function that takes a name or a reason from outside (an import, a manifest, a form, the
API) checks it here first, on every database, and refuses it with an error that names the
field — the same answer from SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from utsyn.errors import ConfigError
from utsyn.text import unsafe_character


def check_text(
    value: str, column: InstrumentedAttribute[Any], *, lines: bool = False, field: str = ""
) -> None:
    """Refuse `value` for `column` if it is too long or holds a control character (a line
    feed, carriage return or tab only where `lines`). `field`: how the error names it
    (default `table.column`)."""
    table = column.expression.table.name
    field = field or f"{table}.{column.key}"
    limit = getattr(column.expression.type, "length", None)
    if limit is not None and len(value) > limit:
        raise ConfigError(
            "%(field)s: %(length)s characters, at most %(limit)s",
            field=field,
            length=len(value),
            limit=limit,
        )
    character = unsafe_character(value, lines=lines)
    if character is not None:
        raise ConfigError(
            "%(field)s: the control character %(character)s is refused",
            field=field,
            character=character,
        )
