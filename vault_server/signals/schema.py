"""The gesture event format (what the extension sends and the replay tool reads).

:class:`GestureEvent` is the one definition: the HTTP layer validates request bodies with it and
publishes ``GestureEvent.model_json_schema()`` at ``/v1/schemas/gesture.json``; docs/GESTURES.md
describes it. Whether ``type`` and ``category`` exist is checked against the policy separately
(:func:`vault_server.signals.engine.check_event`), because the policy is versioned and the schema is not.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_DWELL_MS = 86_400_000
_ORIGIN = re.compile(
    r"^https?://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?$",
    re.IGNORECASE,
)
_ORIGIN_HELP = "origin must be an http(s) origin without path, e.g. https://shop.example"


class ProductInfo(BaseModel):
    """What the page says about the product (schema.org JSON-LD, OpenGraph, microdata)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(max_length=300)] | None = None
    brand: Annotated[str, StringConstraints(max_length=120)] | None = None
    price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    category_hint: Annotated[str, StringConstraints(max_length=300)] | None = None
    sku: Annotated[str, StringConstraints(max_length=100)] | None = None


class DeclaredIntentInfo(BaseModel):
    """Extra data of a ``declared_intent`` gesture (the consumer's own words, from /v1/intents)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeframe_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    budget_min: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    budget_max: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class GestureEvent(BaseModel):
    """One recorded gesture. Unknown fields are rejected so typos do not pass silently."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://intent-vault.dev/schemas/gesture.json", "title": "GestureEvent"},
    )

    id: UUID
    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
    ts: AwareDatetime
    category: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=128)] | None = None
    origin: Annotated[str, StringConstraints(max_length=255)]
    path: Annotated[str, StringConstraints(max_length=512)] = "/"
    dwell_ms: Annotated[int, Field(ge=0, le=MAX_DWELL_MS)] | None = None
    scroll: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    query: Annotated[str, StringConstraints(max_length=256)] | None = None
    product: ProductInfo | None = None
    value: Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)] | None = None
    intent: DeclaredIntentInfo | None = None

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        match = _ORIGIN.match(value)
        if match is None:
            raise ValueError(_ORIGIN_HELP)
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError("origin has an invalid port")
        return value.lower()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with '/'")
        return value

    @cached_property
    def epoch(self) -> float:
        """The timestamp as seconds since the epoch (UTC)."""
        return self.ts.timestamp()

    @cached_property
    def id_str(self) -> str:
        """The id in canonical text form (dedup key)."""
        return str(self.id)


def parse_ts(value: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or offset required) as an aware datetime."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("timestamp needs a time zone (Z or +hh:mm)")
    return dt


def gesture_json_schema() -> dict[str, object]:
    """The JSON Schema of one gesture event (what ``/v1/schemas/gesture.json`` serves)."""
    return GestureEvent.model_json_schema()
