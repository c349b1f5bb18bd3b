"""Feed updates and alert delivery: feed provenance and per-channel delivery status.

Adds `feed_generation` and `feed_file` (where each verified set of vulnerability feed files
came from; the records themselves stay in the files, see utsyn.vuln.feeds), the delivery
status of an alert (`alert.attempts`, `alert.last_error`) and `alert_delivery`, one row per
alert and channel, so a webhook already delivered is not sent again when only the e-mail
is retried.

Revision ID: 0003_feeds
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_feeds"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _feed_tables()
    op.create_table(
        "alert_delivery",
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("delivered", nullable=True),
        _time("failed", nullable=True),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')", name=op.f("ck_alert_delivery_channel")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_alert_delivery_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "channel", name=op.f("pk_alert_delivery")),
    )
    op.add_column("alert", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("alert", sa.Column("last_error", sa.Text(), nullable=True))


def _feed_tables() -> None:
    op.create_table(
        "feed_generation",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        _time("created"),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_generation")),
        sa.UniqueConstraint("name", name=op.f("uq_feed_generation_name")),
    )
    op.create_table(
        "feed_file",
        sa.Column("id", ID, nullable=False),
        sa.Column("generation_id", ID, nullable=False),
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=300), nullable=True),
        sa.Column("last_modified", sa.String(length=64), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_date", sa.Date(), nullable=False),
        _time("loaded_at"),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["feed_generation.id"],
            name=op.f("fk_feed_file_generation_id_feed_generation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_file")),
        sa.UniqueConstraint("generation_id", "path", name=op.f("uq_feed_file_generation_id_path")),
    )


def downgrade() -> None:
    # SQLite cannot drop a column in place on every version: rebuild the table in a batch.
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("last_error")
        batch.drop_column("attempts")
    op.drop_table("alert_delivery")
    op.drop_table("feed_file")
    op.drop_table("feed_generation")
