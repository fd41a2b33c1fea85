"""Tables of the signals room: the per-(consumer, category) signal state, encrypted.

The state is derived from the intents room's gestures and declared intents (which write it through
:mod:`vault_server.signals.state`); the signals room owns the table and every read of it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow


class SignalRow(SQLModel, table=True):
    """The incremental signal state of one (consumer, category), encrypted; ``version`` orders changes."""

    __tablename__ = "signal_state"
    __table_args__ = (Index("ix_signal_version", "version"), Index("ix_signal_policy", "policy_hash"))

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=36, ondelete="CASCADE")
    category_index: str = Field(primary_key=True, max_length=64)
    policy_hash: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SignalHistoryRow(SQLModel, table=True):
    """One day's point of one (consumer, category) signal: strength and stage at the last change that day,
    encrypted like the state (it reveals intent); bounded to ``history.KEEP_DAYS`` days by its writer."""

    __tablename__ = "signal_history"

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=36, ondelete="CASCADE")
    category_index: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)  # ISO date (UTC): sorts as text on every backend
    point: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
