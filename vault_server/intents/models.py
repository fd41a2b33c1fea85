"""Tables of the intents room: encrypted gestures, declared intents, recording settings.

``SignalRow`` (the per-category signal state derived from them) belongs to the signals room; it is re-exported here.

What stays in the clear is only what lookups need: the owner, the gesture type, timestamps and an HMAC blind
index of the category (scoped per consumer). Everything else is AES-GCM ciphertext bound to its row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow
from vault_server.signals.models import SignalRow

__all__ = ["ConsumerSettings", "DeclaredIntent", "DeletedGesture", "Gesture", "SignalRow"]


class Gesture(SQLModel, table=True):
    __tablename__ = "gesture"
    __table_args__ = (
        UniqueConstraint("account_id", "event_id", name="uq_gesture_event"),
        Index("ix_gesture_account_ts", "account_id", "ts"),
        Index("ix_gesture_account_category", "account_id", "category_index"),
        Index("ix_gesture_type_ts", "type", "ts"),
    )

    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", max_length=36, ondelete="CASCADE")
    event_id: str = Field(max_length=36)
    type: str = Field(max_length=64)
    category_index: str | None = Field(default=None, max_length=64)
    ts: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class DeletedGesture(SQLModel, table=True):
    """A gesture the consumer deleted less than ``service.UNDO_WINDOW`` ago, kept (same ciphertext, same row id, so it
    still decrypts when put back) only so "Undo" can restore it; the maintenance pass deletes it for good after the
    window. It takes part in nothing else: no signal, no export, no feed."""

    __tablename__ = "gesture_deleted"
    __table_args__ = (
        Index("ix_gesture_deleted_batch", "account_id", "batch_id"),
        Index("ix_gesture_deleted_at", "deleted_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", max_length=36, ondelete="CASCADE")
    batch_id: str = Field(max_length=36)
    deleted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    event_id: str = Field(max_length=36)
    type: str = Field(max_length=64)
    category_index: str | None = Field(default=None, max_length=64)
    ts: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class DeclaredIntent(SQLModel, table=True):
    __tablename__ = "declared_intent"
    __table_args__ = (Index("ix_intent_account", "account_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", max_length=36, ondelete="CASCADE")
    category_index: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ConsumerSettings(SQLModel, table=True):
    """Per-consumer recording settings; the opt-in list (which sensitive categories) is encrypted."""

    __tablename__ = "consumer_settings"

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=36, ondelete="CASCADE")
    opt_ins: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
