"""Terminals (pairing token encrypted, lease of the owning process) and terminal sales.

Revision ID: 0005_terminals
Revises: 0004_subscriptions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_terminals"
down_revision: str | None = "0004_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terminals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("connection_kind", sa.String(10), nullable=False),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("serial", sa.String(64)),
        sa.Column("device_id", sa.String(64)),
        sa.Column("pinned_sha256", sa.String(64)),
        sa.Column("auth_token_enc", sa.Text()),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("pairing_code", sa.String(20)),
        sa.Column("last_error", sa.Text()),
        sa.Column("lease_owner", sa.String(120)),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("lease_renewed_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("merchant_id", "name", name=op.f("uq_terminals_merchant_id_name")),
        sa.CheckConstraint(
            "connection_kind IN ('lan', 'cloud')", name=op.f("ck_terminals_connection_kind")
        ),
    )
    op.create_index("ix_terminals_merchant_id", "terminals", ["merchant_id"])
    op.create_table(
        "terminal_sales",
        sa.Column(
            "attempt_id", sa.String(32), sa.ForeignKey("payment_attempts.id"), primary_key=True
        ),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("terminal_id", sa.String(32), sa.ForeignKey("terminals.id"), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("claimed_by", sa.String(120)),
        sa.Column("ui_state", sa.String(60)),
        sa.Column("ui_text", sa.String(300)),
        sa.Column("note", sa.Text()),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "stage IN ('queued', 'sending', 'done', 'unknown', 'expired')",
            name=op.f("ck_terminal_sales_stage"),
        ),
    )
    op.create_index("ix_terminal_sales_terminal_stage", "terminal_sales", ["terminal_id", "stage"])


def downgrade() -> None:
    op.drop_table("terminal_sales")
    op.drop_table("terminals")
