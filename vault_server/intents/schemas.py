"""Request and response bodies of the intents room."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_BATCH = 500
CategoryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=128)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class GestureBatch(BaseModel):
    """A batch of gesture events; each event is validated on its own so one bad event drops nothing else."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class EventResult(BaseModel):
    id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    code: str | None = None
    category: str | None = None


class BatchResult(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    results: list[EventResult]


class GestureOut(BaseModel):
    id: str
    type: str
    ts: datetime
    category: str | None
    event: dict[str, Any]


class GesturePage(BaseModel):
    items: list[GestureOut]
    next_cursor: str | None


class DeleteResult(BaseModel):
    deleted: int
    recomputed_categories: int


class IntentIn(BaseModel):
    """A declared intent: "looking for a 65-inch TV under 900 EUR within 2 weeks"."""

    model_config = ConfigDict(extra="forbid")

    category: CategoryId
    text: str = Field(default="", max_length=500)
    budget_min: float | None = Field(default=None, ge=0, le=1e9)
    budget_max: float | None = Field(default=None, ge=0, le=1e9)
    currency: Currency | None = None
    timeframe_days: int | None = Field(default=None, ge=1, le=3650)
    must_haves: list[Annotated[str, StringConstraints(max_length=100)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _budget(self) -> IntentIn:
        if self.budget_min is not None and self.budget_max is not None and self.budget_min > self.budget_max:
            raise ValueError("budget_min is above budget_max")
        if (self.budget_min is not None or self.budget_max is not None) and self.currency is None:
            raise ValueError("a budget needs a currency (ISO 4217, e.g. EUR)")
        return self


class IntentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=500)
    budget_min: float | None = Field(default=None, ge=0, le=1e9)
    budget_max: float | None = Field(default=None, ge=0, le=1e9)
    currency: Currency | None = None
    timeframe_days: int | None = Field(default=None, ge=1, le=3650)
    must_haves: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(default=None, max_length=20)
    status: Literal["active", "closed"] | None = None


class IntentOut(BaseModel):
    id: str
    category: str
    category_name: str
    text: str
    budget_min: float | None
    budget_max: float | None
    currency: str | None
    timeframe_days: int | None
    must_haves: list[str]
    status: str
    created_at: datetime
    updated_at: datetime


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paused: bool | None = None
    opt_in_categories: list[CategoryId] | None = Field(default=None, max_length=200)


class SettingsOut(BaseModel):
    paused: bool
    opt_in_categories: list[str]
    sensitive_categories: list[str]


class SignalOut(BaseModel):
    category: str
    category_name: str
    score: float
    stage: str
    confidence: float
    last_seen: datetime | None
    explanation: list[str]
    price_band: str | None
    brands: list[str]
    policy_hash: str


class SignalList(BaseModel):
    signals: list[SignalOut]
