"""Tables of the terms room: the agreement each consumer proffers, what each vendor app accepts, and the signed
agreement records both sides keep."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow

DEFAULT_VENDOR = "*"  # the choice row that applies to every vendor without a choice of its own


class TermsChoice(SQLModel, table=True):
    """The roster agreement a consumer proffers: by default (``vendor_id = '*'``) or to one vendor app."""

    __tablename__ = "terms_choice"

    account_id: str = Field(primary_key=True, foreign_key="account.id", max_length=36, ondelete="CASCADE")
    vendor_id: str = Field(primary_key=True, max_length=64)
    agreement_id: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VendorTerms(SQLModel, table=True):
    """The roster agreements a vendor app accepts, in its order of preference (its counter-proposal is the first
    of them it accepts)."""

    __tablename__ = "terms_vendor"

    vendor_id: str = Field(primary_key=True, foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    accepted: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    counter: bool = Field(default=True)  # False: decline a proffer it does not accept instead of countering
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AgreementRecord(SQLModel, table=True):
    """The record of an agreement in force for a grant: signed by the vault, countersigned by the vendor."""

    __tablename__ = "agreement_record"

    id: str = Field(primary_key=True, max_length=36)
    grant_id: str = Field(foreign_key="consent_grant.id", max_length=36, index=True, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", max_length=36, index=True, ondelete="CASCADE")
    vendor_id: str = Field(max_length=64, index=True)
    agreement_id: str = Field(max_length=64)
    agreement_version: str = Field(max_length=40)
    outcome: str = Field(max_length=16)  # accepted | countered
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    vault_jws: str = Field(sa_column=Column(Text, nullable=False))
    vendor_jws: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: the vendor's public keys that verified ``vendor_jws`` when it was given (a jwks_uri's keys may rotate later)
    vendor_jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    countersigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
