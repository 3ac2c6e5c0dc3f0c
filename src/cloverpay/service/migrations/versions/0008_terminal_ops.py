"""Refunds and voids of terminal payments through the owning process (terminal_ops),
voided payments, one open void per payment.

Revision ID: 0008_terminal_ops
Revises: 0007_preauth
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_terminal_ops"
down_revision: str | None = "0007_preauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terminal_ops",
        sa.Column(
            "attempt_id", sa.String(32), sa.ForeignKey("payment_attempts.id"), primary_key=True
        ),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("terminal_id", sa.String(32), sa.ForeignKey("terminals.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("payment_id", sa.String(32), sa.ForeignKey("payments.id"), nullable=False),
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
            name=op.f("ck_terminal_ops_stage"),
        ),
        sa.CheckConstraint("kind IN ('refund', 'void')", name=op.f("ck_terminal_ops_kind")),
    )
    op.create_index("ix_terminal_ops_terminal_stage", "terminal_ops", ["terminal_id", "stage"])
    op.add_column("payments", sa.Column("voided_at", sa.DateTime()))
    op.add_column("payments", sa.Column("void_attempt_id", sa.String(32)))
    op.create_index("uq_payments_void_attempt", "payments", ["void_attempt_id"], unique=True)
    where = sa.text("kind = 'void' AND state IN ('pending', 'unknown')")
    op.create_index(
        "uq_payment_attempts_open_void_per_payment",
        "payment_attempts",
        ["payment_id"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("uq_payment_attempts_open_void_per_payment", table_name="payment_attempts")
    op.drop_index("uq_payments_void_attempt", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("void_attempt_id")
        batch.drop_column("voided_at")
    op.drop_index("ix_terminal_ops_terminal_stage", table_name="terminal_ops")
    op.drop_table("terminal_ops")
