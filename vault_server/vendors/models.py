"""Tables owned by the vendors room: registered vendor apps (OAuth clients)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow


class VendorStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    suspended = "suspended"


class AuthMethod(enum.StrEnum):
    client_secret_basic = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    private_key_jwt = "private_key_jwt"
    none = "none"  # first-party public clients only (the browser extension)


class VendorApp(SQLModel, table=True):
    """A vendor's app: an OAuth client. New apps are ``pending`` until an admin approves them.

    ``client_secret_hash`` is SHA-256 of a 256-bit random secret (shown once); ``jwks`` holds the public keys
    for ``private_key_jwt`` (or ``jwks_uri`` says where to fetch them). ``redirect_uris`` are compared as exact strings.
    """

    __tablename__ = "vendor_app"

    id: str = Field(primary_key=True, max_length=64)  # the client_id
    owner_account_id: str | None = Field(default=None, foreign_key="account.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    homepage: str = Field(default="", max_length=500)
    logo_uri: str = Field(default="", max_length=500)
    policy_uri: str = Field(default="", max_length=500)
    contacts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grant_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    scope: str = Field(default="", max_length=500)
    token_endpoint_auth_method: str = Field(default=AuthMethod.client_secret_basic.value, max_length=32)
    client_secret_hash: str | None = Field(default=None, max_length=64)
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    jwks_uri: str | None = Field(default=None, max_length=500)  # instead of jwks: keys fetched (vendors/keys.py)
    registration_token_hash: str | None = Field(default=None, max_length=64)
    status: str = Field(default=VendorStatus.pending.value, max_length=16, index=True)
    first_party: bool = Field(default=False)
    registered_via: str = Field(default="portal", max_length=16)  # portal | dynamic | builtin
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=100)


class SandboxConsumer(SQLModel, table=True):
    """A test consumer a vendor drives from a script (docs/VENDOR_GUIDE.md, "Sandbox"): a consumer account with
    made-up gestures that can grant only this vendor's app, cannot log in (it has no password), is not a person,
    takes no part in demand reports and is listed only to its vendor. The row marks the account as sandbox."""

    __tablename__ = "vendor_sandbox_consumer"

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=36, ondelete="CASCADE")
    vendor_id: str = Field(foreign_key="vendor_app.id", max_length=64, index=True, ondelete="CASCADE")
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
