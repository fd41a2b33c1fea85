"""private_key_jwt client assertions (RFC 7523 §3): every claim that must hold, checked one at a time."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt

from vault_server.context import VaultContext

from .test_oauth_support import approve

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY = jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})


@pytest.fixture
def client_id(client: TestClient, ctx: VaultContext) -> str:
    r = client.post(
        "/oauth/register",
        json={
            "client_name": "JWT Shop",
            "redirect_uris": ["https://jwt.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [KEY.as_dict(private=False)]},
        },
    )
    assert r.status_code == 201, r.text
    approve(ctx, r.json()["client_id"])
    return str(r.json()["client_id"])


def _claims(client_id: str, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://127.0.0.1:8000/oauth/introspect",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _call(client: TestClient, claims: dict[str, Any], key: Any = KEY, alg: str = "EdDSA") -> int:
    assertion = jwt.encode({"alg": alg}, claims, key, algorithms=[alg])
    r = client.post(
        "/oauth/introspect",
        data={"token": "x", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion},
    )
    return r.status_code


def test_a_good_assertion_authenticates(client: TestClient, client_id: str) -> None:
    assert _call(client, _claims(client_id)) == 200
    assert _call(client, _claims(client_id, aud="http://127.0.0.1:8000")) == 200  # the issuer is fine too


@pytest.mark.parametrize(
    "over",
    [
        {"iss": "someone-else"},
        {"sub": "someone-else"},
        {"aud": "https://other.example/token"},
        {"aud": None},
        {"exp": int(time.time()) - 5},
        {"exp": int(time.time()) + 7200},
        {"exp": None},
        {"jti": None},
    ],
)
def test_bad_claims_are_refused(client: TestClient, client_id: str, over: dict[str, Any]) -> None:
    assert _call(client, _claims(client_id, **over)) == 401


def test_wrong_key_alg_none_and_replay(client: TestClient, client_id: str) -> None:
    assert _call(client, _claims(client_id), key=jwk.OKPKey.generate_key("Ed25519")) == 401
    claims = _claims(client_id)
    assert _call(client, claims) == 200
    assert _call(client, claims) == 401  # same jti again
    hs_key = jwk.OctKey.generate_key(256)
    assert _call(client, _claims(client_id), key=hs_key, alg="HS256") == 401
    signed = jwt.encode({"alg": "EdDSA"}, _claims(client_id), KEY, algorithms=["EdDSA"])
    unsigned = "eyJhbGciOiJub25lIn0." + signed.split(".")[1] + "."
    r = client.post(
        "/oauth/introspect",
        data={"token": "x", "client_assertion_type": ASSERTION_TYPE, "client_assertion": unsigned},
    )
    assert r.status_code == 401
    r = client.post(
        "/oauth/introspect", data={"token": "x", "client_assertion_type": "urn:other", "client_assertion": "a.b.c"}
    )
    assert r.status_code == 401
