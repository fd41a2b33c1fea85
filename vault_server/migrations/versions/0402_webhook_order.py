"""feed: webhook messages of one subject reach an endpoint in the order they were enqueued

Revision ID: 0402
Revises: 0401
Create Date: 2026-12-02

``webhook_delivery.seq``: the enqueue order, handed out by the database (PostgreSQL: the sequence
``webhook_delivery_seq``, owned by the column; SQLite, where writers are serialised: a trigger numbers each new row
one past the highest, through ``ix_webhook_delivery_seq``). Existing rows are numbered in (created_at, id) order.
``ix_webhook_delivery_pending_order`` (partial: pending rows only) keeps "is there an earlier pending message for
this endpoint and subject?" one index probe, so the claim stays cheap (vault_server/feed/outbox.py: claim).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0402"
down_revision: str | None = "0401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
SQLITE_TRIGGER = """
CREATE TRIGGER webhook_delivery_seq AFTER INSERT ON webhook_delivery
WHEN NEW.seq IS NULL
BEGIN
  UPDATE webhook_delivery SET seq = (SELECT coalesce(max(seq), 0) + 1 FROM webhook_delivery) WHERE rowid = NEW.rowid;
END
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("webhook_delivery", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE webhook_delivery SET seq = (SELECT n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n"
        " FROM webhook_delivery) AS numbered WHERE numbered.id = webhook_delivery.id)"
    )
    if dialect == "postgresql":
        op.execute("CREATE SEQUENCE webhook_delivery_seq OWNED BY webhook_delivery.seq")
        op.execute(
            "SELECT setval('webhook_delivery_seq', coalesce((SELECT max(seq) FROM webhook_delivery), 0) + 1, false)"
        )
        op.execute("ALTER TABLE webhook_delivery ALTER COLUMN seq SET DEFAULT nextval('webhook_delivery_seq')")
        op.execute("ALTER TABLE webhook_delivery ALTER COLUMN seq SET NOT NULL")
    else:
        op.create_index("ix_webhook_delivery_seq", "webhook_delivery", ["seq"], unique=False)
        op.execute(SQLITE_TRIGGER)
    op.create_index(
        "ix_webhook_delivery_pending_order",
        "webhook_delivery",
        ["endpoint_id", "subject", "seq"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_webhook_delivery_pending_order", table_name="webhook_delivery")
    if dialect == "postgresql":
        op.execute("ALTER TABLE webhook_delivery DROP COLUMN seq")  # drops the owned sequence too
        return
    op.execute("DROP TRIGGER IF EXISTS webhook_delivery_seq")
    op.drop_index("ix_webhook_delivery_seq", table_name="webhook_delivery")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_column("seq")
