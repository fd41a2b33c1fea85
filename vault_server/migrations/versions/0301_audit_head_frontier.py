"""audit: the log head row carries the tree's frontier, so an append reads it with the head lock

Revision ID: 0301
Revises: 0300
Create Date: 2026-12-02

``audit_head.frontier``: the roots of the perfect subtrees of the tree (largest first, 32 bytes each) after an
8-byte big-endian tree size, written with every head update. An append then gets its starting point from the
statement that locks the head instead of a second query of ``audit_node``. NULL (rows from before this revision, a
recreated head) or a size that does not match the head's: the append reads the frontier from ``audit_node`` as
before and writes it here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0301"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_head", sa.Column("frontier", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("frontier")
