"""Tables owned by the crypto room: wrapped data keys and signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, String
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow


class DataKey(SQLModel, table=True):
    """A consumer's DEK, wrapped by a KEK. Deleting this row crypto-shreds every ciphertext of the consumer."""

    __tablename__ = "data_key"

    account_id: str = Field(primary_key=True, max_length=36)
    wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    kek_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    rewrapped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SigningKey(SQLModel, table=True):
    """An Ed25519 key of the vault's key set; the private half is wrapped by the KEK. Published in the JWKS from
    ``created_at``; signs from ``activates_at`` (NULL: from ``created_at``); ``retired_at`` is when a newer key
    took over signing (it stays published: receipts and tree heads it signed never expire)."""

    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    private_wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    kek_id: str = Field(max_length=32)
    public_jwk: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    activates_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
