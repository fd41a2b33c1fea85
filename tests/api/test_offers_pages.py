"""The consumer's /inbox page (offers, questions, vendor switches through real forms with CSRF) and the vendor's
/vendor/webhooks console with its replay button."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.accounts.models import Role
from vault_server.context import VaultContext
from vault_server.feed.models import WebhookDelivery

from ..conftest import PASSWORD, log_in, sign_up
from .test_feed_support import detail, make_grant, make_vendor


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def setup_offer_and_question(client: TestClient, ctx: VaultContext, consumer: dict[str, Any]) -> tuple[str, str]:
    shop, secret = make_vendor(ctx, "Page Shop")
    make_grant(
        ctx, consumer["id"], shop, [detail(["electronics"])], scope=["signals:read", "intents:read", "questions:write"]
    )
    cast = client.post(
        "/v1/intentcasts",
        json={"category": "electronics.tv", "text": "a TV"},
        headers={"X-CSRF-Token": consumer["csrf"]},
    ).json()
    offer = client.post(
        f"/v1/vendor/intentcasts/{cast['id']}/offers",
        json={"title": "QE65 deal", "price": "849", "currency": "EUR", "url": "https://shop.example/p",
              "expires_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        auth=(shop, secret),
    )  # fmt: skip
    assert offer.status_code == 201, offer.text
    client.post(
        "/v1/vendor/questions", json={"kind": "choice", "prompt": "Size?", "choices": ["55", "65"]}, auth=(shop, secret)
    )
    return shop, str(offer.json()["id"])


def test_inbox_page_answers_and_decides_through_forms(
    client: TestClient, ctx: VaultContext, consumer: dict[str, Any]
) -> None:
    shop, offer_id = setup_offer_and_question(client, ctx, consumer)
    page = client.get("/inbox")
    assert page.status_code == 200 and "QE65 deal" in page.text and "Size?" in page.text
    assert "<td>849 EUR</td>" in page.text and '<time datetime="' in page.text  # money and times for people
    token = csrf_of(page.text)
    [q] = client.get("/v1/questions").json()["questions"]

    r = client.post(f"/inbox/questions/{q['id']}", data={"csrf_token": token, "choice": "65"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inbox?notice=question-answered"
    assert client.get("/v1/questions").json()["questions"] == []

    bad = client.post(f"/inbox/offers/{offer_id}", data={"csrf_token": "nope", "action": "accept"})
    assert bad.status_code == 403
    r = client.post(
        f"/inbox/offers/{offer_id}",
        data={"csrf_token": token, "action": "accept", "reveal_name": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    [offer] = client.get("/v1/offers").json()["offers"]
    assert offer["status"] == "accepted" and offer["revealed"] == ["name"]

    r = client.post(f"/inbox/vendors/{shop}", data={"csrf_token": token, "switch": "block"}, follow_redirects=False)
    assert r.status_code == 200 and 'data-testid="confirm"' in r.text  # blocking asks first
    assert client.get("/v1/offers").json()["offers"] != []
    r = client.post(
        f"/inbox/vendors/{shop}",
        data={"csrf_token": token, "switch": "block", "value": "1", "confirmed": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/v1/offers").json()["offers"] == []
    inbox = client.get("/inbox").text
    assert "blocked" in inbox
    assert "<li>Page Shop: blocked" in inbox and f"<li>{shop}:" not in inbox  # the vendor's name, not its id


def test_inbox_needs_a_signed_in_consumer(client: TestClient) -> None:
    r = client.get("/inbox", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_vendor_webhook_console_replays(client: TestClient, ctx: VaultContext) -> None:
    sign_up(client, "vendor@example.com")
    from vault_server.accounts.models import Account

    with ctx.db.session() as s:
        account = s.exec(select(Account).where(Account.role == Role.consumer.value)).first()
        assert account is not None
        account.role = Role.vendor.value
        s.add(account)
        owner = account.id
    log_in(client, "vendor@example.com", PASSWORD)
    shop, secret = make_vendor(ctx, "Console Shop", owner=owner)
    ctx.settings.__dict__["allow_private_webhooks"] = True
    try:
        r = client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["grant.created"]}, auth=(shop, secret)
        )
        assert r.status_code == 201, r.text
    finally:
        ctx.settings.__dict__["allow_private_webhooks"] = False
    with ctx.db.session() as s:
        from vault_server.feed.models import WebhookEndpoint

        endpoint = s.exec(select(WebhookEndpoint)).one()
        s.add(WebhookDelivery(id="msg_dead1", endpoint_id=endpoint.id, vendor_id=shop, event_type="grant.created",
                              status="dead", attempts=8))  # fmt: skip
    page = client.get("/vendor/webhooks")
    assert page.status_code == 200 and "msg_dead1" in page.text and "Replay" in page.text
    r = client.post(
        f"/vendor/webhooks/{shop}/deliveries/msg_dead1/replay",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.db.session() as s:
        row = s.get(WebhookDelivery, "msg_dead1")
        assert row is not None and row.status == "pending" and row.attempts == 0
