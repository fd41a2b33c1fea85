"""feed: what the consent screen promises is what the vendor gets — digests and anonymous cast batches

Revision ID: 0401
Revises: 0400
Create Date: 2026-12-02

``feed_digest``: one row per grant whose frequency is ``daily`` or ``weekly``: a signal change only marks it due
(``due_at``), and the release job announces it at most once per period. ``intentcast_recipient.released_at``: an
anonymous cast reaches its vendors in batches at fixed intervals (NULL until released); existing rows count as
released already.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0401"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("intentcast_recipient", sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE intentcast_recipient SET released_at = created_at")
    op.create_table(
        "feed_digest",
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["grant_id"], ["consent_grant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("grant_id"),
    )
    op.create_index("ix_feed_digest_due", "feed_digest", ["due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_feed_digest_due", table_name="feed_digest")
    op.drop_table("feed_digest")
    with op.batch_alter_table("intentcast_recipient", schema=None) as batch_op:
        batch_op.drop_column("released_at")
