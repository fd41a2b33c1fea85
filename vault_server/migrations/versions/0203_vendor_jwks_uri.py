"""vendors: an app may publish its keys at a jwks_uri (RFC 7591) instead of registering them inline

Revision ID: 0203
Revises: 0202
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0203"
down_revision: str | None = "0202"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vendor_app", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jwks_uri", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vendor_app", schema=None) as batch_op:
        batch_op.drop_column("jwks_uri")
