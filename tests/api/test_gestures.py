"""Gesture ingest and the consumer's own data: idempotency, per-event results, every bad-input case,
sensitive categories, pause, listing, deletion with signals following, declared intents, exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vault_server.config import Settings

from ..conftest import personal_token

STAGES = ["awareness", "interest", "motivation", "action", "relationship"]


def ev(type_: str = "product_view", *, minutes_ago: float = 5, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": type_,
        "ts": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z"),
        "origin": "https://shop.example",
        "path": "/p/{id}",
    }
    event.update(fields)
    return event


def tv(type_: str = "product_view", **fields: Any) -> dict[str, Any]:
    product = {"name": "Samsung 65 inch QLED 4K Smart TV", "brand": "Samsung", "price": 899.0, "currency": "EUR"}
    return ev(type_, product=product, **fields)


@pytest.fixture
def bearer(client: TestClient, consumer: dict[str, Any]) -> dict[str, str]:
    token = personal_token(client, consumer["csrf"], ["gestures:write", "signals:read:self", "intents:write"])
    client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, headers: dict[str, str], events: list[Any]) -> dict[str, Any]:
    r = client.post("/v1/gestures", json={"events": events}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def signal(client: TestClient, headers: dict[str, str], category: str) -> dict[str, Any] | None:
    signals = client.get("/v1/signals", headers=headers).json()["signals"]
    return next((s for s in signals if s["category"] == category), None)


def test_batch_is_idempotent_by_event_id(client: TestClient, bearer: dict[str, str]) -> None:
    batch = [tv(minutes_ago=30 - i) for i in range(5)]
    first = post(client, bearer, batch)
    assert (first["accepted"], first["duplicate"], first["rejected"]) == (5, 0, 0)
    assert {r["category"] for r in first["results"]} == {"electronics.tv"}
    before = signal(client, bearer, "electronics.tv")
    second = post(client, bearer, batch)
    assert (second["accepted"], second["duplicate"]) == (0, 5)
    assert signal(client, bearer, "electronics.tv") == before
    page = client.get("/v1/gestures", headers=bearer).json()
    assert len(page["items"]) == 5


def test_duplicate_inside_one_batch(client: TestClient, bearer: dict[str, str]) -> None:
    e = tv()
    result = post(client, bearer, [e, e])
    assert [r["status"] for r in result["results"]] == ["accepted", "duplicate"]


def test_one_bad_event_never_drops_the_others(client: TestClient, bearer: dict[str, str]) -> None:
    good1, good2 = tv(), tv("search", query="65 inch tv")
    events: list[Any] = [
        good1,
        {**tv(), "scroll": 3},  # out of range
        {**tv(), "type": "teleport"},  # unknown type
        {**tv(), "category": "no.such.category"},  # unknown category
        ev(minutes_ago=-60),  # an hour in the future
        ev(minutes_ago=60 * 24 * 400),  # older than retention
        {**tv(), "origin": "https://shop.example/path"},  # not an origin
        {**tv(), "id": "not-a-uuid"},
        {**tv(), "query": "x" * 1000},  # oversized field
        "not an object",
        good2,
    ]
    result = post(client, bearer, events)
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["accepted"] + ["rejected"] * 9 + ["accepted"]
    codes = [r.get("code") for r in result["results"][1:10]]
    assert codes == ["invalid", "unknown_type", "unknown_category", "future", "too_old", "invalid", "invalid",
                     "invalid", "invalid"]
    reasons = [r["reason"] for r in result["results"][1:10]]
    assert "scroll" in reasons[0] and "teleport" in reasons[1] and "retention" in reasons[4]
    assert len(client.get("/v1/gestures", headers=bearer).json()["items"]) == 2


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"events": []}, 422, "validation-error"),
        ({"events": "nope"}, 422, "validation-error"),
        ({"evts": []}, 422, "validation-error"),
        ({"events": [{"id": "x"}] * 501}, 422, "validation-error"),
    ],
    ids=["empty", "wrong-type", "unknown-field", "over-500"],
)
def test_bad_batches_are_problems(
    client: TestClient, bearer: dict[str, str], body: Any, status: int, slug: str
) -> None:
    r = client.post("/v1/gestures", json=body, headers=bearer)
    assert r.status_code == status and r.json()["type"].endswith(slug)


def test_malformed_json_and_oversized_body(client: TestClient, bearer: dict[str, str], settings: Settings) -> None:
    r = client.post("/v1/gestures", content=b'{"events": [', headers={**bearer, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    huge = {"events": [tv(query="q" * 250, path="/p/" + "x" * 400) for _ in range(500)]}
    assert len(json.dumps(huge)) > settings.max_body_bytes
    r = client.post("/v1/gestures", json=huge, headers=bearer)
    assert r.status_code == 413
    assert client.get("/v1/gestures", headers=bearer).json()["items"] == []


def test_token_without_scope_cannot_ingest(client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["signals:read:self"])
    client.cookies.clear()
    r = client.post("/v1/gestures", json={"events": [tv()]}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "gestures:write" in r.json()["detail"]
    assert client.post("/v1/gestures", json={"events": [tv()]}).status_code == 401


def test_sensitive_category_dropped_unless_opted_in(client: TestClient, bearer: dict[str, str]) -> None:
    pharmacy = ev(category="health.pharmacy")
    result = post(client, bearer, [pharmacy])
    assert result["results"][0]["code"] == "sensitive_not_opted_in"
    assert "not stored" in result["results"][0]["reason"]
    assert signal(client, bearer, "health.pharmacy") is None
    r = client.put("/v1/me/settings", json={"opt_in_categories": ["health.pharmacy"]}, headers=bearer)
    assert r.status_code == 200 and r.json()["opt_in_categories"] == ["health.pharmacy"]
    assert post(client, bearer, [pharmacy])["accepted"] == 1
    assert signal(client, bearer, "health.pharmacy") is not None
    r = client.put("/v1/me/settings", json={"opt_in_categories": ["no.such"]}, headers=bearer)
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-category")


def test_pause_stops_recording(client: TestClient, bearer: dict[str, str]) -> None:
    assert client.put("/v1/me/settings", json={"paused": True}, headers=bearer).json()["paused"] is True
    assert client.get("/v1/me/settings", headers=bearer).json()["paused"] is True
    result = post(client, bearer, [tv()])
    assert result["results"][0]["code"] == "paused"
    client.put("/v1/me/settings", json={"paused": False}, headers=bearer)
    assert post(client, bearer, [tv()])["accepted"] == 1


def test_list_filters_and_pages(client: TestClient, bearer: dict[str, str]) -> None:
    events = [tv(minutes_ago=100 - i) for i in range(7)] + [
        ev("search", query="trail running shoes", minutes_ago=50)
    ]
    post(client, bearer, events)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "category": "electronics.tv"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/gestures", params=params, headers=bearer).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [e["id"] for e in reversed(events[:7])]
    searches = client.get("/v1/gestures", params={"type": "search"}, headers=bearer).json()["items"]
    assert [s["event"]["query"] for s in searches] == ["trail running shoes"]
    r = client.get("/v1/gestures", params={"cursor": "garbage"}, headers=bearer)
    assert r.status_code == 422
    r = client.get("/v1/gestures", params={"category": "nope"}, headers=bearer)
    assert r.status_code == 422


def test_shopper_reaches_action_and_deleting_lowers_the_signal(client: TestClient, bearer: dict[str, str]) -> None:
    days = [60 * 24 * d for d in (3, 2, 1)]
    session = [tv("search", query="65 inch tv", minutes_ago=days[0])]
    session += [tv(minutes_ago=days[0] - i, dwell_ms=90_000, scroll=0.9) for i in range(3)]
    session += [tv("compare", minutes_ago=days[1]), tv("review_read", minutes_ago=days[1] - 5)]
    session += [tv(minutes_ago=days[2] - i, dwell_ms=60_000) for i in range(2)]
    cart = tv("cart_add", minutes_ago=10)
    post(client, bearer, [*session, cart])
    s = signal(client, bearer, "electronics.tv")
    assert s is not None and s["stage"] in ("action", "relationship")
    assert s["price_band"] == "500-1000 EUR" and s["brands"] == ["Samsung"]
    assert any("cart" in line for line in s["explanation"])
    r = client.delete(f"/v1/gestures/{cart['id']}", headers=bearer)
    assert r.status_code == 200 and r.json() == {"deleted": 1, "recomputed_categories": 1}
    after = signal(client, bearer, "electronics.tv")
    assert after is not None and after["score"] < s["score"]
    assert STAGES.index(after["stage"]) < STAGES.index("action")
    assert client.delete(f"/v1/gestures/{cart['id']}", headers=bearer).status_code == 404


def test_one_product_view_is_not_a_buyer(client: TestClient, bearer: dict[str, str]) -> None:
    post(client, bearer, [tv()])
    s = signal(client, bearer, "electronics.tv")
    assert s is not None and STAGES.index(s["stage"]) <= STAGES.index("interest")


def test_delete_range_and_all(client: TestClient, bearer: dict[str, str]) -> None:
    post(client, bearer, [tv(minutes_ago=300), tv(minutes_ago=200), tv(minutes_ago=10)])
    assert client.request("DELETE", "/v1/gestures", headers=bearer).status_code == 422
    cut = (datetime.now(UTC) - timedelta(minutes=100)).isoformat()
    r = client.request("DELETE", "/v1/gestures", params={"until": cut}, headers=bearer)
    assert r.json()["deleted"] == 2
    assert len(client.get("/v1/gestures", headers=bearer).json()["items"]) == 1
    r = client.request("DELETE", "/v1/gestures", params={"all": "true"}, headers=bearer)
    assert r.json()["deleted"] == 1
    assert signal(client, bearer, "electronics.tv") is None


def test_declared_intent_crud_feeds_signals(client: TestClient, bearer: dict[str, str]) -> None:
    body = {"category": "electronics.tv", "text": "65-inch TV for the living room", "budget_max": 900,
            "currency": "EUR", "timeframe_days": 14, "must_haves": ["HDMI 2.1"]}
    r = client.post("/v1/intents", json=body, headers=bearer)
    assert r.status_code == 201, r.text
    intent = r.json()
    assert intent["category_name"] and intent["must_haves"] == ["HDMI 2.1"]
    s = signal(client, bearer, "electronics.tv")
    assert s is not None and STAGES.index(s["stage"]) >= STAGES.index("motivation")
    assert s["price_band"] == "500-1000 EUR"
    r = client.patch(f"/v1/intents/{intent['id']}", json={"budget_max": 1200}, headers=bearer)
    assert r.json()["budget_max"] == 1200
    assert client.get(f"/v1/intents/{intent['id']}", headers=bearer).json()["budget_max"] == 1200
    assert len(client.get("/v1/intents", headers=bearer).json()) == 1
    assert client.delete(f"/v1/intents/{intent['id']}", headers=bearer).status_code == 204
    assert signal(client, bearer, "electronics.tv") is None
    assert client.get(f"/v1/intents/{intent['id']}", headers=bearer).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"category": "no.such", "text": "x"},
        {"category": "electronics.tv", "budget_min": 10, "budget_max": 5, "currency": "EUR"},
        {"category": "electronics.tv", "budget_max": 5},
        {"category": "electronics.tv", "currency": "euro"},
        {"category": "health.pharmacy"},
    ],
    ids=["unknown-category", "budget-order", "budget-without-currency", "bad-currency", "sensitive"],
)
def test_bad_intents(client: TestClient, bearer: dict[str, str], body: dict[str, Any]) -> None:
    r = client.post("/v1/intents", json=body, headers=bearer)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_exports_json_and_csv(client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["gestures:write"])
    bearer = {"Authorization": f"Bearer {token}"}
    post(client, bearer, [tv(), ev("search", query="=HYPERLINK(evil)")])
    doc = client.get("/v1/me/export").json()
    assert len(doc["gestures"]) == 2 and doc["signals"] and doc["settings"]["paused"] is False
    r = client.get("/v1/gestures/export.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 2
    assert {row["query"] for row in rows} >= {"'=HYPERLINK(evil)"}


def test_schema_and_categories_are_published(client: TestClient) -> None:
    schema = client.get("/v1/schemas/gesture.json").json()
    assert {"id", "type", "ts", "origin"} <= set(schema["required"])
    cats = client.get("/v1/categories").json()["categories"]
    assert len([c for c in cats if c["leaf"]]) >= 150
    assert any(c["sensitive"] for c in cats)


def test_declared_intent_gesture_from_the_extension_becomes_an_intent(
    client: TestClient, bearer: dict[str, str]
) -> None:
    declared = ev("declared_intent", query="65 inch tv under 900", origin="http://127.0.0.1:8000", path="/")
    vague = ev("declared_intent", query="something nice", origin="http://127.0.0.1:8000", path="/")
    first = post(client, bearer, [declared, vague])
    assert [r["status"] for r in first["results"]] == ["accepted", "rejected"]
    assert first["results"][0]["category"] == "electronics.tv" and first["results"][1]["code"] == "unclassified"
    assert post(client, bearer, [declared])["results"][0]["status"] == "duplicate"
    intents = client.get("/v1/intents", headers=bearer).json()
    assert [(i["category"], i["text"]) for i in intents] == [("electronics.tv", "65 inch tv under 900")]
    s = signal(client, bearer, "electronics.tv")
    assert s is not None and STAGES.index(s["stage"]) >= STAGES.index("motivation")


def test_a_return_visit_and_an_account_page_count_for_the_category_of_their_visit(
    client: TestClient, bearer: dict[str, str]
) -> None:
    back = ev("return_visit", minutes_ago=20, path="/")
    account = ev("page_view", minutes_ago=12, path="/account", dwell_ms=60_000)
    elsewhere = ev("page_view", minutes_ago=12, path="/account", origin="https://other.example")
    out = post(client, bearer, [back, tv(minutes_ago=19), tv(minutes_ago=15), account, elsewhere])
    categories = {r["id"]: r["category"] for r in out["results"]}
    assert out["accepted"] == 5
    assert categories[back["id"]] == categories[account["id"]] == "electronics.tv"
    assert categories[elsewhere["id"]] is None  # nothing was looked at in that shop
    sig = signal(client, bearer, "electronics.tv")
    assert sig is not None and any(line.startswith("1 page view") for line in sig["explanation"])
