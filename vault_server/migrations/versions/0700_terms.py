"""terms: IEEE 7012 agreement choices, vendors' accepted agreements, signed agreement records

Revision ID: 0700
Revises: 0001
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0700"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("terms",)
depends_on: str | Sequence[str] | None = "0200"


def upgrade() -> None:
    op.create_table(
        "terms_choice",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "vendor_id"),
    )
    op.create_table(
        "terms_vendor",
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("accepted", sa.JSON(), nullable=False),
        sa.Column("counter", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("vendor_id"),
    )
    op.create_table(
        "agreement_record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_version", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("vault_jws", sa.Text(), nullable=False),
        sa.Column("vendor_jws", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("countersigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["grant_id"], ["consent_grant.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agreement_record_grant_id", "agreement_record", ["grant_id"])
    op.create_index("ix_agreement_record_account_id", "agreement_record", ["account_id"])
    op.create_index("ix_agreement_record_vendor_id", "agreement_record", ["vendor_id"])


def downgrade() -> None:
    op.drop_table("agreement_record")
    op.drop_table("terms_vendor")
    op.drop_table("terms_choice")
