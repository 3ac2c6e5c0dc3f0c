"""Subscriptions: plans, subscriptions, each merchant's billing mode.

Revision ID: 0004_subscriptions
Revises: 0003_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_subscriptions"
down_revision: str | None = "0003_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("interval", sa.String(10), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("clover_plan_id", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("amount > 0 AND interval_count > 0", name="amounts"),
        sa.CheckConstraint("interval IN ('week', 'month', 'year')", name="interval"),
    )
    op.create_index("ix_plans_merchant", "plans", ["merchant_id", "created_at"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column(
            "card_on_file_id", sa.String(32), sa.ForeignKey("cards_on_file.id"), nullable=False
        ),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("billing_mode", sa.String(20), nullable=False),
        sa.Column("anchor_at", sa.DateTime(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("current_period_start", sa.DateTime(), nullable=False),
        sa.Column("current_period_end", sa.DateTime(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_billing_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("clover_subscription_id", sa.String(64), nullable=True, unique=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("canceled_at", sa.DateTime(), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'past_due', 'canceled', 'deactivated')", name="status"
        ),
        sa.CheckConstraint(
            "billing_mode IN ('scheduler', 'clover_recurring')", name="billing_mode"
        ),
        sa.CheckConstraint("consecutive_failures >= 0 AND period_index >= 0", name="counters"),
    )
    op.create_index("ix_subscriptions_due", "subscriptions", ["status", "next_billing_at"])
    op.create_index("ix_subscriptions_merchant", "subscriptions", ["merchant_id", "created_at"])
    op.create_table(
        "merchant_billing_settings",
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), primary_key=True),
        sa.Column("billing_mode", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "billing_mode IN ('scheduler', 'clover_recurring')", name="billing_mode"
        ),
    )


def downgrade() -> None:
    op.drop_table("merchant_billing_settings")
    op.drop_index("ix_subscriptions_merchant", table_name="subscriptions")
    op.drop_index("ix_subscriptions_due", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_plans_merchant", table_name="plans")
    op.drop_table("plans")
