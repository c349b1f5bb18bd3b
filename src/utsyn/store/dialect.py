"""The few statements SQLite and PostgreSQL spell differently (both speak ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
