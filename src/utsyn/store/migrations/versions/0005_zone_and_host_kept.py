"""A zone and a host of the same name are both kept; the assessment a rating came from.

`target_scan` was unique on (run, organisation, target): when `example.no` is both a mail
domain and the web site, its zone result and its host result overwrote each other and the
stored rating lost every e-mail or every web finding. The key now includes `kind`. Rows
already stored keep their values (the old key was stricter, so none collide); a result lost
to the old key comes back with the next scan. `via` says why a target was scanned (a mail
exchanger followed from a domain's MX records).

`observation.carried` marks an observation kept from an earlier scan because this scan's
check failed: a failure is not a finding and clears none (`rules.standing`).

`org_assessment` keeps, per organisation, the assets its latest scans evaluated and its
latest rating whole, so views show the rating that was saved instead of computing one.
Organisations rated before this revision get theirs at their next rating.

Revision ID: 0005_zone_and_host_kept
Revises: 0004_org_latest_fillfactor
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_zone_and_host_kept"
down_revision: str | Sequence[str] | None = "0004_org_latest_fillfactor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.drop_index("ix_target_scan_org_target", table_name="target_scan")
    with op.batch_alter_table("target_scan") as batch:
        batch.drop_constraint("uq_target_scan_run_id_org_id_target", type_="unique")
        batch.create_unique_constraint(
            "uq_target_scan_run_id_org_id_kind_target", ["run_id", "org_id", "kind", "target"]
        )
        batch.add_column(sa.Column("via", sa.String(length=300), server_default="", nullable=False))
    op.create_index(
        "ix_target_scan_org_kind_target", "target_scan", ["org_id", "kind", "target", "id"]
    )
    with op.batch_alter_table("observation") as batch:
        batch.add_column(
            sa.Column("carried", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "org_assessment",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("assets", JSON, nullable=False),
        sa.Column("assessed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", JSON, nullable=True),
        sa.Column("rated", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_org_assessment_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_assessment")),
    )


def downgrade() -> None:
    """Back to one row per target: of a zone and a host of one name, the newer is kept."""
    op.drop_table("org_assessment")
    with op.batch_alter_table("observation") as batch:
        batch.drop_column("carried")
    op.drop_index("ix_target_scan_org_kind_target", table_name="target_scan")
    op.execute(
        "DELETE FROM target_scan WHERE id NOT IN "
        "(SELECT MAX(id) FROM target_scan GROUP BY run_id, org_id, target)"
    )
    with op.batch_alter_table("target_scan") as batch:
        batch.drop_column("via")
        batch.drop_constraint("uq_target_scan_run_id_org_id_kind_target", type_="unique")
        batch.create_unique_constraint(
            "uq_target_scan_run_id_org_id_target", ["run_id", "org_id", "target"]
        )
    op.create_index("ix_target_scan_org_target", "target_scan", ["org_id", "target", "id"])
