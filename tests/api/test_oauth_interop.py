"""Interop: authlib's own OAuth 2.0 client (httpx integration, PKCE S256, client_secret_basic and
private_key_jwt) runs the whole flow against the live server; authlib validates our RFC 8414 metadata."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwk

from vault_server.context import VaultContext

from ..conftest import LiveServer
from .test_oauth_support import (
    DETAILS,
    REDIRECT,
    approve,
    consent_form,
    consumer_browser,
    post_form,
    register_vendor,
    submit_values,
)


def _consent(consumer_url: str, consumer: object, authorization_url: str) -> str:
    """The consumer opens authlib's URL in the browser and approves; returns the full redirect back."""
    assert isinstance(consumer, httpx.Client)
    parts = urlsplit(authorization_url)
    page = consumer.get(parts.path + "?" + parts.query)
    assert page.status_code == 200, page.text[:300]
    r = post_form(consumer, "/oauth/authorize", submit_values(consent_form(page), button=("decision", "approve")))
    assert r.status_code == 303
    return str(r.headers["location"])


def test_authlib_client_secret_basic_full_flow(live_server: LiveServer, ctx: VaultContext) -> None:
    base = live_server.url
    meta = AuthorizationServerMetadata(httpx.get(base + "/.well-known/oauth-authorization-server").json())
    meta.validate()  # authlib's own RFC 8414 checks
    vendor = register_vendor(httpx.Client(timeout=20, base_url=base))
    approve(ctx, vendor["client_id"])
    consumer = consumer_browser(base)

    client = OAuth2Client(
        vendor["client_id"],
        vendor["client_secret"],
        scope="signals:read",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        base + "/oauth/authorize", code_verifier=verifier, authorization_details=json.dumps(DETAILS)
    )
    assert "code_challenge_method=S256" in url
    back = _consent(base, consumer, url)
    token = client.fetch_token(base + "/oauth/token", authorization_response=back, code_verifier=verifier, state=state)
    assert token["token_type"] == "Bearer" and token["authorization_details"][0]["type"] == "intent_signals"
    sub = ctx.keyset.decode_jwt(token["access_token"]).claims["sub"]

    r = client.get(base + f"/v1/subjects/{sub}/signals")
    assert r.status_code == 200 and r.json()["sub"] == sub

    old_refresh = token["refresh_token"]
    new = client.refresh_token(base + "/oauth/token")
    assert new["refresh_token"] != old_refresh
    assert client.get(base + f"/v1/subjects/{sub}/signals").status_code == 200

    r = client.revoke_token(base + "/oauth/revoke", token=new["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200
    assert client.get(base + f"/v1/subjects/{sub}/signals").status_code == 401


def test_authlib_private_key_jwt(live_server: LiveServer, ctx: VaultContext) -> None:
    base = live_server.url
    key = jwk.RSAKey.generate_key(2048, parameters={"kid": "vendor-rsa-1"})
    vendor = register_vendor(
        httpx.Client(timeout=20, base_url=base),
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    approve(ctx, vendor["client_id"])
    consumer = consumer_browser(base)
    token_endpoint = base + "/oauth/token"
    client = OAuth2Client(
        vendor["client_id"],
        key.as_pem(private=True),
        scope="signals:read",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method=PrivateKeyJWT(token_endpoint),
    )
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        base + "/oauth/authorize", code_verifier=verifier, authorization_details=json.dumps(DETAILS)
    )
    back = _consent(base, consumer, url)
    token = client.fetch_token(token_endpoint, authorization_response=back, code_verifier=verifier, state=state)
    assert token["access_token"] and token["refresh_token"]
    again = client.refresh_token(token_endpoint)  # a fresh assertion (new jti) each time
    assert again["refresh_token"] != token["refresh_token"]
