"""feed: change log, webhooks outbox, intentcasts, offers, questions

Revision ID: 0400
Revises: 0001
Create Date: 2026-11-25 13:45:03.950326
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("feed",)
depends_on: str | Sequence[str] | None = "0200"


def upgrade() -> None:
    op.create_table(
        "feed_change",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=True),
        sa.Column("xid", sa.BigInteger(), nullable=True),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("feed_change", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feed_change_unstamped", ["seq"], unique=False, postgresql_where=sa.text("pos IS NULL")
        )
        batch_op.create_index("ix_feed_change_vendor_pos", ["vendor_id", "pos"], unique=False)
        batch_op.create_index("ix_feed_change_vendor_seq", ["vendor_id", "seq"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # read positions are handed out by stamping rounds (vault_server/feed/service.py: stamp)
        op.execute("CREATE SEQUENCE feed_pos_seq")
        op.execute("ALTER TABLE feed_change ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint)")

    op.create_table(
        "intentcast",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("intent_id", sa.String(length=36), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("intentcast", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intentcast_account_id"), ["account_id"], unique=False)

    op.create_table(
        "intentcast_recipient",
        sa.Column("cast_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("handle", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cast_id"], ["intentcast.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("cast_id", "vendor_id"),
    )
    with op.batch_alter_table("intentcast_recipient", schema=None) as batch_op:
        batch_op.create_index("ix_cast_recipient_vendor", ["vendor_id", "created_at"], unique=False)

    op.create_table(
        "offer",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cast_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identity_revealed", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["cast_id"], ["intentcast.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.create_index("ix_offer_account_status", ["account_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_cast_id"), ["cast_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_vendor_id"), ["vendor_id"], unique=False)

    op.create_table(
        "question",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("prompt", sa.String(length=500), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.create_index("ix_question_vendor_created", ["vendor_id", "created_at"], unique=False)

    op.create_table(
        "vendor_cast_category",
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("vendor_id", "category"),
    )
    op.create_table(
        "vendor_preference",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("questions_off", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "vendor_id"),
    )
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_endpoint_vendor_id"), ["vendor_id"], unique=False)

    op.create_table(
        "question_delivery",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("question_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["question.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("question_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_question_delivery_account", ["account_id", "status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_delivery_question_id"), ["question_id"], unique=False)

    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("grant_id", sa.String(length=36), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoint.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_delivery_endpoint_id"), ["endpoint_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_delivery_vendor_id"), ["vendor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_vendor_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_endpoint_id"))
        batch_op.drop_index("ix_webhook_delivery_due")

    op.drop_table("webhook_delivery")
    with op.batch_alter_table("question_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_delivery_question_id"))
        batch_op.drop_index("ix_question_delivery_account")

    op.drop_table("question_delivery")
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_endpoint_vendor_id"))

    op.drop_table("webhook_endpoint")
    op.drop_table("vendor_preference")
    op.drop_table("vendor_cast_category")
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.drop_index("ix_question_vendor_created")

    op.drop_table("question")
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_vendor_id"))
        batch_op.drop_index(batch_op.f("ix_offer_cast_id"))
        batch_op.drop_index("ix_offer_account_status")

    op.drop_table("offer")
    with op.batch_alter_table("intentcast_recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_cast_recipient_vendor")

    op.drop_table("intentcast_recipient")
    with op.batch_alter_table("intentcast", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intentcast_account_id"))

    op.drop_table("intentcast")
    with op.batch_alter_table("feed_change", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_change_vendor_seq")
        batch_op.drop_index("ix_feed_change_vendor_pos")
        batch_op.drop_index("ix_feed_change_unstamped", postgresql_where=sa.text("pos IS NULL"))

    op.drop_table("feed_change")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS feed_pos_seq")
