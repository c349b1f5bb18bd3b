"""Account lifecycle: disabled accounts, tokens that always expire, password reset links,
and logouts and login throttles kept in the database (a restart forgets none of them).

`app_user.disabled`: a disabled account cannot log in; its sessions and tokens stop working.
`api_token.expires` becomes required: a token stored without expiry gets 365 days from its
creation (the longest lifetime `UTSYN_TOKEN_MAX_DAYS` allows), so an old token that was
meant to live forever expires like every other.

`password_reset`: one-time links (their SHA-256). `session_revocation`: logged-out session
ids (their SHA-256) until their cookies would have lapsed. `login_throttle`: failed logins
and back-off per address, per account and address, and per account. `login_address`: the
addresses each account logged in from (exempt from the account-wide back-off).

Revision ID: 0006_accounts
Revises: 0005_zone_and_host_kept
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0006_accounts"
down_revision: str | Sequence[str] | None = "0005_zone_and_host_kept"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_TOKEN_DAYS = 365


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Not in a batch: on SQLite a batch rebuilds the table, and dropping the old `app_user`
    # (foreign keys on) would delete every token and portfolio by ON DELETE CASCADE.
    op.add_column(
        "app_user", sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    _expire_old_tokens()
    with op.batch_alter_table("api_token") as batch:  # no table refers to api_token
        batch.alter_column("expires", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_table(
        "password_reset",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _time("created"),
        _time("expires"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_password_reset_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_token_hash")),
    )
    op.create_index(op.f("ix_password_reset_user_id"), "password_reset", ["user_id"])
    op.create_table(
        "session_revocation",
        sa.Column("sid_hash", sa.String(length=64), nullable=False),
        _time("until"),
        sa.PrimaryKeyConstraint("sid_hash", name=op.f("pk_session_revocation")),
    )
    op.create_index(op.f("ix_session_revocation_until"), "session_revocation", ["until"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("last_failure"),
        _time("blocked_until", nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_index(op.f("ix_login_throttle_last_failure"), "login_throttle", ["last_failure"])
    op.create_table(
        "login_address",
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        _time("last_success"),
        sa.PrimaryKeyConstraint("account", "address", name=op.f("pk_login_address")),
    )
    op.create_index(op.f("ix_login_address_last_success"), "login_address", ["last_success"])


def _expire_old_tokens() -> None:
    # Few rows (API tokens): read and written one by one, the same on both databases.
    tokens = sa.table(
        "api_token",
        sa.column("id", ID),
        sa.column("created", sa.DateTime(timezone=True)),
        sa.column("expires", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    endless = connection.execute(
        sa.select(tokens.c.id, tokens.c.created).where(tokens.c.expires.is_(None))
    ).all()
    for token_id, created in endless:
        connection.execute(
            tokens.update()
            .where(tokens.c.id == token_id)
            .values(expires=created + timedelta(days=OLD_TOKEN_DAYS))
        )


def downgrade() -> None:
    """The new tables go; tokens keep the expiry they were given; no account stays disabled
    in a schema that cannot say so: disabled accounts lose their password instead."""
    op.drop_table("login_address")
    op.drop_table("login_throttle")
    op.drop_table("session_revocation")
    op.drop_table("password_reset")
    with op.batch_alter_table("api_token") as batch:
        batch.alter_column("expires", existing_type=sa.DateTime(timezone=True), nullable=True)
    op.execute("UPDATE app_user SET password_hash = '!disabled' WHERE disabled")
    op.drop_column("app_user", "disabled")  # not in a batch: see upgrade()
