"""oauth: seal what consumers granted (authorization details, requests, receipts) at rest

Revision ID: 0201
Revises: 0200
Create Date: 2026-11-25

Existing rows are encrypted in place with the keyring's sealed-column key, which ``migrate()`` hands over when
the vault's keys are loaded (``intent-vault init`` does); without the keys a database that already holds grants
is refused with a message instead of being half-converted.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0201"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("oauth_authz_request", "authorization_details", "json"),
    ("oauth_token_family", "authorization_details", "json"),
    ("consent_grant", "authorization_details", "json"),
    ("consent_grant", "requested", "json"),
    ("consent_receipt", "jws", "text"),
)


def upgrade() -> None:
    bind = op.get_bind()
    sealer = op.get_context().config.attributes.get("sealer")
    blob = "BYTEA" if bind.dialect.name == "postgresql" else "BLOB"
    for table, column, kind in COLUMNS:
        rows = bind.execute(sa.text(f'SELECT id, "{column}" FROM "{table}"')).all()  # noqa: S608 - fixed names
        if rows and sealer is None:
            raise RuntimeError(
                f"{table}.{column} holds data to encrypt: run `intent-vault init` (it loads the keys) to migrate"
            )
        # Plain ALTERs (SQLite >= 3.35 drops and renames columns in place): a batch table rebuild would drop the
        # table, and with foreign keys on, cascade-delete the receipts and tokens that reference it.
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}_sealed" {blob}')
        for row_id, value in rows:
            if kind == "json":
                plain = value if isinstance(value, (list, dict)) else json.loads(value)
                data = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
            else:
                data = str(value).encode()
            bind.execute(
                sa.text(f'UPDATE "{table}" SET "{column}_sealed" = :v WHERE id = :id'),  # noqa: S608
                {"v": sealer.seal(f"{table}.{column}", data), "id": row_id},
            )
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        op.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{column}_sealed" TO "{column}"')
        if bind.dialect.name == "postgresql":
            op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET NOT NULL')


def downgrade() -> None:
    raise NotImplementedError("sealed grant columns are not decrypted back into plaintext")
