"""Pairing the browser extension with the device authorization grant (RFC 8628) over a real server: the
extension's exact calls, the consumer's approval page, device tokens on the consumer's own endpoints, listing
per device and revocation that acts on the next call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from vault_server.context import VaultContext

from ..conftest import LiveServer
from .test_oauth_support import browser, consumer_browser, forms, post_form, submit_values

EXT = "intent-vault-extension"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _start(ext: httpx.Client) -> dict[str, Any]:
    r = ext.post("/oauth/device_authorization", data={"client_id": EXT, "scope": "gestures:write signals:read:self"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _poll(ext: httpx.Client, device_code: str) -> httpx.Response:
    return ext.post("/oauth/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": EXT})


def _approve(consumer: httpx.Client, user_code: str, action: str = "approve") -> httpx.Response:
    page = consumer.get("/device", params={"user_code": user_code.lower()})  # lenient about case
    assert page.status_code == 200 and user_code in page.text
    form = next(f for f in forms(page.text) if f["action"] == "/device")
    return post_form(consumer, "/device", submit_values(form, button=("action", action)))


def _gesture() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "search",
        "ts": datetime.now(UTC).isoformat(),
        "origin": "https://shop.example",
        "path": "/search",
        "query": "65 inch tv",
    }


def test_extension_pairs_records_refreshes_and_is_unpaired(live_server: LiveServer, ctx: VaultContext) -> None:
    ext = browser(live_server.url)
    consumer = consumer_browser(live_server.url)
    started = _start(ext)
    assert started["verification_uri"].endswith("/device") and started["interval"] == 5
    assert len(started["user_code"]) == 9 and started["user_code"][4] == "-"

    pending = _poll(ext, started["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    fast = _poll(ext, started["device_code"])
    assert fast.json()["error"] == "slow_down"

    done = _approve(consumer, started["user_code"])
    assert done.status_code == 200 and "paired" in done.text
    r = _poll(ext, started["device_code"])
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["scope"] == "gestures:write signals:read:self" and tokens["expires_in"] == 600
    assert _poll(ext, started["device_code"]).json()["error"] == "invalid_grant"  # exchanged once only

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = ext.post("/v1/gestures", json={"events": [_gesture()]}, headers=bearer)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert ext.get("/v1/me/export", headers=bearer).status_code == 403  # only the two device scopes

    r = ext.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": EXT}
    )
    assert r.status_code == 200, r.text
    tokens = r.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    devices = consumer.get("/v1/me/devices").json()
    assert len(devices) == 1 and devices[0]["name"] == "Browser extension" and devices[0]["revoked_at"] is None
    page = consumer.get("/grants")
    assert page.status_code == 200 and f"device-{devices[0]['id']}" in page.text
    unpair = next(f for f in forms(page.text) if f["action"] == f"/devices/{devices[0]['id']}/revoke")
    asked = post_form(consumer, unpair["action"], submit_values(unpair))
    assert asked.status_code == 200 and "Unpair this device?" in asked.text  # unpairing asks first
    confirm = next(f for f in forms(asked.text) if f["action"] == unpair["action"])
    assert post_form(consumer, confirm["action"], submit_values(confirm)).status_code == 303

    r = ext.post("/v1/gestures", json={"events": [_gesture()]}, headers=bearer)
    assert r.status_code == 401  # at once, not when the JWT expires
    r = ext.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": EXT}
    )
    assert r.json()["error"] == "invalid_grant"
    assert consumer.get("/v1/me/devices").json()[0]["revoked_at"] is not None


def test_consumer_can_deny_and_unknown_codes_fail(live_server: LiveServer) -> None:
    ext = browser(live_server.url)
    consumer = consumer_browser(live_server.url)
    started = _start(ext)
    r = _approve(consumer, started["user_code"], "deny")
    assert r.status_code == 200 and "declined" in r.text
    assert _poll(ext, started["device_code"]).json()["error"] == "access_denied"
    page = consumer.get("/device", params={"user_code": "BCDF-GHJK"})
    assert "unknown or expired" in page.text
    form = next(f for f in forms(page.text) if f["action"] == "/device")
    assert post_form(consumer, "/device", submit_values(form)).status_code == 400


def test_device_approval_needs_login_and_csrf(live_server: LiveServer) -> None:
    ext = browser(live_server.url)
    started = _start(ext)
    anon = browser(live_server.url)
    r = anon.get("/device", params={"user_code": started["user_code"]})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fdevice")
    consumer = consumer_browser(live_server.url)
    r = post_form(consumer, "/device", [("user_code", started["user_code"]), ("action", "approve")])
    assert r.status_code == 403
    assert _poll(ext, started["device_code"]).json()["error"] == "authorization_pending"


def test_only_the_extension_may_use_the_device_grant(live_server: LiveServer, ctx: VaultContext) -> None:
    from .test_oauth_support import approved_vendor, basic

    http = browser(live_server.url)
    vendor = approved_vendor(http, ctx)
    r = http.post("/oauth/device_authorization", data={"scope": "gestures:write"}, auth=basic(vendor))
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = http.post("/oauth/device_authorization", data={"client_id": EXT, "scope": "signals:read"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = http.post("/oauth/device_authorization", data={"client_id": "nobody"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a.example", "client_id": EXT},
    )
    assert r.json()["error"] == "unauthorized_client"


def test_extension_can_revoke_its_own_tokens(live_server: LiveServer) -> None:
    ext = browser(live_server.url)
    consumer = consumer_browser(live_server.url)
    started = _start(ext)
    _approve(consumer, started["user_code"])
    tokens = _poll(ext, started["device_code"]).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert ext.post("/v1/gestures", json={"events": [_gesture()]}, headers=bearer).status_code == 200
    r = ext.post("/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": EXT})
    assert r.status_code == 200
    assert ext.post("/v1/gestures", json={"events": [_gesture()]}, headers=bearer).status_code == 401
    assert ext.post("/oauth/introspect", data={"token": tokens["access_token"], "client_id": EXT}).status_code == 401


def _pair(live_server: LiveServer, consumer: httpx.Client, scope: str) -> tuple[httpx.Client, dict[str, str]]:
    ext = browser(live_server.url)
    r = ext.post("/oauth/device_authorization", data={"client_id": EXT, "scope": scope})
    assert r.status_code == 200, r.text
    _approve(consumer, r.json()["user_code"])
    tokens = _poll(ext, r.json()["device_code"]).json()
    assert tokens["scope"] == scope
    return ext, {"Authorization": f"Bearer {tokens['access_token']}"}


def test_the_extension_chooses_the_consumers_terms_with_its_own_narrow_scope(live_server: LiveServer) -> None:
    consumer = consumer_browser(live_server.url)
    ext, bearer = _pair(live_server, consumer, "gestures:write signals:read:self terms:self")
    choices = ext.get("/v1/me/terms", headers=bearer).json()
    assert choices["default"] == "cc-sd-offers" and choices["vendors"] == {}
    assert isinstance(choices["vendor_apps"], list)
    r = ext.put("/v1/me/terms", json={"agreement_id": "cc-sd-base"}, headers=bearer)
    assert r.status_code == 200 and r.json()["default"] == "cc-sd-base"
    assert ext.get("/v1/me/terms", headers=bearer).json()["default"] == "cc-sd-base"
    # terms:self opens the consumer's terms and nothing more of the account
    assert ext.get("/v1/me/export", headers=bearer).status_code == 403
    bad = ext.put("/v1/me/terms", json={"agreement_id": "nope"}, headers=bearer)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")

    older, without = _pair(live_server, consumer, "gestures:write signals:read:self")  # a pairing made before the scope
    denied = older.get("/v1/me/terms", headers=without)
    assert denied.status_code == 403 and "terms:self" in denied.json()["detail"]
    assert older.put("/v1/me/terms", json={"agreement_id": "cc-sd-offers"}, headers=without).status_code == 403
    assert ext.get("/v1/me/terms", headers=bearer).json()["default"] == "cc-sd-base"
