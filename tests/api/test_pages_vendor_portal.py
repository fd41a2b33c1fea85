"""The vendor portal's feed explorer (pseudonymous subjects, a stage chart, the latest items — every read audited
through the feed's own path), its intentcasts/offers/questions page, its sandbox list, and an audited, re-signed
webhook replay."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.accounts.models import Account
from vault_server.audit.check import run_check
from vault_server.audit.models import AuditEntry
from vault_server.audit.tasks import maybe_make_sth
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.feed import offers, tasks, webhooks
from vault_server.feed.models import WebhookDelivery
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppRegistration

from ..conftest import PASSWORD, log_in
from .test_feed_support import detail, make_consumer, make_grant, make_vendor, receiver
from .test_pages_layout import HTML, form_csrf, make_account
from .test_vendor_sandbox import DETAILS, REDIRECT, _client


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def owned_app(ctx: VaultContext, email: str, name: str = "Acme TVs") -> tuple[str, str]:
    """An approved app owned by the vendor account ``email``; returns (client_id, secret)."""
    with ctx.db.session() as s:
        owner = next(
            a
            for a in s.exec(select(Account).where(Account.role == "vendor")).all()
            if a.email_index is not None and vendors_email(ctx, s, a) == email
        )
        body = AppRegistration(name=name, homepage="https://shop.example", redirect_uris=[REDIRECT])
        app, secret = vendors.register(session=s, body=body, owner_account_id=owner.id, via="portal")
        vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="test")
        assert secret is not None
        return app.id, secret


def vendors_email(ctx: VaultContext, s: Any, account: Account) -> str:
    from vault_server.accounts import service as accounts

    return str(accounts.profile(session=s, ring=ctx.ring, account=account)["email"])


def reads_via(ctx: VaultContext, endpoint: str) -> int:
    """How many vendor.read entries name ``endpoint`` (the entry's canonical JSON holds its public details)."""
    with ctx.db.session() as s:
        rows = s.exec(select(AuditEntry).where(AuditEntry.kind == "vendor.read")).all()
        return sum(1 for r in rows if json.loads(r.entry)["details"].get("endpoint") == endpoint)


def test_feed_explorer_shows_pseudonyms_a_stage_chart_and_the_latest_items_and_audits_every_read(
    client: TestClient, ctx: VaultContext
) -> None:
    email = make_account(ctx, "vendor")
    creds = owned_app(ctx, email)
    _, vault = _client(client, creds)
    consumer = vault.sandbox_consumer("Tess Tester")
    request = vault.authorization_request(REDIRECT, details=DETAILS)
    vault.exchange_code(vault.sandbox_consent(consumer["id"], request)["code"], request)
    log_in(client, email)
    before = reads_via(ctx, "/vendor/feed")
    page = client.get("/vendor/feed")
    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    html = page.text
    assert 'aria-current="page">Feed explorer<' in html or 'href="/vendor/feed" aria-current="page"' in html
    assert consumer["subject"] in html and ">sandbox<" in html
    assert "Tess Tester" not in html  # subjects are pseudonyms here, never names or labels
    chart = re.search(r'<svg class="chart"[^>]*data-testid="stage-chart".*?</svg>', html, re.S)
    assert chart and "<title" in chart.group(0) and "<script" not in html.split("</head>")[1]
    assert 'data-testid="feed-item"' in html and "grant.created" in html
    after = reads_via(ctx, "/vendor/feed")
    assert after >= before + 2  # the subjects' signals and the latest data item: both audited, as /v1/feed is
    maybe_make_sth(ctx, force=True)
    check = run_check(ctx)  # the portal's reads replay clean against the live grant in `audit check`
    assert check.ok, check.lines()
    # another vendor's app is not there to explore
    other, _ = make_vendor(ctx, "Someone else")
    assert client.get(f"/vendor/feed?app={other}", headers=HTML).status_code == 404


def test_portal_lists_sandbox_consumers_and_links_the_vendor_pages(client: TestClient, ctx: VaultContext) -> None:
    email = make_account(ctx, "vendor")
    creds = owned_app(ctx, email)
    _, vault = _client(client, creds)
    consumer = vault.sandbox_consumer("checkout test")
    log_in(client, email)
    html = client.get("/vendor").text
    row = html.split('data-testid="sandbox-row"')[1]
    assert "checkout test" in row and consumer["subject"] in row and consumer["id"] in row
    for href in ("/vendor/feed", "/vendor/intentcasts", "/vendor/webhooks"):
        assert f'href="{href}"' in html
    # only the owner sees them
    client.cookies.clear()
    with ctx.db.session() as s:
        from vault_server.accounts import service as accounts
        from vault_server.accounts.models import Role

        accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="v2@example.com", password=PASSWORD, role=Role.vendor
        )
    log_in(client, "v2@example.com")
    assert consumer["id"] not in client.get("/vendor").text


