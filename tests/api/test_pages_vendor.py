"""The vendor portal (apps, status, secret rotation, offers and questions), its webhook console (add an endpoint,
send a test delivery through the outbox and see it in the log, remove with confirmation) and the auditor console's
readable entries — all through the real app."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.feed import tasks, webhooks
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorApp

from ..conftest import log_in
from .test_feed_support import receiver
from .test_pages_layout import HTML, form_csrf, make_account


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def _register(client: TestClient, name: str = "Acme TVs") -> str:
    token = form_csrf(client.get("/vendor").text)
    r = client.post(
        "/vendor/apps",
        data={"csrf_token": token, "name": name, "redirect_uris": "https://acme.example/cb"},
    )
    assert r.status_code == 200, r.text
    client_id = re.search(r'data-testid="client-id">([^<]+)<', r.text)
    assert client_id
    return client_id.group(1)


def test_portal_shows_status_in_words_and_rotates_the_secret_once_confirmed(
    client: TestClient, ctx: VaultContext
) -> None:
    log_in(client, make_account(ctx, "vendor"))
    client_id = _register(client)
    page = client.get("/vendor").text
    assert "Pending — waiting for an administrator" in page
    assert re.search(r'data-testid="app-grants">0<', page)
    token = form_csrf(page)
    asked = client.post(f"/vendor/apps/{client_id}/rotate", data={"csrf_token": token})
    assert asked.status_code == 200 and "Rotate the client secret of Acme TVs?" in asked.text
    with ctx.db.session() as s:
        before = s.get(VendorApp, client_id)
        assert before is not None
        old_hash = before.client_secret_hash
    r = client.post(f"/vendor/apps/{client_id}/rotate", data={"csrf_token": token, "confirmed": "yes"})
    assert r.status_code == 200 and 'data-testid="secret-rotated"' in r.text
    secret = re.search(r'data-testid="client-secret">(ivcs_[^<]+)<', r.text)
    assert secret
    with ctx.db.session() as s:
        app = s.get(VendorApp, client_id)
        assert app is not None and app.client_secret_hash != old_hash
        assert vendors.secret_matches(app, secret.group(1))
    assert secret.group(1) not in client.get("/vendor").text  # shown once


def test_another_vendor_cannot_rotate_or_add_webhooks_to_my_app(client: TestClient, ctx: VaultContext) -> None:
    log_in(client, make_account(ctx, "vendor"))
    client_id = _register(client)
    client.cookies.clear()
    with ctx.db.session() as s:
        from vault_server.accounts import service as accounts
        from vault_server.accounts.models import Role

        accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="other@example.com", password="x" * 12, role=Role.vendor
        )
    log_in(client, "other@example.com", "x" * 12)
    token = form_csrf(client.get("/vendor").text)
    r = client.post(f"/vendor/apps/{client_id}/rotate", data={"csrf_token": token, "confirmed": "yes"}, headers=HTML)
    assert r.status_code == 404
    r = client.post(
        f"/vendor/webhooks/{client_id}/endpoints",
        data={"csrf_token": token, "url": "https://127.0.0.1:9/h", "events": ["grant.created"]},
    )
    assert r.status_code == 404


def test_webhook_console_adds_an_endpoint_sends_a_test_and_logs_it(client: TestClient, ctx: VaultContext) -> None:
    log_in(client, make_account(ctx, "vendor"))
    client_id = _register(client)
    page = client.get("/vendor/webhooks").text
    token = form_csrf(page)
    bad = client.post(
        f"/vendor/webhooks/{client_id}/endpoints", data={"csrf_token": token, "url": "https://x.example/h"}
    )
    assert bad.status_code == 422 and "Events: add at least one." in bad.text
    assert 'value="https://x.example/h"' in bad.text  # kept
    with receiver() as rx:
        r = client.post(
            f"/vendor/webhooks/{client_id}/endpoints",
            data={"csrf_token": token, "url": rx.url, "events": ["grant.created", "grant.revoked"]},
        )
        assert r.status_code == 200 and 'data-testid="endpoint-created"' in r.text
        secret = re.search(r'data-testid="endpoint-secret">(whsec_[^<]+)<', r.text)
        assert secret
        assert secret.group(1) not in client.get("/vendor/webhooks").text  # shown once
        test_form = re.search(r'action="(/vendor/webhooks/[^"]+/test)"', r.text)
        assert test_form
        queued = client.post(test_form.group(1), data={"csrf_token": token}, follow_redirects=False)
        assert queued.status_code == 303 and queued.headers["location"] == "/vendor/webhooks?notice=test-queued"
        log = client.get(queued.headers["location"]).text
        assert "A test message is queued" in log and "webhook.test" in log and "waiting to be sent" in log
        tick = tasks.run_once(ctx)
        assert tick.delivered == 1, tick
        [request] = rx.requests
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert webhooks.verify(secret.group(1), headers, request["body"])
        body = json.loads(request["body"])
        assert body["type"] == "webhook.test" and body["data"]["test"] is True
    log = client.get("/vendor/webhooks").text
    row = log.split('data-testid="delivery-row"')[1]
    assert "webhook.test" in row and ">delivered<" in row and "HTTP 2" in row
    assert 'class="secondary">Replay</button>' in row

    remove = re.search(r'action="(/vendor/webhooks/[^"]+/delete)"', log)
    assert remove
    asked = client.post(remove.group(1), data={"csrf_token": token})
    assert asked.status_code == 200 and "Remove this webhook endpoint?" in asked.text
    done = client.post(remove.group(1), data={"csrf_token": token, "confirmed": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    assert 'data-testid="endpoint-row"' not in client.get("/vendor/webhooks").text


def test_auditor_console_reads_as_words_not_json(client: TestClient, ctx: VaultContext) -> None:
    admin = make_account(ctx, "admin")
    log_in(client, admin)
    from vault_server.vendors.demo import DEMO_CLIENT_ID, seed

    list(seed(ctx, None))
    token = form_csrf(client.get("/admin/vendors").text)
    client.post(f"/admin/vendors/{DEMO_CLIENT_ID}/suspend", data={"csrf_token": token, "confirmed": "yes"})
    client.post("/auditor/sth", data={"csrf_token": token})
    page = client.get("/auditor").text
    assert '<dl class="details">' in page and "<dt>vendor id</dt>" in page
    assert '{"' not in page  # no raw JSON
    assert re.search(r'signed <time datetime="\d{4}-[^"]+" data-local="full">', page)
    assert " ms." not in page


def test_auditor_checks_an_entry_in_the_page_and_sees_tampering(client: TestClient, ctx: VaultContext) -> None:
    from vault_server.audit.models import AuditEntry
    from vault_server.vendors.demo import DEMO_CLIENT_ID, seed
    from vault_server.vendors.models import VendorStatus
    from vault_server.vendors.views import set_status

    log_in(client, make_account(ctx, "auditor"))
    list(seed(ctx, None))
    token = form_csrf(client.get("/auditor").text)
    set_status(ctx, DEMO_CLIENT_ID, VendorStatus.suspended, "admin")  # entry #0 of the log
    unsigned = client.get("/auditor/entries/0").text
    assert "Not yet" in unsigned
    client.post("/auditor/sth", data={"csrf_token": token})
    page = client.get("/auditor").text
    assert 'href="/auditor/entries/0"' in page
    good = client.get("/auditor/entries/0")
    assert good.status_code == 200 and "<strong>Yes.</strong>" in good.text and "vendor.suspended" in good.text
    with ctx.db.session() as s:
        row = s.get(AuditEntry, 0)
        assert row is not None
        row.entry = row.entry.replace("suspended", "approved")
        s.add(row)
    bad = client.get("/auditor/entries/0").text
    assert "the check failed" in bad and "does not lead to the signed root" in bad
    assert client.get("/auditor/entries/99", headers=HTML).status_code == 404
