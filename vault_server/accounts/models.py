"""Tables owned by the accounts room: accounts, web sessions, API tokens and login throttles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow


class Role(enum.StrEnum):
    consumer = "consumer"
    auditor = "auditor"
    admin = "admin"
    vendor = "vendor"


class Account(SQLModel, table=True):
    """A person who signs in. E-mail and name are encrypted; ``email_index`` is an HMAC blind index."""

    __tablename__ = "account"

    id: str = Field(primary_key=True, max_length=36)
    role: str = Field(max_length=16, index=True)
    email_index: str | None = Field(default=None, max_length=64, unique=True)
    email_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    name_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    password_hash: str | None = Field(default=None, max_length=255)
    paused: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A server-side browser session; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=36, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token (personal or device); stored as SHA-256, shown once."""

    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=36, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(default="personal", max_length=16)
    name: str = Field(max_length=100)
    scopes: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Throttle(SQLModel, table=True):
    """A fixed-window counter shared by every process (login failures, per-token rate limits)."""

    __tablename__ = "throttle"

    key: str = Field(primary_key=True, max_length=128)
    window_start: datetime = Field(sa_type=UTCDateTime)
    count: int = Field(default=0)
