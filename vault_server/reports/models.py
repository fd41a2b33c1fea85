"""Tables of the reports room: who opted in, each person's privacy budget per period, and released reports.

No table here holds a consumer's intent: participation and budget rows say only that an account agreed to be
counted and how much of its epsilon was spent; a report holds noisy counts that no individual can be picked out
of. The exact participant count of a report is kept for the auditor's budget view and never sent to vendors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow


class ReportParticipant(SQLModel, table=True):
    """An account that opted in to "count me in anonymous demand statistics" (off by default)."""

    __tablename__ = "report_participant"

    account_id: str = Field(primary_key=True, foreign_key="account.id", max_length=36, ondelete="CASCADE")
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReportBudget(SQLModel, table=True):
    """Epsilon a person has spent in a period (millionths, so sums are exact) and in how many reports."""

    __tablename__ = "report_budget"

    account_id: str = Field(primary_key=True, foreign_key="account.id", max_length=36, ondelete="CASCADE")
    period: str = Field(primary_key=True, max_length=7)  # YYYY-MM (UTC)
    spent_micro: int = Field(default=0)
    reports: int = Field(default=0)


class DemandReport(SQLModel, table=True):
    """One released report, cached per (period, query): asking again spends nothing and returns the same numbers."""

    __tablename__ = "demand_report"
    __table_args__ = (UniqueConstraint("period", "query_key", name="uq_demand_report_query"),)

    id: str = Field(primary_key=True, max_length=36)
    period: str = Field(max_length=7, index=True)
    query_key: str = Field(max_length=64)
    query: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    epsilon_micro: int
    max_cells: int
    scale: float
    threshold: int
    participants: int  # exact; for the auditor's budget view only
    cells: list[Any] = Field(sa_column=Column(JSON, nullable=False))  # [[category, stage, band, noisy count], ...]
    suppressed: int
    requested_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReportDelivery(SQLModel, table=True):
    """A vendor received a report (the first request spends budget; later ones are served from the cache)."""

    __tablename__ = "report_delivery"
    __table_args__ = (Index("ix_report_delivery_vendor_period", "vendor_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(foreign_key="demand_report.id", max_length=36, ondelete="CASCADE")
    vendor_id: str = Field(foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    period: str = Field(max_length=7)
    spent: bool = Field(default=False)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
