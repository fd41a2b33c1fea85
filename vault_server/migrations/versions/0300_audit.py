"""audit: log head, entries, Merkle nodes, signed tree heads

Revision ID: 0300
Revises: 0001
Create Date: 2026-11-25 13:45:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from hashlib import sha256

import sqlalchemy as sa
from alembic import op

revision: str = "0300"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("audit",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_entry",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("vendor_id", sa.String(length=64), nullable=True),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("private_enc", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("idx"),
    )
    op.create_index("ix_audit_entry_kind_idx", "audit_entry", ["kind", "idx"], unique=False)
    op.create_index("ix_audit_entry_subject_idx", "audit_entry", ["subject", "idx"], unique=False)
    op.create_index("ix_audit_entry_vendor_idx", "audit_entry", ["vendor_id", "idx"], unique=False)
    op.create_table(
        "audit_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "audit_sth",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_sth_tree_size", "audit_sth", ["tree_size"], unique=False)
    op.bulk_insert(
        head, [{"id": 1, "tree_size": 0, "root_hash": sha256(b"").digest(), "updated_at": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_index("ix_audit_sth_tree_size", table_name="audit_sth")
    op.drop_table("audit_sth")
    op.drop_table("audit_node")
    op.drop_index("ix_audit_entry_vendor_idx", table_name="audit_entry")
    op.drop_index("ix_audit_entry_subject_idx", table_name="audit_entry")
    op.drop_index("ix_audit_entry_kind_idx", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_table("audit_head")
