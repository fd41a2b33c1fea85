"""Intentcasting and offers end to end: cast to granted vendors (pairwise subject, feed) or anonymously to vendors
serving the category (one-off handle, webhook), offers with validation, the inbox and the extension's summary,
accepting with an identity reveal (webhook carries it, audited), declining, expiry, and blocking a vendor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import release, tasks

from ..conftest import personal_token
from .test_feed import audit_entries
from .test_feed_support import detail, feed_all, make_grant, make_vendor, receiver


def offer_body(**over: Any) -> dict[str, Any]:
    body = {
        "title": "Samsung QE65 QLED, free delivery",
        "price": "849.00",
        "currency": "EUR",
        "url": "https://shop.example/p/qe65",
        "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        "terms": "Price held for 3 days.",
    }
    body.update(over)
    return body


def release_batch(ctx: VaultContext) -> release.Released:
    """What the release job does at the next anonymous-cast boundary."""
    with ctx.db.session() as s:
        return release.release_due(session=s, now=utcnow() + release.ANONYMOUS_BATCH)


def csrf_headers(consumer: dict[str, Any]) -> dict[str, str]:
    return {"X-CSRF-Token": consumer["csrf"]}


def declare(client: TestClient, consumer: dict[str, Any]) -> str:
    r = client.post(
        "/v1/intents",
        json={"category": "electronics.tv", "text": "65-inch TV", "budget_max": 900, "currency": "EUR",
              "timeframe_days": 14},
        headers=csrf_headers(consumer),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_cast_to_granted_vendors_reaches_only_them_by_feed(
    client: TestClient, ctx: VaultContext, consumer: dict[str, Any]
) -> None:
    granted, gs = make_vendor(ctx, "Granted TV shop")
    other, os_ = make_vendor(ctx, "Laptop shop")
    grant = make_grant(
        ctx, consumer["id"], granted, [detail(["electronics"])], scope=["signals:read", "intents:read", "offers:write"]
    )
    make_grant(ctx, consumer["id"], other, [detail(["computers"])], scope=["signals:read", "intents:read"])
    intent_id = declare(client, consumer)
    r = client.post("/v1/intentcasts", json={"intent_id": intent_id}, headers=csrf_headers(consumer))
    assert r.status_code == 201, r.text
    cast = r.json()
    assert cast["recipients"] == 1 and cast["category"] == "electronics.tv" and cast["budget_max"] == 900

    seen = client.get("/v1/vendor/intentcasts", auth=(granted, gs)).json()["intentcasts"]
    assert [(c["id"], c["subject"]) for c in seen] == [(cast["id"], grant.subject)]
    assert seen[0]["text"] == "65-inch TV"
    assert client.get("/v1/vendor/intentcasts", auth=(other, os_)).json()["intentcasts"] == []
    items, _ = feed_all(client, (granted, gs))
    declared = [i for i in items if i["type"] == "intent.declared"]
    assert len(declared) == 1 and declared[0]["intentcast"]["id"] == cast["id"]
    reads = audit_entries(ctx, "intentcast.read")
    assert reads and all(e["details"]["vendor_id"] == granted for e in reads)
    assert audit_entries(ctx, "intentcast.sent")[-1]["details"]["recipients"] == [granted]


def test_anonymous_cast_offer_accept_with_reveal(
    client: TestClient, ctx: VaultContext, consumer: dict[str, Any]
) -> None:
    tv_shop, tvs = make_vendor(ctx, "TV shop")
    laptops, lps = make_vendor(ctx, "Laptop shop")
    assert client.put(
        "/v1/vendor/intentcasts/categories", json={"categories": ["electronics"]}, auth=(tv_shop, tvs)
    ).json() == {"categories": ["electronics"]}
    client.put("/v1/vendor/intentcasts/categories", json={"categories": ["computers"]}, auth=(laptops, lps))
    with receiver() as rx:
        ctx.settings.__dict__["allow_private_webhooks"] = True
        try:
            r = client.post(
                "/v1/webhooks",
                json={"url": rx.url, "events": ["intent.declared", "offer.accepted"]},
                auth=(tv_shop, tvs),
            )
            assert r.status_code == 201, r.text
            r = client.post(
                "/v1/intentcasts",
                json={"category": "electronics.tv", "text": "65-inch TV", "budget_max": "900", "currency": "EUR",
                      "anonymous": True},
                headers=csrf_headers(consumer),
            )  # fmt: skip
            assert r.status_code == 201, r.text
            cast = r.json()
            assert cast["recipients"] == 1
            assert client.get("/v1/vendor/intentcasts", auth=(tv_shop, tvs)).json()["intentcasts"] == []  # batched
            assert release_batch(ctx).casts == 1
            [seen] = client.get("/v1/vendor/intentcasts", auth=(tv_shop, tvs)).json()["intentcasts"]
            assert seen["subject"].startswith("cast_") and seen["budget_max"] == 900
            assert client.get("/v1/vendor/intentcasts", auth=(laptops, lps)).json()["intentcasts"] == []

            # offers: validated, only by recipients
            bad = client.post(
                f"/v1/vendor/intentcasts/{cast['id']}/offers",
                json=offer_body(url="http://x.example"),
                auth=(tv_shop, tvs),
            )
            assert bad.status_code == 422
            r = client.post(f"/v1/vendor/intentcasts/{cast['id']}/offers", json=offer_body(), auth=(laptops, lps))
            assert r.status_code == 404
            r = client.post(f"/v1/vendor/intentcasts/{cast['id']}/offers", json=offer_body(), auth=(tv_shop, tvs))
            assert r.status_code == 201, r.text
            offer_id = r.json()["id"]

            inbox = client.get("/v1/offers").json()["offers"]
            assert [(o["id"], o["status"], o["vendor"]["name"]) for o in inbox] == [(offer_id, "pending", "TV shop")]
            token = personal_token(client, consumer["csrf"], ["signals:read:self"])
            summary = client.get("/v1/inbox/summary", headers={"Authorization": f"Bearer {token}"}).json()
            assert summary == {"offers": 1, "questions": 0}

            r = client.post(
                f"/v1/offers/{offer_id}/decision",
                json={"action": "accept", "reveal": ["email"]},
                headers=csrf_headers(consumer),
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "accepted" and r.json()["revealed"] == ["email"]
            again = client.post(
                f"/v1/offers/{offer_id}/decision", json={"action": "decline"}, headers=csrf_headers(consumer)
            )
            assert again.status_code == 409

            tick = tasks.run_once(ctx)
            assert tick.delivered == 2, tick
            by_type = {b["type"]: b["data"] for b in rx.bodies()}
            assert by_type["intent.declared"]["intentcast"]["id"] == cast["id"]
            accepted = by_type["offer.accepted"]
            assert accepted["offer"]["offer_id"] == offer_id
            assert accepted["offer"]["identity"] == {"email": "dana@example.com"}
            assert accepted["subject"] == seen["subject"]  # the handle, never a pairwise subject
            identity_reads = audit_entries(ctx, "identity.read")
            assert identity_reads and identity_reads[-1]["details"]["fields"] == ["email"]
            assert audit_entries(ctx, "identity.revealed")[-1]["details"]["offer_id"] == offer_id
        finally:
            ctx.settings.__dict__["allow_private_webhooks"] = False


def test_decline_expiry_and_block(client: TestClient, ctx: VaultContext, consumer: dict[str, Any]) -> None:
    shop, secret = make_vendor(ctx, "Shop")
    client.put("/v1/vendor/intentcasts/categories", json={"categories": ["electronics.tv"]}, auth=(shop, secret))
    cast = client.post(
        "/v1/intentcasts", json={"category": "electronics.tv", "anonymous": True}, headers=csrf_headers(consumer)
    ).json()
    release_batch(ctx)
    url = f"/v1/vendor/intentcasts/{cast['id']}/offers"
    first = client.post(url, json=offer_body(), auth=(shop, secret)).json()["id"]
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = client.post(url, json=offer_body(expires_at=soon), auth=(shop, secret)).json()["id"]
    r = client.post(f"/v1/offers/{first}/decision", json={"action": "decline"}, headers=csrf_headers(consumer))
    assert r.json()["status"] == "declined"
    import time

    time.sleep(1.2)
    r = client.post(f"/v1/offers/{expiring}/decision", json={"action": "accept"}, headers=csrf_headers(consumer))
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    # at most 3 offers per cast and vendor
    client.post(url, json=offer_body(), auth=(shop, secret))
    assert client.post(url, json=offer_body(), auth=(shop, secret)).status_code == 409

    r = client.put(f"/v1/vendors/{shop}/preferences", json={"blocked": True}, headers=csrf_headers(consumer))
    assert r.status_code == 200 and r.json()["blocked"] is True
    assert client.get("/v1/offers").json()["offers"] == []  # hidden while blocked
    cast2 = client.post(
        "/v1/intentcasts", json={"category": "electronics.tv", "anonymous": True}, headers=csrf_headers(consumer)
    ).json()
    assert cast2["recipients"] == 0  # blocked vendors get no casts
    r = client.post(f"/v1/vendor/intentcasts/{cast['id']}/offers", json=offer_body(), auth=(shop, secret))
    assert r.status_code in (403, 409)
    # the consumer closes the cast: no more offers
    client.put(f"/v1/vendors/{shop}/preferences", json={"blocked": False}, headers=csrf_headers(consumer))
    assert client.post(f"/v1/intentcasts/{cast['id']}/close", headers=csrf_headers(consumer)).status_code == 204
    assert client.post(url, json=offer_body(), auth=(shop, secret)).status_code == 409


def test_sensitive_categories_are_never_cast_to_everyone(client: TestClient, consumer: dict[str, Any]) -> None:
    r = client.post(
        "/v1/intentcasts",
        json={"category": "finance.insurance.health", "anonymous": True},
        headers=csrf_headers(consumer),
    )
    assert r.status_code == 422


def test_casting_needs_a_consumer_and_csrf(client: TestClient, ctx: VaultContext, consumer: dict[str, Any]) -> None:
    r = client.post("/v1/intentcasts", json={"category": "electronics.tv"})
    assert r.status_code == 403 and r.json()["type"].endswith("/csrf-failed")
    shop, secret = make_vendor(ctx)
    client.cookies.clear()
    assert client.get("/v1/offers", auth=(shop, secret)).status_code == 401  # a vendor credential is no consumer
    assert client.get("/v1/offers").status_code == 401
