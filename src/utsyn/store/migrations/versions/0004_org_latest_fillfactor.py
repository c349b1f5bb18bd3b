"""Room on `org_latest`'s pages for in-place updates (PostgreSQL).

A national rescoring rewrites every organisation's `org_latest` row, most of them with the
same score, grade and area: only the snapshot, day and time move, none of them indexed.
PostgreSQL can then update the row on its own page without touching the five indexes (a
"HOT" update), but only when the page has free space: at the default fill factor (100) the
pages are full. Half-full pages cost 10 % of the rescoring's time at one million
organisations (benchmarks/RESULTS.md). SQLite has no such setting: nothing to do there.
Existing pages get the room as rows move or after `VACUUM FULL org_latest`.

Revision ID: 0004_org_latest_fillfactor
Revises: 0003_feeds
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_org_latest_fillfactor"
down_revision: str | Sequence[str] | None = "0003_feeds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_FACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE org_latest SET (fillfactor = {FILL_FACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE org_latest RESET (fillfactor)")
