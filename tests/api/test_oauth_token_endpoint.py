"""``POST /oauth/token`` is answered by a pure-ASGI handler in front of the router (``oauth/token.py``,
``TokenEndpoint``; issue 12). A client sees the route's answers: the same RFC 6749 JSON for every refusal, the
same problem details for what is not an OAuth error, the same headers, request id and access log line, and the
endpoint is still in the OpenAPI document."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from authlib.jose import JsonWebKey, JsonWebToken
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from sqlalchemy.exc import OperationalError

from vault_server.app import JWKS_REBUILD_SECONDS, create_app
from vault_server.context import VaultContext
from vault_server.crypto.signing import rotate_signing_key
from vault_server.db import Database
from vault_server.oauth import token, tokens
from vault_server.oauth.token import TokenEndpoint

from ..conftest import log_in, sign_up
from .test_oauth_support import approve_consent, approved_vendor, authorize_params, basic, pkce_pair

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
COMPARED_HEADERS = ("content-type", "cache-control", "pragma", "www-authenticate", "retry-after")


def _route_only(ctx: VaultContext) -> FastAPI:
    """The app without the ASGI handler: the token request goes through FastAPI's route in oauth/views.py."""
    app = create_app(ctx=ctx)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not TokenEndpoint]
    return app


@pytest.fixture
def both(app: FastAPI, ctx: VaultContext) -> Iterator[tuple[TestClient, TestClient]]:
    with (
        TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as fast,
        TestClient(_route_only(ctx), base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as routed,
    ):
        yield fast, routed


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert fast.json() == routed.json() or _same_problem(fast.json(), routed.json())
    for name in COMPARED_HEADERS:
        assert fast.headers.get(name) == routed.headers.get(name), name
    assert fast.headers["x-request-id"]
    if fast.status_code < 500:  # a crash is answered by the server-error middleware, outside the header middleware
        assert fast.headers["x-content-type-options"] == "nosniff"


def _same_problem(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Problems name their request id in the 500 detail: compare everything else."""
    return {k: v for k, v in a.items() if k != "detail"} == {k: v for k, v in b.items() if k != "detail"}


def _cases(vendor: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    many = "&".join(f"f{i}=1" for i in range(1001))
    return [
        ("JSON instead of a form", {"json": {"grant_type": "refresh_token"}, "auth": basic(vendor)}),
        ("no content type", {"content": b"grant_type=refresh_token", "auth": basic(vendor)}),
        ("repeated parameter", {"content": b"grant_type=a&grant_type=a", "headers": FORM, "auth": basic(vendor)}),
        ("unsupported grant", {"data": {"grant_type": "password"}, "auth": basic(vendor)}),
        ("no client authentication", {"data": {"grant_type": "refresh_token", "refresh_token": "x"}}),
        ("malformed Basic", {"data": {"grant_type": "refresh_token"}, "headers": {"Authorization": "Basic !!!"}}),
        ("wrong secret", {"data": {"grant_type": "refresh_token"}, "auth": (vendor["client_id"], "nope")}),
        (
            "client_secret_post",
            {"data": {"grant_type": "refresh_token", "client_id": vendor["client_id"], "client_secret": "s"}},
        ),
        (
            "unknown refresh token",
            {"data": {"grant_type": "refresh_token", "refresh_token": "ivr_x"}, "auth": basic(vendor)},
        ),
        ("unknown code", {"data": {"grant_type": "authorization_code", "code": "c"}, "auth": basic(vendor)}),
        ("too many fields", {"content": many.encode(), "headers": FORM, "auth": basic(vendor)}),
    ]


def test_every_refusal_is_the_route_s_answer(both: tuple[TestClient, TestClient], ctx: VaultContext) -> None:
    fast, routed = both
    vendor = approved_vendor(fast, ctx)
    for name, request in _cases(vendor):
        a, b = fast.post("/oauth/token", **request), routed.post("/oauth/token", **request)
        assert a.status_code < 500, (name, a.text)
        _same(a, b)
    # another method is the router's 405 problem, as before
    _same(fast.get("/oauth/token"), routed.get("/oauth/token"))
    # past the brute-force limit both answer 429 slow_down with Retry-After
    for i in range(ctx.settings.oauth_max_failures):
        fast.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": f"g{i}"}, auth=basic(vendor))
    limited = {"data": {"grant_type": "refresh_token", "refresh_token": "last"}, "auth": basic(vendor)}
    a, b = fast.post("/oauth/token", **limited), routed.post("/oauth/token", **limited)
    assert a.status_code == 429 and a.json()["error"] == "slow_down"
    _same(a, b)


@pytest.mark.parametrize("fault", ["database", "crash"])
def test_what_is_not_an_oauth_error_is_the_route_s_problem(
    both: tuple[TestClient, TestClient], ctx: VaultContext, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    fast, routed = both
    vendor = approved_vendor(fast, ctx)
    if fault == "database":

        @contextmanager
        def down(_self: Database) -> Iterator[Any]:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"), connection_invalidated=True)
            yield  # pragma: no cover

        monkeypatch.setattr(Database, "session", down)
    else:

        def crash(**_kw: Any) -> dict[str, Any]:
            raise RuntimeError("boom")

        monkeypatch.setitem(token.GRANTS, "refresh_token", crash)
    request = {"data": {"grant_type": "refresh_token", "refresh_token": "ivr_x"}, "auth": basic(vendor)}
    a, b = fast.post("/oauth/token", **request), routed.post("/oauth/token", **request)
    assert a.status_code == (503 if fault == "database" else 500)
    assert a.headers["content-type"].startswith("application/problem+json")
    _same(a, b)


def test_an_issued_token_response_has_the_route_s_headers_and_an_access_log_line(
    client: TestClient, ctx: VaultContext, caplog: pytest.LogCaptureFixture
) -> None:
    client.follow_redirects = False  # the consent's redirect back to the vendor is read, not followed
    vendor = approved_vendor(client, ctx)
    sign_up(client, "dana@example.com")
    log_in(client, "dana@example.com")
    verifier, challenge = pkce_pair()
    code = approve_consent(client, authorize_params(vendor["client_id"], challenge))["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": authorize_params("", None)["redirect_uri"],
    }
    with caplog.at_level(logging.INFO, logger="vault.access"):
        r = client.post("/oauth/token", data={**form, "code_verifier": verifier}, auth=basic(vendor))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    assert r.headers["x-request-id"] and r.headers["x-content-type-options"] == "nosniff"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("ivr_") and body["expires_in"] == 600
    lines = [rec for rec in caplog.records if rec.name == "vault.access" and getattr(rec, "path", "") == "/oauth/token"]
    assert [getattr(rec, "status", None) for rec in lines] == [200]
    # the refresh token it returned rotates through the same handler
    again = client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=basic(vendor)
    )
    assert again.status_code == 200 and again.json()["refresh_token"] != body["refresh_token"]


def test_the_token_endpoint_stays_in_the_openapi_document(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/oauth/token"]["post"]
    assert "Token endpoint" in operation["summary"]


# ---- the RFC 9068 access token, signed without joserfc ---------------------------------------------------------
def _jwks(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/.well-known/jwks.json").json())


def _verify_everywhere(access: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The token verifies with joserfc and authlib against the published JWKS; returns its header."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags EdDSA as superseded by Ed25519 (RFC 9864)
        decoded = jwt.decode(access, jwk.KeySet.import_key_set(jwks), algorithms=["EdDSA"])
        claims = JsonWebToken(["EdDSA"]).decode(access, JsonWebKey.import_key_set(jwks))
    assert claims["fid"] == decoded.claims["fid"] and claims["exp"] - claims["iat"] == 600
    return dict(decoded.header)


def test_an_access_token_verifies_with_joserfc_and_authlib_and_names_the_signing_key(
    client: TestClient, ctx: VaultContext
) -> None:
    family = tokens.Family("f1", "vendor", "c1", "a1", "g1", "signals:read", [{"type": "x", "name": "Ü"}])
    access = tokens._access_token(
        ctx, family, subject="ps_x", scope="signals:read", details=family.authorization_details
    )
    header = _verify_everywhere(access, _jwks(client))
    assert header == {"alg": "EdDSA", "kid": ctx.keyset.kid, "typ": "at+jwt"}
    claims = tokens.decode_access(ctx, access)  # the vault's own resource server accepts it
    assert claims is not None and claims["authorization_details"] == [{"type": "x", "name": "Ü"}]
    assert claims["iss"] == tokens.issuer(ctx) and claims["aud"] == tokens.audience(ctx)


def test_after_a_rotation_access_tokens_are_signed_with_the_new_key(client: TestClient, ctx: VaultContext) -> None:
    family = tokens.Family("f1", "vendor", "c1", "a1", "g1", "signals:read", [])
    old = ctx.keyset.kid
    with ctx.db.session() as s:  # a compromised key: the next one signs at once
        new, _, _ = rotate_signing_key(session=s, ring=ctx.ring, delay=timedelta(0))
    ctx.reload_keyset()
    access = tokens._access_token(ctx, family, subject="ps_x", scope="signals:read", details=[])
    time.sleep(JWKS_REBUILD_SECONDS + 0.1)  # the JWKS document is rebuilt every 2 s
    jwks = _jwks(client)
    assert {old, new} <= {k["kid"] for k in jwks["keys"]}
    assert _verify_everywhere(access, jwks)["kid"] == new != old
