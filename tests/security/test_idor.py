"""IDOR across consumers: Mallory, signed in as herself, takes the ids of Dana's intents, gestures, grants,
receipts, tokens, devices, offers and questions and tries every read and write on them. Each attempt answers 404
(the id does not exist *for her*) and Dana's data is unchanged afterwards."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from vault_server.context import VaultContext

from ..api.test_feed_support import detail, make_grant, make_vendor
from ..conftest import log_in, personal_token, sign_up


def _person(app: Any, email: str, name: str) -> tuple[TestClient, dict[str, str], str]:
    http = TestClient(app, base_url="http://127.0.0.1:8000")
    me = sign_up(http, email, name=name)
    csrf = log_in(http, email)
    return http, {"X-CSRF-Token": csrf}, str(me["id"])


def test_one_consumer_cannot_reach_anothers_resources(app: Any, ctx: VaultContext) -> None:
    dana, dh, dana_id = _person(app, "dana@example.com", "Dana")
    mallory, mh, _ = _person(app, "mallory@example.com", "Mallory")
    shop, secret = make_vendor(ctx, "Shop")
    grant = make_grant(
        ctx, dana_id, shop, [detail(["electronics"])],
        scope=["signals:read", "intents:read", "offers:write", "questions:write"],
    )  # fmt: skip
    intent = dana.post("/v1/intents", json={"category": "electronics.tv", "text": "65-inch TV"}, headers=dh).json()
    writer = personal_token(dana, dh["X-CSRF-Token"], ["gestures:write"])
    event_id = str(uuid.uuid4())
    event = {"id": event_id, "type": "product_view", "ts": datetime.now(UTC).isoformat(),
             "origin": "https://shop.example", "path": "/p/{id}", "product": {"name": "LG OLED TV"}}  # fmt: skip
    assert (
        dana.post("/v1/gestures", json={"events": [event]}, headers={"Authorization": f"Bearer {writer}"}).json()[
            "accepted"
        ]
        == 1
    )
    token_id = dana.get("/v1/me/tokens").json()[0]["id"]
    cast = dana.post("/v1/intentcasts", json={"intent_id": intent["id"]}, headers=dh).json()
    r = dana.post(
        f"/v1/vendor/intentcasts/{cast['id']}/offers",
        json={
            "title": "TV",
            "price": "849.00",
            "currency": "EUR",
            "url": "https://shop.example/p",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            "terms": "3 days",
        },
        auth=(shop, secret),
    )
    assert r.status_code == 201, r.text
    offer = dana.get("/v1/offers").json()
    offer_id = (offer["offers"] if isinstance(offer, dict) else offer)[0]["id"]
    r = dana.post("/v1/vendor/questions", json={"kind": "text", "prompt": "Which size?"}, auth=(shop, secret))
    assert r.status_code == 201, r.text
    questions = dana.get("/v1/questions").json()
    delivery_id = (questions["questions"] if isinstance(questions, dict) else questions)[0]["id"]
    receipts = dana.get(f"/v1/grants/{grant.id}/receipts").json()
    receipt_id = (receipts["receipts"] if isinstance(receipts, dict) else receipts)[0]["id"]
    before = dana.get("/v1/me/export").json()

    attempts = [
        ("GET", f"/v1/intents/{intent['id']}", None),
        ("PATCH", f"/v1/intents/{intent['id']}", {"text": "owned"}),
        ("DELETE", f"/v1/intents/{intent['id']}", None),
        ("DELETE", f"/v1/gestures/{event_id}", None),
        ("GET", f"/v1/grants/{grant.id}", None),
        ("PATCH", f"/v1/grants/{grant.id}", {"authorization_details": []}),
        ("DELETE", f"/v1/grants/{grant.id}", None),
        ("POST", f"/v1/grants/{grant.id}/identity", {"fields": ["name"]}),
        ("DELETE", f"/v1/grants/{grant.id}/identity", None),
        ("GET", f"/v1/grants/{grant.id}/receipts", None),
        ("GET", f"/v1/grants/{grant.id}/receipts/{receipt_id}", None),
        ("DELETE", f"/v1/me/tokens/{token_id}", None),
        ("DELETE", f"/v1/me/devices/{token_id}", None),
        ("POST", f"/v1/offers/{offer_id}/decision", {"action": "accept", "reveal": ["name", "email"]}),
        ("POST", f"/v1/questions/{delivery_id}/answer", {"text": "owned"}),
        ("POST", f"/v1/questions/{delivery_id}/ignore", None),
        ("POST", f"/v1/intentcasts/{cast['id']}/close", None),
    ]
    for method, path, body in attempts:
        r = mallory.request(method, path, json=body, headers=mh)
        assert r.status_code in (404, 403), (method, path, r.status_code, r.text[:200])
        assert "Dana" not in r.text and "65-inch" not in r.text, (method, path)
    after = dana.get("/v1/me/export").json()
    after.pop("exported_at", None), before.pop("exported_at", None)
    for doc in (before, after):
        doc.pop("signals", None)  # read-time scores decay between the two reads
    assert after == before, "Mallory changed Dana's data"
    assert mallory.get("/v1/intents").json() == [] and mallory.get("/v1/grants").json() == []
