"""Stored XSS: a malicious vendor (and a consumer's own input) puts script payloads into every string the vault
shows on a page — the app name, its home page and policy URLs, the purpose of its request, offer titles, terms and
links, question prompts and choices, webhook URLs — and the consumer into their name, intent text, must-haves and
token names. Every page that shows them (consent, dashboard, grants, grant detail, inbox, settings, access log,
the vendor's apps and webhooks, the admin's vendor list) must render them as text.

Two proofs: the HTML holds only the escaped form of each payload, and a real browser (chromium) that opens each
page never runs one (the payloads set ``window.__xss`` or open a dialog)."""

from __future__ import annotations

import html
import ipaddress
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.context import VaultContext
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppRegistration

from ..api.test_feed_support import make_grant
from ..api.test_oauth_support import DETAILS, pkce_pair
from ..conftest import PASSWORD, LiveServer, log_in, personal_token, sign_up

CHROMIUM = os.environ.get("VAULT_E2E_CHROMIUM", "/usr/bin/chromium")
PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    '"><script>window.__xss=2</script>',
    "'><svg onload=window.__xss=3>",
    "</textarea></title><script>alert(4)</script>",
    "{{7*7}}<b>bold</b>",
]
P = " ".join(PAYLOADS)  # one string carrying every payload
URL_PAYLOAD = 'https://shop.example/p?q="><img src=x onerror=window.__xss=5>'


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vendor host names resolve to a public address (the SSRF guard lets them be registered); nothing is sent."""
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host.endswith(".example"):
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", int(port or 443)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def _account(ctx: VaultContext, email: str, role: Role, name: str = "") -> str:
    with ctx.db.session() as s:
        return accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD, name=name, role=role
        ).id


def _browser_of(server: LiveServer, email: str) -> httpx.Client:
    http = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    log_in(http, email)
    return http


@pytest.fixture
def poisoned(live_server: LiveServer, ctx: VaultContext, public_dns: None) -> Iterator[dict[str, Any]]:
    """A vault full of payloads; returns the logged-in clients and the pages to look at per person."""
    server = live_server
    vendor_owner = _account(ctx, "vendor@example.com", Role.vendor, P)
    _account(ctx, "admin@example.com", Role.admin, P)
    body = AppRegistration(
        name=P[:200],
        homepage=URL_PAYLOAD,
        policy_uri=URL_PAYLOAD,
        redirect_uris=["https://shop.example/callback"],
    )
    with ctx.db.session() as s:
        app, secret = vendors.register(session=s, body=body, owner_account_id=vendor_owner, via="portal")
        vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="test")
    assert secret is not None
    auth = (app.id, secret)
    consumer = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    me = sign_up(consumer, "dana@example.com", name=P[:100])
    csrf = log_in(consumer, "dana@example.com")
    h = {"X-CSRF-Token": csrf}
    personal_token(consumer, csrf, ["gestures:write"])
    r = consumer.post("/v1/me/tokens", json={"name": P[:60], "scopes": ["signals:read:self"]}, headers=h)
    assert r.status_code == 201, r.text
    details = [{**DETAILS[0], "purpose": P[:300]}]
    grant = make_grant(ctx, me["id"], app.id, details, scope=["signals:read", "intents:read", "offers:write",
                                                            "questions:write"])  # fmt: skip
    r = consumer.post(
        "/v1/intents",
        json={"category": "electronics.tv", "text": P[:500], "must_haves": [p[:100] for p in PAYLOADS]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = consumer.post("/v1/intentcasts", json={"intent_id": r.json()["id"]}, headers=h)
    assert r.status_code == 201, r.text
    cast = r.json()
    with httpx.Client(base_url=server.url, timeout=30) as vendor_api:
        r = vendor_api.post(
            f"/v1/vendor/intentcasts/{cast['id']}/offers",
            json={
                "title": P[:200],
                "price": "849.00",
                "currency": "EUR",
                "url": URL_PAYLOAD,
                "terms": P[:500],
                "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            },
            auth=auth,
        )
        assert r.status_code == 201, r.text
        r = vendor_api.post(
            "/v1/vendor/questions", json={"kind": "choice", "prompt": P[:300], "choices": PAYLOADS[:3]}, auth=auth
        )
        assert r.status_code == 201, r.text
        r = vendor_api.post("/v1/webhooks", json={"url": URL_PAYLOAD, "events": ["grant.created"]}, auth=auth)
        assert r.status_code in (201, 422), r.text  # a URL with quotes may be refused: either way, no markup
        vendor_api.get(f"/v1/subjects/{grant.subject}/signals", auth=auth)
    _, challenge = pkce_pair()
    consent = "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": app.id,
            "redirect_uri": "https://shop.example/callback",
            "scope": "signals:read",
            "state": P[:100],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "authorization_details": json.dumps(details),
        }
    )
    people = {
        "consumer": (
            consumer,
            ["/dashboard", "/grants", f"/grants/{grant.id}", "/inbox", "/settings", "/access-log", consent],
        ),
        "vendor": (_browser_of(server, "vendor@example.com"), ["/vendor", "/vendor/webhooks"]),
        "admin": (_browser_of(server, "admin@example.com"), ["/admin/vendors"]),
    }
    yield {"server": server, "people": people}
    for http, _ in people.values():
        http.close()


def _assert_escaped(page: str, where: str) -> int:
    """No payload appears as markup; returns how many payload fragments appear escaped (as text)."""
    for payload in [*PAYLOADS, URL_PAYLOAD]:
        for dangerous in ("<img src=x onerror", "<script>window.__xss", "<svg onload", "<script>alert", "<b>bold"):
            if dangerous in payload:
                assert dangerous not in page, f"{where}: {dangerous!r} rendered as markup"
    return sum(html.escape(p, quote=False) in page or html.escape(p) in page for p in PAYLOADS)


def test_payloads_render_as_escaped_text(poisoned: dict[str, Any]) -> None:
    shown = 0
    for who, (http, paths) in poisoned["people"].items():
        for path in paths:
            r = http.get(path)
            assert r.status_code == 200, (who, path, r.status_code, r.text[:300])
            shown += _assert_escaped(r.text, f"{who} {path}")
    assert shown >= 10, "the payloads must actually reach the pages (as text) for the check to mean anything"


def test_no_payload_runs_in_a_real_browser(poisoned: dict[str, Any]) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    ran: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for who, (http, paths) in poisoned["people"].items():
                context = browser.new_context()
                context.add_cookies(
                    [{"name": c.name, "value": c.value or "", "url": poisoned["server"].url} for c in http.cookies.jar]
                )
                page = context.new_page()
                page.on("dialog", lambda d, who=who: (ran.append(f"{who}: dialog {d.message}"), d.dismiss()))
                for path in paths:
                    page.goto(poisoned["server"].url + path, wait_until="load")
                    page.wait_for_timeout(100)  # let onerror/onload handlers of broken images fire
                    flag = page.evaluate("window.__xss")
                    if flag is not None:
                        ran.append(f"{who} {path}: window.__xss = {flag}")
                    assert "<b>bold</b>" not in page.inner_html("body") or "&lt;b&gt;" in page.inner_html("body")
                context.close()
        finally:
            browser.close()
    assert not ran, ran
