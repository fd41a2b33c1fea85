"""The gesture event format's validation limits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vault_server.signals import GestureEvent

GOOD: dict[str, Any] = {
    "id": "6f1c2f5e-8f1e-4d7c-9a59-0f3c3a3e5b11",
    "type": "product_view",
    "ts": "2026-11-20T10:00:00Z",
    "origin": "https://Shop.example",
    "path": "/p/{id}",
    "dwell_ms": 3000,
    "scroll": 0.5,
    "product": {"name": "Samsung QE65", "brand": "Samsung", "price": 899, "currency": "EUR", "sku": "QE65"},
}


def test_a_good_event_validates_and_normalises_the_origin() -> None:
    event = GestureEvent.model_validate(GOOD)
    assert event.origin == "https://shop.example"
    assert event.epoch == 1795168800.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "not-a-uuid"}, "id"),
        ({"ts": "2026-11-20T10:00:00"}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"origin": "https://shop.example/path"}, "origin"),
        ({"origin": "ftp://shop.example"}, "origin"),
        ({"origin": "https://user@shop.example"}, "origin"),
        ({"origin": "https://shop.example:70000"}, "origin"),
        ({"path": "p/1"}, "path"),
        ({"path": "/" + "a" * 512}, "path"),
        ({"query": "q" * 257}, "query"),
        ({"scroll": 1.5}, "scroll"),
        ({"scroll": -0.1}, "scroll"),
        ({"dwell_ms": -1}, "dwell_ms"),
        ({"dwell_ms": 86_400_001}, "dwell_ms"),
        ({"product": {"price": -1}}, "product.price"),
        ({"product": {"currency": "euro"}}, "product.currency"),
        ({"product": {"name": "n" * 301}}, "product.name"),
        ({"type": "Product View"}, "type"),
        ({"category": "Electronics"}, "category"),
        ({"colour": "red"}, "colour"),
        ({"value": float("inf")}, "value"),
    ],
)
def test_limits(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        GestureEvent.model_validate(GOOD | change)
    assert field in {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}


def test_json_schema_carries_the_limits() -> None:
    schema = GestureEvent.model_json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert props["path"]["maxLength"] == 512
    assert props["query"]["anyOf"][0]["maxLength"] == 256
    assert props["scroll"]["anyOf"][0]["maximum"] == 1