def test_intentcasts_page_shows_casts_offers_with_outcome_and_question_results(
    client: TestClient, ctx: VaultContext
) -> None:
    email = make_account(ctx, "vendor")
    client_id, secret = owned_app(ctx, email)
    alice = make_consumer(ctx)
    make_grant(ctx, alice, client_id, [detail(["electronics"])], scope=["signals:read", "intents:read"])
    with ctx.db.session() as s:
        cast = offers.cast(
            session=s,
            ctx=ctx,
            account_id=alice,
            body=offers.CastIn(category="electronics.tv", text="65-inch TV", budget_max="900", currency="EUR"),
        )
    offer = {"title": "QE65", "price": "849.00", "currency": "EUR", "url": "https://shop.example/p",
             "expires_at": "2099-01-01T00:00:00+00:00"}  # fmt: skip
    r = client.post(f"/v1/vendor/intentcasts/{cast['id']}/offers", json=offer, auth=(client_id, secret))
    assert r.status_code == 201, r.text
    log_in(client, email)
    html = client.get("/vendor/intentcasts").text
    row = html.split('data-testid="cast-row"')[1]
    assert "65-inch TV" in row and "900 EUR" in row and "Televisions" in row
    assert "Waiting for the consumer: 1" in html and 'data-testid="offer-row"' in html
    with ctx.db.session() as s:
        assert s.exec(select(AuditEntry).where(AuditEntry.kind == "intentcast.read")).first() is not None
    # the feed explorer says what the intentcast item is, in words
    explorer = client.get("/vendor/feed").text
    assert "Intentcast: Televisions — “65-inch TV”, up to 900 EUR" in explorer


def test_replay_from_the_portal_is_a_new_signed_attempt_and_is_audited(client: TestClient, ctx: VaultContext) -> None:
    email = make_account(ctx, "vendor")
    client_id, _ = owned_app(ctx, email)
    log_in(client, email)
    token = form_csrf(client.get("/vendor/webhooks").text)
    with receiver() as rx:
        rx.statuses = [500]
        created = client.post(
            f"/vendor/webhooks/{client_id}/endpoints",
            data={"csrf_token": token, "url": rx.url, "events": ["grant.created"]},
        )
        secret = re.search(r'data-testid="endpoint-secret">(whsec_[^<]+)<', created.text)
        test_form = re.search(r'action="(/vendor/webhooks/[^"]+/test)"', created.text)
        assert secret and test_form
        client.post(test_form.group(1), data={"csrf_token": token})
        tasks.run_once(ctx)
        log = client.get("/vendor/webhooks").text
        row = log.split('data-testid="delivery-row"')[1]
        assert "HTTP 500" in row
        replay = re.search(r'action="(/vendor/webhooks/[^"]+/replay)"', log)
        assert replay is None  # a failing message is retried by itself; replay is for dead or done ones
        with ctx.db.session() as s:
            msg = s.exec(select(WebhookDelivery).where(WebhookDelivery.vendor_id == client_id)).one()
            msg.status, msg.attempts = "dead", 8
            s.add(msg)
        log = client.get("/vendor/webhooks").text
        replay = re.search(r'action="(/vendor/webhooks/[^"]+/replay)"', log)
        assert replay
        dead = client.get("/vendor/webhooks?status=dead").text  # the log filtered by status
        assert 'data-testid="delivery-row"' in dead and "failed for good" in dead.split('data-testid="delivery-row"')[1]
        assert 'data-testid="delivery-row"' not in client.get("/vendor/webhooks?status=delivered").text
        done = client.post(replay.group(1), data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303
        with ctx.db.session() as s:
            again = s.get(WebhookDelivery, msg.id)
            assert again is not None and again.status == "pending" and again.attempts == 0
            entry = s.exec(select(AuditEntry).where(AuditEntry.kind == "webhook.replayed")).one()
            assert entry.actor == f"vendor:{client_id}"
        assert tasks.run_once(ctx).delivered == 1
        first, second = rx.requests
        h1 = {k.lower(): v for k, v in first["headers"].items()}
        h2 = {k.lower(): v for k, v in second["headers"].items()}
        assert h1["webhook-id"] == h2["webhook-id"] == msg.id  # the same message, a new signed attempt
        assert webhooks.verify(secret.group(1), h2, second["body"])
