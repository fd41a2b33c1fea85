"""The vendor's journeys in a real browser (Debian's chromium, no extension) against a live vault:

* a vendor registers an app in the portal, adds a webhook pointing at a receiver this test runs, sends a test
  delivery and sees it delivered in the log; then, from a script (the example client, no HTML), creates a sandbox
  consumer, lets it consent, exchanges the code for tokens and reads the signals and the feed, and sees the subject
  in the portal's feed explorer;
* a consumer grants the vendor on the real consent screen, then deletes their account in Settings; the vendor gets
  the tombstone by webhook and in the feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.api.test_feed_example_client import load_client
from tests.api.test_feed_support import make_vendor, receiver
from tests.conftest import PASSWORD, LiveServer, sign_up
from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.feed import tasks, webhooks
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus

REDIRECT = "https://shop.example/cb"
DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics"],
        "min_stage": "awareness",
        "fields": ["stage", "score"],
        "purpose": "Offers on TVs",
        "retention_days": 30,
        "frequency": "realtime",
    }
]


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})  # the receiver is on loopback


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    context.on("weberror", lambda e: print(f"[page error] {e.error}"))
    try:
        yield context.new_page()
    finally:
        context.close()


def deliver(ctx: VaultContext) -> tasks.TickResult:
    """One webhook worker tick, on its own thread: the worker runs an event loop, and playwright's sync API
    already runs one on this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(tasks.run_once, ctx).result()


def log_in(page: Page, server: LiveServer, email: str, then: str) -> None:
    page.goto(f"{server.url}/login?next={then}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.url}{then}")


def test_vendor_registers_adds_a_webhook_tests_it_and_drives_the_sandbox_from_a_script(
    live_server: LiveServer, ctx: VaultContext, page: Page, tmp_path: Path
) -> None:
    with ctx.db.session() as s:
        accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="dev@shop.example", password=PASSWORD, role=Role.vendor
        )
    log_in(page, live_server, "dev@shop.example", "/vendor")

    # register an app; the secret is shown once
    form = page.get_by_test_id("register-app")
    form.get_by_label("Name").fill("Shop Example")
    form.get_by_label("Redirect URIs").fill(REDIRECT)
    form.get_by_role("button", name="Register").click()
    created = page.get_by_test_id("app-created")
    expect(created).to_be_visible()
    client_id = page.get_by_test_id("client-id").inner_text().strip()
    secret = created.get_by_test_id("client-secret").inner_text().strip()
    expect(page.get_by_test_id(f"app-{client_id}").get_by_test_id("app-status")).to_contain_text("Pending")
    with ctx.db.session() as s:  # the administrator approves it (the admin pages are tested on their own)
        vendors.set_status(session=s, client_id=client_id, status=VendorStatus.approved, by="admin")

    with receiver() as rx:
        # add a webhook endpoint to the local receiver, send a test, see it delivered in the log
        page.get_by_test_id("nav").get_by_role("link", name="Webhooks").click()
        add = page.get_by_test_id("add-endpoint")
        add.get_by_label("HTTPS URL").fill(rx.url)
        add.get_by_label("grant.created").check()
        add.get_by_role("button", name="Add endpoint").click()
        whsec = page.get_by_test_id("endpoint-secret").inner_text().strip()
        page.get_by_test_id("send-test").click()
        expect(page.get_by_role("status")).to_contain_text("A test message is queued")
        assert deliver(ctx).delivered == 1
        page.reload()
        row = page.get_by_test_id("delivery-row").first
        expect(row).to_contain_text("webhook.test")
        expect(row).to_contain_text("delivered")
        expect(row).to_contain_text("HTTP 204")
        [test_delivery] = rx.requests
        headers = {k.lower(): v for k, v in test_delivery["headers"].items()}
        assert webhooks.verify(whsec, headers, test_delivery["body"])

        # the sandbox, from a script: consent, the real token exchange (PKCE), the signals and the feed
        vc = load_client()
        with vc.VendorClient(live_server.url, client_id, secret) as vault:
            consumer = vault.sandbox_consumer("e2e")
            request = vault.authorization_request(REDIRECT, details=DETAILS)
            answer = vault.sandbox_consent(consumer["id"], request)
            tokens = vault.exchange_code(answer["code"], request, state=answer["state"])
            assert tokens.subject == consumer["subject"]
            assert vault.subject_signals(tokens)["signals"]
            items: list[dict[str, Any]] = []
            vault.follow_feed(vc.FileCursorStore(tmp_path / "cursor"), items.append)
            assert [i["type"] for i in items] == ["grant.created"] and items[0]["subject"] == tokens.subject
        assert deliver(ctx).delivered == 1
        assert rx.bodies()[-1]["type"] == "grant.created"

    # the portal shows the sandbox consumer and the feed explorer its subject, a stage chart and the feed item
    page.get_by_test_id("nav").get_by_role("link", name="Apps").click()
    expect(page.get_by_test_id("sandbox-row")).to_contain_text(consumer["subject"])
    page.get_by_test_id("nav").get_by_role("link", name="Feed explorer").click()
    subject_row = page.get_by_test_id("subject-row")
    expect(subject_row).to_contain_text(consumer["subject"])
    expect(subject_row).to_contain_text("sandbox")
    expect(page.get_by_test_id("stage-chart")).to_be_visible()
    expect(page.get_by_test_id("feed-item").first).to_contain_text("grant.created")


