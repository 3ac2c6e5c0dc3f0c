"""Webhooks: per-merchant Hosted Checkout signing secrets (encrypted).

Revision ID: 0003_webhooks
Revises: 0002_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_webhooks"
down_revision: str | None = "0002_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merchant_webhook_secrets",
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), primary_key=True),
        sa.Column("checkout_signing_secret_enc", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("merchant_webhook_secrets")
