"""vendors: sandbox consumers, bound to one vendor app

Revision ID: 0202
Revises: 0201
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0202"
down_revision: str | None = "0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vendor_sandbox_consumer",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    with op.batch_alter_table("vendor_sandbox_consumer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendor_sandbox_consumer_vendor_id"), ["vendor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vendor_sandbox_consumer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendor_sandbox_consumer_vendor_id"))
    op.drop_table("vendor_sandbox_consumer")
