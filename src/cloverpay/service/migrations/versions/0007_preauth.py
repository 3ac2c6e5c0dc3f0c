"""Pre-authorizations: the authorizations table; payment_attempts.capture (false for a
pre-authorization) and payment_attempts.authorization_id (capture / void of one), with
at most one open capture or void per authorization.

Revision ID: 0007_preauth
Revises: 0006_oauth_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_preauth"
down_revision: str | None = "0006_oauth_events"
branch_labels = None
depends_on = None

_OPEN_ON_AUTHORIZATION = "kind IN ('capture', 'void') AND state IN ('pending', 'unknown')"


def upgrade() -> None:
    op.create_table(
        "authorizations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("invoice_id", sa.String(32), nullable=False),
        sa.Column("attempt_id", sa.String(32), nullable=False),
        sa.Column("clover_charge_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tip_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_captured", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("card_brand", sa.String(20), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('authorized', 'captured', 'voided')",
            name=op.f("ck_authorizations_status"),
        ),
        sa.CheckConstraint(
            "amount > 0 AND tip_amount >= 0 AND amount_captured >= 0 AND amount_captured <= amount",
            name=op.f("ck_authorizations_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_authorizations_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_authorizations_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["payment_attempts.id"],
            name=op.f("fk_authorizations_attempt_id_payment_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorizations")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_authorizations_attempt_id")),
        sa.UniqueConstraint("clover_charge_id", name=op.f("uq_authorizations_clover_charge_id")),
    )
    op.create_index("ix_authorizations_invoice", "authorizations", ["invoice_id"])
    # Plain ADD COLUMN on both databases (no table rebuild on SQLite).
    op.add_column(
        "payment_attempts",
        sa.Column("capture", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column("payment_attempts", sa.Column("authorization_id", sa.String(32), nullable=True))
    op.create_index(
        "uq_payment_attempts_open_per_authorization",
        "payment_attempts",
        ["authorization_id"],
        unique=True,
        sqlite_where=sa.text(_OPEN_ON_AUTHORIZATION),
        postgresql_where=sa.text(_OPEN_ON_AUTHORIZATION),
    )


def downgrade() -> None:
    op.drop_index("uq_payment_attempts_open_per_authorization", table_name="payment_attempts")
    with op.batch_alter_table("payment_attempts") as batch_op:
        batch_op.drop_column("authorization_id")
        batch_op.drop_column("capture")
    op.drop_index("ix_authorizations_invoice", table_name="authorizations")
    op.drop_table("authorizations")
