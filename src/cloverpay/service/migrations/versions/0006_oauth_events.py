"""Merchants through OAuth v2 (refresh-token CAS column, connect states) and events out
(per-merchant webhook settings, delivery attempts).

Revision ID: 0006_oauth_events
Revises: 0005_terminals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_oauth_events"
down_revision: str | None = "0005_terminals"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN (nullable) works in place on SQLite and PostgreSQL.
    op.add_column("merchants", sa.Column("refresh_token_sha256", sa.String(64)))
    op.add_column("merchants", sa.Column("refresh_token_expires_at", sa.DateTime()))
    op.create_table(
        "oauth_connect_states",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code_verifier_enc", sa.Text()),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id")),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime()),
    )
    op.create_table(
        "merchant_event_settings",
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("signing_secret_enc", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("topics", sa.String(500)),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", _BIGINT, sa.ForeignKey("outbox.id"), nullable=False),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id")),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_event_deliveries_outbox_id", "event_deliveries", ["outbox_id"])


def downgrade() -> None:
    op.drop_table("event_deliveries")
    op.drop_table("merchant_event_settings")
    op.drop_table("oauth_connect_states")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("refresh_token_expires_at")
        batch.drop_column("refresh_token_sha256")
