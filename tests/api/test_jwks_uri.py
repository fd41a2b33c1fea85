"""A vendor app that publishes its keys at a ``jwks_uri`` (RFC 7591 §2) instead of registering them inline: the
vault fetches them through the SSRF guard, signs in with them (private_key_jwt) and verifies agreement
countersignatures with them, keeping the keys that verified each countersignature with the record."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from joserfc.jwk import OKPKey

from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.terms.service import verify_download
from vault_server.vendors import keys as vendor_keys

from ..conftest import LiveServer
from .test_oauth_support import (
    approve,
    approve_consent,
    authorize_params,
    browser,
    consumer_browser,
    pkce_pair,
    register_vendor,
)
from .test_terms import DETAILS, SCOPE, _countersign

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class KeyServer:
    """A loopback HTTP server publishing a JWK Set at /jwks.json (what a vendor's site would serve)."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/jwk-set+json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, *keys: dict[str, Any]) -> None:
        self.document = {"keys": list(keys)}


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})  # the key server is on loopback


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.server.shutdown()


def _assertion(client_id: str, key: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://127.0.0.1:8000/oauth/introspect",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode({"alg": "EdDSA", "kid": key.kid}, claims, key, algorithms=["EdDSA"])


def _introspect(client: TestClient, client_id: str, key: Any) -> int:
    data = {"token": "x", "client_assertion_type": ASSERTION_TYPE, "client_assertion": _assertion(client_id, key)}
    return client.post("/oauth/introspect", data=data).status_code


def test_private_key_jwt_with_keys_at_a_jwks_uri(client: TestClient, ctx: VaultContext, key_server: KeyServer) -> None:
    key = jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "site-1"})
    key_server.publish(key.as_dict(private=False))
    r = client.post(
        "/oauth/register",
        json={
            "client_name": "Keys At Home",
            "redirect_uris": ["https://keys.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": key_server.url,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["jwks_uri"] == key_server.url and "jwks" not in r.json() and "client_secret" not in r.json()
    client_id = r.json()["client_id"]
    approve(ctx, client_id)
    vendor_keys.forget(client_id)
    assert _introspect(client, client_id, key) == 200
    assert _introspect(client, client_id, key) == 200 and key_server.hits == 1  # fetched once, then cached
    stranger = jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "site-1"})
    assert _introspect(client, client_id, stranger) == 401


def test_jwks_uri_is_refused_with_inline_keys_and_never_fetched_from_private_addresses(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "k"})
    both = client.post(
        "/oauth/register",
        json={
            "client_name": "Both",
            "redirect_uris": ["https://both.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=False)]},
            "jwks_uri": "https://both.example/jwks.json",
        },
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_client_metadata"
    for uri in ("http://169.254.169.254/latest/meta-data/keys.json", "https://10.0.0.7/jwks.json"):
        r = client.post(
            "/oauth/register",
            json={
                "client_name": "Inside",
                "redirect_uris": ["https://inside.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": uri,
            },
        )
        assert r.status_code == 201, r.text  # a URI is only data until the vault fetches it ...
        approve(ctx, r.json()["client_id"])
        assert _introspect(client, r.json()["client_id"], key) == 401  # ... and the fetch is refused
    with pytest.raises(vendor_keys.KeysUnavailable, match=r"metadata|link-local"):
        vendor_keys.fetch_jwks("http://169.254.169.254/keys", allow_private=True)


def test_a_countersignature_by_a_key_at_the_jwks_uri_verifies_and_is_kept(
    live_server: LiveServer, ctx: VaultContext, key_server: KeyServer
) -> None:
    private = Ed25519PrivateKey.generate()
    public = OKPKey.import_key(private.public_key()).as_dict(private=False)  # type: ignore[arg-type]
    key_server.publish({**public, "kid": "vendor-1", "use": "sig", "alg": "EdDSA"})
    http = browser(live_server.url)
    vendor = register_vendor(http, jwks_uri=key_server.url, accepted_agreements=["cc-sd-offers"])
    approve(ctx, vendor["client_id"])
    consumer = consumer_browser(live_server.url)
    approve_consent(consumer, authorize_params(vendor["client_id"], pkce_pair()[1], scope=SCOPE, details=DETAILS))
    auth = (vendor["client_id"], vendor["client_secret"])
    [pending] = http.get("/v1/terms/records", params={"pending": "true"}, auth=auth).json()["records"]
    record_id = pending["record"]["recordId"]
    signed = http.post(
        f"/v1/terms/records/{record_id}/countersign", json={"jws": _countersign(pending["record"], private)}, auth=auth
    )
    assert signed.status_code == 200, signed.text
    key_server.publish()  # the vendor rotates its keys away: the record keeps the keys that verified it
    vendor_keys.forget(vendor["client_id"])
    [mine] = consumer.get("/v1/me/agreements").json()["records"]
    assert mine["countersigned"] is True and mine["vendor_jwks"]["keys"][0]["kid"] == "vendor-1"
    assert verify_download(mine)["recordId"] == record_id
