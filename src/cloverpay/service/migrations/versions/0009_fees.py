"""Fees: the merchant's card processing rate, for the reports' fee estimate.

Revision ID: 0009_fees
Revises: 0008_terminal_ops
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_fees"
down_revision: str | None = "0008_terminal_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merchant_web_settings") as batch:
        batch.add_column(
            sa.Column("fee_rate_bps", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("fee_fixed_cents", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("merchant_web_settings") as batch:
        batch.drop_column("fee_fixed_cents")
        batch.drop_column("fee_rate_bps")
