"""Tables owned by the grants room: consent records and their signed receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from vault_server.crypto.sealed import SealedJSON, SealedText
from vault_server.db import UTCDateTime, utcnow


class Grant(SQLModel, table=True):
    """One consumer's consent to one vendor: exactly what, why, for how long, narrowed from what was asked.

    ``subject`` is the pairwise pseudonym the vendor knows the consumer by. A grant is live while
    ``revoked_at`` is empty and ``expires_at`` is in the future; ``(vendor_id, revoked_at, expires_at)`` is
    indexed so a feed can list a vendor's live grants cheaply.
    """

    __tablename__ = "consent_grant"
    __table_args__ = (Index("ix_grant_vendor_live", "vendor_id", "revoked_at", "expires_at"),)

    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", max_length=36, index=True, ondelete="CASCADE")
    vendor_id: str = Field(foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    subject: str = Field(max_length=64, index=True)
    scope: str = Field(default="", max_length=500)
    authorization_details: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(SealedJSON("consent_grant.authorization_details"), nullable=False)
    )
    requested: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(SealedJSON("consent_grant.requested"), nullable=False)
    )
    purpose: str = Field(default="", max_length=500)
    retention_days: int = Field(default=30)
    identity_fields: str = Field(default="", max_length=100)  # "name email": revealed by separate consent
    identity_granted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: str | None = Field(default=None, max_length=32)  # revoked | expired | superseded | account_deleted


class ConsentReceipt(SQLModel, table=True):
    """A signed consent receipt (JWS over ISO/IEC TS 27560-shaped JSON) for a grant's creation or change."""

    __tablename__ = "consent_receipt"

    id: str = Field(primary_key=True, max_length=36)
    grant_id: str = Field(foreign_key="consent_grant.id", max_length=36, index=True, ondelete="CASCADE")
    version: int
    event: str = Field(max_length=32)
    jws: str = Field(sa_column=Column(SealedText("consent_receipt.jws"), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
