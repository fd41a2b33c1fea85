"""signals: a small encrypted history of each consumer's signals (one point per category and day, 90 days)

Revision ID: 0101
Revises: 0100
Create Date: 2026-12-02

``signal_history`` holds what the dashboard's "strength over time" chart draws. The point (category, strength,
stage) is AES-GCM ciphertext under the consumer's data key, so it is crypto-shredded with the account; the row
goes with the account too (ON DELETE CASCADE).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0101"
down_revision: str | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signal_history",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("category_index", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("point", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "category_index", "day"),
    )


def downgrade() -> None:
    op.drop_table("signal_history")
