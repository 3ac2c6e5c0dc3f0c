"""Receipts: a merchant can turn off the payment and refund receipts emailed to payers.

Revision ID: 0010_receipts
Revises: 0009_fees
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010_receipts"
down_revision: str | None = "0009_fees"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merchant_web_settings") as batch:
        batch.add_column(
            sa.Column("receipts_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("merchant_web_settings") as batch:
        batch.drop_column("receipts_enabled")
