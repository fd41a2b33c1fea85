"""intents: deleted gestures kept for a short undo window

Revision ID: 0102
Revises: 0101
Create Date: 2026-12-02

``gesture_deleted`` holds gestures the consumer deleted in the last few minutes (the same ciphertext under the
consumer's data key), so "Undo" can put them back; the maintenance pass deletes rows past the window for good, and
the account's deletion takes them with it (ON DELETE CASCADE, crypto-shredding).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0102"
down_revision: str | None = "0101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gesture_deleted",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("category_index", sa.String(length=64), nullable=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gesture_deleted_batch", "gesture_deleted", ["account_id", "batch_id"])
    op.create_index("ix_gesture_deleted_at", "gesture_deleted", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_gesture_deleted_at", table_name="gesture_deleted")
    op.drop_index("ix_gesture_deleted_batch", table_name="gesture_deleted")
    op.drop_table("gesture_deleted")
