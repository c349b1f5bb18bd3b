"""The first schema: every table of utsyn.store.models (design notes there).

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)

    op.create_table(
        "grade_count",
        sa.Column("rulebook_version", sa.String(length=32), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("county", sa.String(length=2), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("orgs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "rulebook_version", "sector", "county", "active", "grade", name=op.f("pk_grade_count")
        ),
    )
    op.create_table(
        "issue_count",
        sa.Column("rulebook_version", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("county", sa.String(length=2), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("orgs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "rulebook_version", "rule", "sector", "county", "active", name=op.f("pk_issue_count")
        ),
    )
    op.create_index("ix_issue_count_rule", "issue_count", ["rule"], unique=False)

    op.create_table(
        "organisation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("orgnr", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("org_form", sa.String(length=8), nullable=True),
        sa.Column("sector", sa.String(length=32), nullable=True),
        sa.Column("county", sa.String(length=2), nullable=True),
        sa.Column("municipality", sa.String(length=4), nullable=True),
        sa.Column("primary_domain", sa.String(length=253), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(orgnr) = 9", name=op.f("ck_organisation_orgnr_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("orgnr", name=op.f("uq_organisation_orgnr")),
    )
    op.create_index(op.f("ix_organisation_county"), "organisation", ["county"], unique=False)
    op.create_index(
        op.f("ix_organisation_municipality"), "organisation", ["municipality"], unique=False
    )
    op.create_index(op.f("ix_organisation_sector"), "organisation", ["sector"], unique=False)

    op.create_table(
        "scan_run",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "scope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rulebook_version", sa.String(length=32), nullable=False),
        sa.Column(
            "stats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'interrupted')", name=op.f("ck_scan_run_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_run")),
    )
    op.create_index(op.f("ix_scan_run_status"), "scan_run", ["status"], unique=False)

    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_alert_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alert_dedupe_key")),
    )
    op.create_index(op.f("ix_alert_delivered"), "alert", ["delivered"], unique=False)
    op.create_index(op.f("ix_alert_org_id"), "alert", ["org_id"], unique=False)

    op.create_table(
        "app_user",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('national_admin', 'national_analyst', 'org_admin', 'org_viewer')",
            name=op.f("ck_app_user_role"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_app_user_org_id_organisation"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("email", name=op.f("uq_app_user_email")),
    )
    op.create_index(op.f("ix_app_user_org_id"), "app_user", ["org_id"], unique=False)

    op.create_table(
        "asset",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("verification_token", sa.String(length=128), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('domain', 'hostname', 'ip', 'service')", name=op.f("ck_asset_kind")
        ),
        sa.CheckConstraint(
            "state IN ('discovered', 'claimed', 'verified', 'rejected')",
            name=op.f("ck_asset_state"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_asset_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("org_id", "kind", "value", name=op.f("uq_asset_org_id_kind_value")),
    )
    op.create_index(op.f("ix_asset_value"), "asset", ["value"], unique=False)

    op.create_table(
        "finding",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=False),
        sa.Column("asset", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_finding_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding")),
        sa.UniqueConstraint("org_id", "key", name=op.f("uq_finding_org_id_key")),
    )
    op.create_index("ix_finding_rule", "finding", ["rule"], unique=False)

    op.create_table(
        "score_snapshot",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rulebook_version", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column(
            "factors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "penalties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("saved", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_score_snapshot_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_snapshot")),
        sa.UniqueConstraint(
            "org_id",
            "day",
            "rulebook_version",
            name=op.f("uq_score_snapshot_org_id_day_rulebook_version"),
        ),
    )
    op.create_table(
        "scorecard",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("rulebook_version", sa.String(length=32), nullable=True),
        sa.Column("scored", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_scorecard_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_scorecard_org_id_name")),
    )
    op.create_table(
        "target_scan",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("written", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('domain', 'host')", name=op.f("ck_target_scan_kind")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_target_scan_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_run.id"],
            name=op.f("fk_target_scan_run_id_scan_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_scan")),
        sa.UniqueConstraint(
            "run_id", "org_id", "target", name=op.f("uq_target_scan_run_id_org_id_target")
        ),
    )
    op.create_index(
        "ix_target_scan_org_target", "target_scan", ["org_id", "target", "id"], unique=False
    )

    op.create_table(
        "api_token",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_api_token_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "explanation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=254), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=254), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('accepted_risk', 'false_positive', 'compensating_control')",
            name=op.f("ck_explanation_kind"),
        ),
        sa.CheckConstraint(
            "review IN ('pending', 'accepted', 'rejected')", name=op.f("ck_explanation_review")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["finding.id"],
            name=op.f("fk_explanation_finding_id_finding"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_explanation")),
    )
    op.create_index(op.f("ix_explanation_finding_id"), "explanation", ["finding_id"], unique=False)
    op.create_index(op.f("ix_explanation_review"), "explanation", ["review"], unique=False)

    op.create_table(
        "observation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "target_scan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("check", sa.String(length=120), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("probe", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_scan_id"],
            ["target_scan.id"],
            name=op.f("fk_observation_target_scan_id_target_scan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
    )
    op.create_index(
        op.f("ix_observation_target_scan_id"), "observation", ["target_scan_id"], unique=False
    )

    op.create_table(
        "org_latest",
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rulebook_version", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("county", sa.String(length=2), nullable=False),
        sa.Column("municipality", sa.String(length=4), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_org_latest_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["score_snapshot.id"],
            name=op.f("fk_org_latest_snapshot_id_score_snapshot"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_latest")),
    )
    op.create_index("ix_org_latest_county_grade", "org_latest", ["county", "grade"], unique=False)
    op.create_index(
        "ix_org_latest_municipality_grade", "org_latest", ["municipality", "grade"], unique=False
    )
    op.create_index("ix_org_latest_score", "org_latest", ["score"], unique=False)
    op.create_index("ix_org_latest_sector_grade", "org_latest", ["sector", "grade"], unique=False)

    op.create_table(
        "portfolio",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["app_user.id"],
            name=op.f("fk_portfolio_owner_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_portfolio_owner_id_name")),
    )
    op.create_table(
        "scorecard_asset",
        sa.Column(
            "scorecard_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("asset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_scorecard_asset_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scorecard_id"],
            ["scorecard.id"],
            name=op.f("fk_scorecard_asset_scorecard_id_scorecard"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scorecard_id", "asset_id", name=op.f("pk_scorecard_asset")),
    )
    op.create_table(
        "portfolio_member",
        sa.Column(
            "portfolio_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_portfolio_member_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_portfolio_member_portfolio_id_portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("portfolio_id", "org_id", name=op.f("pk_portfolio_member")),
    )
    op.create_index(
        op.f("ix_portfolio_member_org_id"), "portfolio_member", ["org_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_portfolio_member_org_id"), table_name="portfolio_member")

    op.drop_table("portfolio_member")
    op.drop_table("scorecard_asset")
    op.drop_table("portfolio")
    op.drop_index("ix_org_latest_sector_grade", table_name="org_latest")
    op.drop_index("ix_org_latest_score", table_name="org_latest")
    op.drop_index("ix_org_latest_municipality_grade", table_name="org_latest")
    op.drop_index("ix_org_latest_county_grade", table_name="org_latest")

    op.drop_table("org_latest")
    op.drop_index(op.f("ix_observation_target_scan_id"), table_name="observation")

    op.drop_table("observation")
    op.drop_index(op.f("ix_explanation_review"), table_name="explanation")
    op.drop_index(op.f("ix_explanation_finding_id"), table_name="explanation")

    op.drop_table("explanation")
    op.drop_table("api_token")
    op.drop_index("ix_target_scan_org_target", table_name="target_scan")

    op.drop_table("target_scan")
    op.drop_table("scorecard")
    op.drop_table("score_snapshot")
    op.drop_index("ix_finding_rule", table_name="finding")

    op.drop_table("finding")
    op.drop_index(op.f("ix_asset_value"), table_name="asset")

    op.drop_table("asset")
    op.drop_index(op.f("ix_app_user_org_id"), table_name="app_user")

    op.drop_table("app_user")
    op.drop_index(op.f("ix_alert_org_id"), table_name="alert")
    op.drop_index(op.f("ix_alert_delivered"), table_name="alert")

    op.drop_table("alert")
    op.drop_index(op.f("ix_scan_run_status"), table_name="scan_run")

    op.drop_table("scan_run")
    op.drop_index(op.f("ix_organisation_sector"), table_name="organisation")
    op.drop_index(op.f("ix_organisation_municipality"), table_name="organisation")
    op.drop_index(op.f("ix_organisation_county"), table_name="organisation")

    op.drop_table("organisation")
    op.drop_index("ix_issue_count_rule", table_name="issue_count")

    op.drop_table("issue_count")
    op.drop_table("grade_count")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")

    op.drop_table("audit_log")
