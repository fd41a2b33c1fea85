"""intents: encrypted gestures, declared intents, signal state, consumer settings

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0100"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("intents",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gesture",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("category_index", sa.String(length=64), nullable=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "event_id", name="uq_gesture_event"),
    )
    op.create_index("ix_gesture_account_ts", "gesture", ["account_id", "ts"])
    op.create_index("ix_gesture_account_category", "gesture", ["account_id", "category_index"])
    op.create_index("ix_gesture_type_ts", "gesture", ["type", "ts"])
    op.create_table(
        "declared_intent",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("category_index", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_intent_account", "declared_intent", ["account_id", "created_at"])
    op.create_table(
        "signal_state",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("category_index", sa.String(length=64), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "category_index"),
    )
    op.create_index("ix_signal_version", "signal_state", ["version"])
    op.create_index("ix_signal_policy", "signal_state", ["policy_hash"])
    op.create_table(
        "consumer_settings",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("opt_ins", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("consumer_settings")
    op.drop_table("signal_state")
    op.drop_table("declared_intent")
    op.drop_table("gesture")
