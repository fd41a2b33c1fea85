"""Tables owned by the oauth room: pending authorization requests, codes, token families, refresh tokens,
device codes and used client-assertion ids. Every secret is stored as its SHA-256 only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from vault_server.crypto.sealed import SealedJSON
from vault_server.db import UTCDateTime, utcnow


class AuthorizationRequest(SQLModel, table=True):
    """A validated /authorize request waiting for the consumer's decision on the consent screen."""

    __tablename__ = "oauth_authz_request"

    id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", max_length=36, index=True, ondelete="CASCADE")
    redirect_uri: str = Field(max_length=1000)
    state: str | None = Field(default=None, max_length=1000)
    scope: str = Field(default="", max_length=500)
    authorization_details: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(SealedJSON("oauth_authz_request.authorization_details"), nullable=False)
    )
    code_challenge: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthorizationCode(SQLModel, table=True):
    """A single-use authorization code bound to client, redirect URI, PKCE challenge and grant."""

    __tablename__ = "oauth_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", max_length=36, index=True, ondelete="CASCADE")
    grant_id: str = Field(max_length=36, index=True)
    redirect_uri: str = Field(max_length=1000)
    code_challenge: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    family_id: str | None = Field(default=None, max_length=36)


class TokenFamily(SQLModel, table=True):
    """Everything issued from one authorization (code or device approval): one refresh chain, its access tokens.

    Revoking the family ends every access and refresh token in it at once; resource endpoints check it per call.
    ``kind`` is ``vendor`` (from a grant) or ``device`` (the consumer's paired extension).
    """

    __tablename__ = "oauth_token_family"

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    client_id: str = Field(foreign_key="vendor_app.id", max_length=64, index=True, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", max_length=36, index=True, ondelete="CASCADE")
    grant_id: str | None = Field(default=None, max_length=36, index=True)
    scope: str = Field(default="", max_length=500)
    authorization_details: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(SealedJSON("oauth_token_family.authorization_details"), nullable=False)
    )
    device_name: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=64)


class RefreshToken(SQLModel, table=True):
    """An opaque refresh token (SHA-256 stored); rotated on every use; reusing a used one revokes its family."""

    __tablename__ = "oauth_refresh_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: str = Field(foreign_key="oauth_token_family.id", max_length=36, index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeviceCode(SQLModel, table=True):
    """An RFC 8628 device authorization: the device polls with ``device_code``, the consumer types ``user_code``."""

    __tablename__ = "oauth_device_code"

    device_code_hash: str = Field(primary_key=True, max_length=64)
    user_code: str = Field(max_length=16, unique=True)
    client_id: str = Field(foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    scope: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    interval: int = Field(default=5)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=16)  # pending | approved | denied | used
    account_id: str | None = Field(default=None, foreign_key="account.id", max_length=36, ondelete="CASCADE")
    device_name: str | None = Field(default=None, max_length=200)
    family_id: str | None = Field(default=None, max_length=36)


class UsedAssertion(SQLModel, table=True):
    """``jti`` values of accepted ``private_key_jwt`` client assertions, kept until they expire (no replay)."""

    __tablename__ = "oauth_used_assertion"

    key: str = Field(primary_key=True, max_length=64)  # sha256(client_id | jti)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
