"""Web side: staff users, merchant pay settings, Hosted Checkout links, email deliveries.

Revision ID: 0002_web
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_web"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime()),
    )
    op.create_index("ix_staff_users_merchant_id", "staff_users", ["merchant_id"])
    op.create_table(
        "merchant_web_settings",
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), primary_key=True),
        sa.Column("pay_flow", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "checkout_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("invoice_id", sa.String(32), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("checkout_session_id", sa.String(64), nullable=False, unique=True),
        sa.Column("href", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_checkout_links_invoice_id", "checkout_links", ["invoice_id"])
    op.create_table(
        "email_deliveries",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", _BIGINT, sa.ForeignKey("outbox.id"), nullable=False, unique=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id")),
        sa.Column("transport", sa.String(10), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_email_deliveries_merchant_id", "email_deliveries", ["merchant_id"])


def downgrade() -> None:
    op.drop_table("email_deliveries")
    op.drop_table("checkout_links")
    op.drop_table("merchant_web_settings")
    op.drop_table("staff_users")
