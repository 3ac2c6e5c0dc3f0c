"""Terminal refunds through the REST API: ``terminal_ops.via`` (``device`` / ``rest``).

Revision ID: 0011_terminal_refunds
Revises: 0010_receipts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011_terminal_refunds"
down_revision: str | None = "0010_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("terminal_ops") as batch:
        batch.add_column(sa.Column("via", sa.String(10), nullable=False, server_default="device"))
        batch.create_check_constraint(op.f("ck_terminal_ops_via"), "via IN ('device', 'rest')")


def downgrade() -> None:
    with op.batch_alter_table("terminal_ops") as batch:
        batch.drop_constraint(op.f("ck_terminal_ops_via"), type_="check")
        batch.drop_column("via")
