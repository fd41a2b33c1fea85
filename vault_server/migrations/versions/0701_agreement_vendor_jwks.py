"""terms: keep the vendor keys that verified a countersignature with the agreement record

Revision ID: 0701
Revises: 0700
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0701"
down_revision: str | None = "0700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agreement_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vendor_jwks", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreement_record", schema=None) as batch_op:
        batch_op.drop_column("vendor_jwks")
