"""Single sign-on by OpenID Connect.

`oidc_identity`: a person at a provider (the provider's name and its `sub`) and the local
account they sign in to. `oidc_nonce`: the nonces of ID tokens already used (their
SHA-256), kept until the token expires, so an ID token is accepted once.

Revision ID: 0007_oidc
Revises: 0006_accounts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_oidc"
down_revision: str | Sequence[str] | None = "0006_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "oidc_identity",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        _time("created"),
        _time("last_login"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_oidc_identity_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider", "subject", name=op.f("pk_oidc_identity")),
    )
    op.create_index(op.f("ix_oidc_identity_user_id"), "oidc_identity", ["user_id"])
    op.create_table(
        "oidc_nonce",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        _time("until"),
        sa.PrimaryKeyConstraint("nonce_hash", name=op.f("pk_oidc_nonce")),
    )
    op.create_index(op.f("ix_oidc_nonce_until"), "oidc_nonce", ["until"])


def downgrade() -> None:
    op.drop_table("oidc_nonce")
    op.drop_table("oidc_identity")
