"""oauth: vendor apps, authorization requests, codes, token families, refresh tokens, device codes, grants, receipts

Revision ID: 0200
Revises: 0001
Create Date: 2026-11-25 13:37:13.320997
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("oauth",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_used_assertion",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("oauth_used_assertion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_used_assertion_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "vendor_app",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner_account_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("homepage", sa.String(length=500), nullable=False),
        sa.Column("logo_uri", sa.String(length=500), nullable=False),
        sa.Column("policy_uri", sa.String(length=500), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("client_secret_hash", sa.String(length=64), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("registration_token_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_party", sa.Boolean(), nullable=False),
        sa.Column("registered_via", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vendor_app", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendor_app_owner_account_id"), ["owner_account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vendor_app_status"), ["status"], unique=False)

    op.create_table(
        "consent_grant",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("authorization_details", sa.JSON(), nullable=False),
        sa.Column("requested", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("identity_fields", sa.String(length=100), nullable=False),
        sa.Column("identity_granted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_grant_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_grant_subject"), ["subject"], unique=False)
        batch_op.create_index("ix_grant_vendor_live", ["vendor_id", "revoked_at", "expires_at"], unique=False)

    op.create_table(
        "oauth_authz_request",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("redirect_uri", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=1000), nullable=True),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("authorization_details", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oauth_authz_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_authz_request_account_id"), ["account_id"], unique=False)

    op.create_table(
        "oauth_code",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("redirect_uri", sa.String(length=1000), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_code_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_code_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "oauth_device_code",
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.Column("device_name", sa.String(length=200), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_code_hash"),
        sa.UniqueConstraint("user_code"),
    )
    op.create_table(
        "oauth_token_family",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=True),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("authorization_details", sa.JSON(), nullable=False),
        sa.Column("device_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["vendor_app.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oauth_token_family", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_token_family_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_token_family_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_token_family_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "consent_receipt",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["consent_grant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_receipt_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "oauth_refresh_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["family_id"], ["oauth_token_family.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_refresh_token_family_id"), ["family_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_family_id"))

    op.drop_table("oauth_refresh_token")
    with op.batch_alter_table("consent_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_receipt_grant_id"))

    op.drop_table("consent_receipt")
    with op.batch_alter_table("oauth_token_family", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_token_family_grant_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_token_family_client_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_token_family_account_id"))

    op.drop_table("oauth_token_family")
    op.drop_table("oauth_device_code")
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_code_grant_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_code_account_id"))

    op.drop_table("oauth_code")
    with op.batch_alter_table("oauth_authz_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_authz_request_account_id"))

    op.drop_table("oauth_authz_request")
    with op.batch_alter_table("consent_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_grant_vendor_live")
        batch_op.drop_index(batch_op.f("ix_consent_grant_subject"))
        batch_op.drop_index(batch_op.f("ix_consent_grant_account_id"))

    op.drop_table("consent_grant")
    with op.batch_alter_table("vendor_app", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendor_app_status"))
        batch_op.drop_index(batch_op.f("ix_vendor_app_owner_account_id"))

    op.drop_table("vendor_app")
    with op.batch_alter_table("oauth_used_assertion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_used_assertion_expires_at"))

    op.drop_table("oauth_used_assertion")