def test_consumer_deletes_their_account_and_the_vendor_gets_the_tombstone(
    live_server: LiveServer, ctx: VaultContext, page: Page, tmp_path: Path
) -> None:
    client_id, secret = make_vendor(ctx, "Shop Example")
    vc = load_client()
    email = "robin@example.com"
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        sign_up(http, email, name="Robin")
    with vc.VendorClient(live_server.url, client_id, secret) as vault, receiver() as rx:
        endpoint = vault.register_webhook(rx.url, ["grant.created", "grant.revoked"])
        # the consumer grants on the real consent screen; the browser's redirect back to the shop is caught here
        redirects: list[str] = []

        def shop(route: Route) -> None:
            redirects.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Shop</title><p>Thanks")

        page.route("https://shop.example/**", shop)
        log_in(page, live_server, email, "/dashboard")
        request = vault.authorization_request(REDIRECT, details=DETAILS)
        page.goto(request.url)
        page.get_by_test_id("approve").click()
        expect(page).to_have_title("Shop")
        query = dict(httpx.URL(redirects[-1]).params)
        tokens = vault.exchange_code(query["code"], request, state=query["state"])
        store = vc.FileCursorStore(tmp_path / "cursor")
        vault.follow_feed(store, lambda item: None)

        # the consumer deletes their vault in Settings
        page.goto(f"{live_server.url}/settings")
        delete = page.get_by_test_id("delete-account")
        delete.get_by_label("Type").fill("delete my vault")
        delete.get_by_label("Your password").fill(PASSWORD)
        page.get_by_test_id("delete-account-button").click()
        with httpx.Client(base_url=live_server.url, timeout=10) as http:
            gone = http.post("/v1/sessions", json={"email": email, "password": PASSWORD})
            assert gone.status_code in (400, 401), gone.text

        # the vendor is told to forget: by webhook and in the feed
        deliver(ctx)
        revoked = [b for b in rx.bodies() if b["type"] == "grant.revoked"]
        assert [b["data"]["subject"] for b in revoked] == [tokens.subject]
        assert revoked[0]["data"]["reason"] == "subject_deleted" and revoked[0]["data"]["forget"] is True
        last = {k.lower(): v for k, v in rx.requests[-1]["headers"].items()}
        assert vc.verify_webhook(endpoint["secret"], last, rx.requests[-1]["body"])["type"] == "grant.revoked"
        later: list[dict[str, Any]] = []
        vault.follow_feed(store, later.append)
        assert [(i["type"], i["subject"], i.get("forget")) for i in later] == [
            ("subject.deleted", tokens.subject, True)
        ]
