"""Averages, municipalities and history: the rollups the portfolio and national views read.

Adds `grade_count.score_tenths`, the dimensions a snapshot is counted under, and five
tables (design notes in utsyn.store.models), then fills them from the rows already stored,
so an upgraded database answers exactly as a recount would.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENTHS = "CAST(ROUND(score * 10) AS BIGINT)"


def _key(*names: str) -> list[sa.Column[str]]:
    widths = {"municipality": 4, "rulebook_version": 32, "sector": 32, "county": 2, "rule": 120}
    return [sa.Column(n, sa.String(length=widths[n]), nullable=False) for n in names]


def _measures(scored: bool = True) -> list[sa.Column[int]]:
    orgs: list[sa.Column[int]] = [sa.Column("orgs", sa.Integer(), nullable=False)]
    return orgs + ([sa.Column("score_tenths", sa.BigInteger(), nullable=False)] if scored else [])


def upgrade() -> None:
    _add_columns()
    _create_tables()
    _backfill()


def _add_columns() -> None:
    op.add_column(
        "grade_count",
        sa.Column("score_tenths", sa.BigInteger(), server_default="0", nullable=False),
    )
    for name, width in (("sector", 32), ("county", 2), ("municipality", 4)):
        op.add_column(
            "score_snapshot",
            sa.Column(name, sa.String(length=width), server_default="", nullable=False),
        )


def _create_tables() -> None:
    op.create_table(
        "municipality_grade_count",
        *_key("municipality", "rulebook_version", "sector", "county"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint(
            "municipality",
            "rulebook_version",
            "sector",
            "county",
            "active",
            "grade",
            name=op.f("pk_municipality_grade_count"),
        ),
    )
    op.create_table(
        "municipality_issue_count",
        *_key("municipality", "rulebook_version", "rule", "sector", "county"),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_measures(scored=False),
        sa.PrimaryKeyConstraint(
            "municipality",
            "rulebook_version",
            "rule",
            "sector",
            "county",
            "active",
            name=op.f("pk_municipality_issue_count"),
        ),
    )
    op.create_table(
        "score_day",
        sa.Column("day", sa.Date(), nullable=False),
        *_key("rulebook_version", "sector", "county"),
        *_measures(),
        sa.PrimaryKeyConstraint(
            "day", "rulebook_version", "sector", "county", name=op.f("pk_score_day")
        ),
    )
    op.create_table(
        "national_score_day",
        sa.Column("day", sa.Date(), nullable=False),
        *_key("rulebook_version"),
        *_measures(),
        sa.PrimaryKeyConstraint("day", "rulebook_version", name=op.f("pk_national_score_day")),
    )
    op.create_table(
        "municipality_score_day",
        *_key("municipality"),
        sa.Column("day", sa.Date(), nullable=False),
        *_key("rulebook_version", "sector", "county"),
        *_measures(),
        sa.PrimaryKeyConstraint(
            "municipality",
            "day",
            "rulebook_version",
            "sector",
            "county",
            name=op.f("pk_municipality_score_day"),
        ),
    )


def _backfill() -> None:
    # Snapshots are counted under the organisation's dimensions at the time of the upgrade.
    for name in ("sector", "county", "municipality"):
        op.execute(
            f"UPDATE score_snapshot SET {name} = COALESCE((SELECT o.{name} FROM organisation o "
            f"WHERE o.id = score_snapshot.org_id), '')"
        )
    op.execute(
        f"UPDATE grade_count SET score_tenths = COALESCE((SELECT SUM({TENTHS}) FROM org_latest l "
        "WHERE l.rulebook_version = grade_count.rulebook_version "
        "AND l.sector = grade_count.sector AND l.county = grade_count.county "
        "AND l.active = grade_count.active AND l.grade = grade_count.grade), 0)"
    )
    dims = "rulebook_version, sector, county"
    op.execute(
        f"INSERT INTO municipality_grade_count SELECT municipality, {dims}, active, grade, "
        f"COUNT(*), SUM({TENTHS}) FROM org_latest "
        f"GROUP BY municipality, {dims}, active, grade"
    )
    rules = (
        "jsonb_array_elements_text(l.rules) AS r(rule)"
        if op.get_bind().dialect.name == "postgresql"
        else "json_each(l.rules) AS r"
    )
    rule = "r.rule" if op.get_bind().dialect.name == "postgresql" else "r.value"
    op.execute(
        f"INSERT INTO municipality_issue_count SELECT l.municipality, l.rulebook_version, "
        f"{rule}, l.sector, l.county, l.active, COUNT(*) FROM org_latest l, {rules} "
        f"GROUP BY l.municipality, l.rulebook_version, {rule}, l.sector, l.county, l.active"
    )
    op.execute(
        f"INSERT INTO score_day SELECT day, {dims}, COUNT(*), SUM({TENTHS}) "
        f"FROM score_snapshot GROUP BY day, {dims}"
    )
    op.execute(
        f"INSERT INTO national_score_day SELECT day, rulebook_version, COUNT(*), SUM({TENTHS}) "
        "FROM score_snapshot GROUP BY day, rulebook_version"
    )
    op.execute(
        f"INSERT INTO municipality_score_day SELECT municipality, day, {dims}, COUNT(*), "
        f"SUM({TENTHS}) FROM score_snapshot GROUP BY municipality, day, {dims}"
    )


def downgrade() -> None:
    for table in (
        "municipality_score_day",
        "national_score_day",
        "score_day",
        "municipality_issue_count",
        "municipality_grade_count",
    ):
        op.drop_table(table)
    with op.batch_alter_table("score_snapshot") as batch:
        for name in ("municipality", "county", "sector"):
            batch.drop_column(name)
    with op.batch_alter_table("grade_count") as batch:
        batch.drop_column("score_tenths")
