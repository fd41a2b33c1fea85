"""crypto: signing keys are published before they sign (publish-then-activate)

Revision ID: 0500
Revises: 0001
Create Date: 2026-12-02

``signing_key.activates_at``: when a rotated key starts signing. Until then it is only published in the JWKS, so
every process and every vendor cache knows it before the first signature. NULL (every key made before this
revision, and the very first key of a vault) means it signed from ``created_at``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0500"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("crypto",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activates_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.drop_column("activates_at")
