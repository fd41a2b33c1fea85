"""The whole vendor flow over a real uvicorn server: register -> approve -> authorize (consent posted as a
browser would, narrowed) -> token -> read signals -> refresh -> revoke -> next call 401."""

from __future__ import annotations

from typing import Any

import httpx

from vault_server.context import VaultContext

from ..conftest import LiveServer
from .test_oauth_support import (
    REDIRECT,
    approve,
    approve_consent,
    authorize_params,
    basic,
    browser,
    consent_form,
    consent_page,
    consumer_browser,
    exchange,
    pkce_pair,
    record_gestures,
    register_vendor,
)


def _personal_token(http: httpx.Client) -> str:
    csrf = http.get("/v1/me/csrf").json()["csrf_token"]
    r = http.post(
        "/v1/me/tokens",
        json={"name": "ext", "scopes": ["gestures:write", "signals:read:self"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_full_vendor_flow(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http = browser(live_server.url)
    vendor = register_vendor(vendor_http)
    assert vendor["status"] == "pending" and vendor["client_secret"].startswith("ivcs_")

    consumer = consumer_browser(live_server.url)
    record_gestures(consumer, _personal_token(consumer))
    verifier, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge)

    # pending vendors cannot even show a consent screen
    pending = consent_page(consumer, params)
    assert pending.status_code == 400 and "not approved" in pending.text
    approve(ctx, vendor["client_id"])

    page = consent_page(consumer, params)
    assert page.status_code == 200
    assert "Shop Example" in page.text and "https://shop.example" in page.text
    assert "Send you offers on TVs and headphones" in page.text
    assert "Samsung" in page.text  # preview from the consumer's own signals
    controls = {(c.get("name"), c.get("value")): c for c in consent_form(page)["controls"]}
    assert controls[("d0.cat", "electronics.tv")]["checked"]
    assert not controls[("d0.cat", "health.hearing")]["checked"]  # sensitive: never pre-ticked
    assert not controls[("identity", "name")]["checked"] and not controls[("identity", "email")]["checked"]

    # narrow: drop headphones and brands; keep the rest as shown
    query = approve_consent(consumer, params, uncheck={("d0.cat", "electronics.headphones"), ("d0.field", "brand")})
    assert query["state"] == ["st-123"] and query["iss"] == ["http://127.0.0.1:8000"]
    code = query["code"][0]

    r = exchange(vendor_http, vendor, code, verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    assert tokens["scope"] == "signals:read"
    granted = tokens["authorization_details"][0]
    assert granted["categories"] == ["electronics.tv"]
    assert granted["fields"] == ["stage", "score", "price_band"]

    # the access token is an RFC 9068 JWT signed with the published key set
    header_claims = ctx.keyset.decode_jwt(tokens["access_token"])
    assert header_claims.header["typ"] == "at+jwt" and header_claims.header["alg"] == "EdDSA"
    claims = header_claims.claims
    assert claims["client_id"] == vendor["client_id"] and claims["sub"].startswith("ps_")
    assert claims["exp"] - claims["iat"] == 600
    sub = claims["sub"]

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    read = vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer)
    assert read.status_code == 200, read.text
    signals = read.json()["signals"]
    assert [s["category"] for s in signals] == ["electronics.tv"]
    assert set(signals[0]) == {"category", "category_name", "stage", "score", "price_band"}
    assert "brands" not in signals[0]

    # identity was not revealed: the identity endpoint and the consumer's own endpoints refuse the vendor
    assert vendor_http.get(f"/v1/subjects/{sub}/identity", headers=bearer).status_code == 403
    assert vendor_http.get("/v1/me", headers=bearer).status_code == 401
    assert "dana@example.com" not in read.text

    # refresh rotates; the new access token works
    r = vendor_http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=basic(vendor),
    )
    assert r.status_code == 200, r.text
    refreshed = r.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 200

    # the consumer sees the grant and revokes it; the very next call fails (before the JWT expires)
    listed = consumer.get("/v1/grants").json()
    assert len(listed) == 1 and listed[0]["state"] == "live"
    assert listed[0]["requested"]["authorization_details"][0]["categories"] == [
        "electronics.tv",
        "electronics.headphones",
        "health.hearing",
    ]
    csrf = consumer.get("/v1/me/csrf").json()["csrf_token"]
    revoked = consumer.delete(f"/v1/grants/{listed[0]['id']}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    after = vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer)
    assert after.status_code == 401
    assert after.headers["www-authenticate"].startswith("Bearer")
    r = vendor_http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=basic(vendor),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_vendor_revocation_endpoint_ends_access_at_once(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http = browser(live_server.url)
    vendor = register_vendor(vendor_http)
    approve(ctx, vendor["client_id"])
    consumer = consumer_browser(live_server.url)
    verifier, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge)
    code = approve_consent(consumer, params)["code"][0]
    tokens = exchange(vendor_http, vendor, code, verifier).json()
    sub = ctx.keyset.decode_jwt(tokens["access_token"]).claims["sub"]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 200

    intro = vendor_http.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(vendor)).json()
    assert intro["active"] is True and intro["sub"] == sub and intro["authorization_details"]

    r = vendor_http.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}, auth=basic(vendor)
    )
    assert r.status_code == 200
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 401
    intro = vendor_http.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(vendor)).json()
    assert intro == {"active": False}
    # revoking an unknown token is still 200 (RFC 7009 §2.2)
    assert vendor_http.post("/oauth/revoke", data={"token": "nope"}, auth=basic(vendor)).status_code == 200


def test_metadata_advertises_s256_rar_and_endpoints(live_server: LiveServer) -> None:
    meta: dict[str, Any] = httpx.get(live_server.url + "/.well-known/oauth-authorization-server").json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_details_types_supported"] == ["intent_signals"]
    for key in ("revocation_endpoint", "introspection_endpoint", "device_authorization_endpoint", "jwks_uri"):
        assert meta[key].startswith(meta["issuer"])
    assert meta["token_endpoint_auth_methods_supported"][:2] == ["client_secret_basic", "private_key_jwt"]
    assert REDIRECT not in str(meta)
