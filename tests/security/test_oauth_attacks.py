"""Attacks on the authorization server that the rooms' own negative tests do not already pin: PKCE bypass at the
token endpoint, authorization-code injection (RFC 9700 §4.5) and parallel replay, redirect URI variations (path
traversal, encodings, userinfo, fragments), brute force on the client-authenticating endpoints, and forged JWTs
(``alg: none``, HS256 keyed with a public key, a foreign key under the vault's ``kid``) on every token the vault
verifies: its own access tokens and vendors' ``private_key_jwt`` client assertions.

Each test fails if the attack works."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwk, jwt

from vault_server.context import VaultContext

from ..api.test_oauth_support import (
    REDIRECT,
    approve,
    approve_consent,
    approved_vendor,
    authorize_params,
    basic,
    browser,
    consent_page,
    consumer_browser,
    exchange,
    pkce_pair,
    register_vendor,
)
from ..conftest import LiveServer


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    return live_server


@pytest.fixture
def vendor_http(server: LiveServer) -> httpx.Client:
    return browser(server.url)


@pytest.fixture
def vendor(vendor_http: httpx.Client, ctx: VaultContext) -> dict[str, Any]:
    return approved_vendor(vendor_http, ctx)


@pytest.fixture
def consumer(server: LiveServer) -> httpx.Client:
    return consumer_browser(server.url)


def _code(consumer: httpx.Client, vendor: dict[str, Any], **kw: Any) -> tuple[str, str, str]:
    """A fresh authorization code for ``vendor``; returns (code, verifier, challenge)."""
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge, **kw))["code"][0]
    return code, verifier, challenge


def _signals_url(ctx: VaultContext, access_token: str) -> str:
    return f"/v1/subjects/{ctx.keyset.decode_jwt(access_token).claims['sub']}/signals"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = _unsigned({**header, "alg": "HS256"}, claims)
    return signing_input + "." + _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def _public_key_forms(public_jwk: dict[str, Any]) -> list[bytes]:
    """Every form a confused verifier might use as an HMAC secret: raw key, JWK JSON, PEM, DER."""
    key = jwk.import_key(public_jwk)
    raw = base64.urlsafe_b64decode(public_jwk["x"] + "=" * (-len(public_jwk["x"]) % 4))
    pem = key.as_pem(private=False)
    der = serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return [raw, json.dumps(public_jwk).encode(), pem, der, public_jwk["x"].encode()]


# ---- PKCE bypass at the token endpoint ----------------------------------------------------------------------
@pytest.mark.parametrize("attempt", ["plain", "missing", "wrong", "empty"])
def test_pkce_cannot_be_bypassed_at_the_token_endpoint(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], attempt: str
) -> None:
    """An attacker holding a code (stolen from a log or the browser history) but not the verifier: sending the
    challenge itself (what ``plain`` would accept), no verifier or a guessed one gets ``invalid_grant``, and the
    code is burned: the legitimate client cannot be raced into a second try either."""
    code, verifier, challenge = _code(consumer, vendor)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if attempt != "missing":
        form["code_verifier"] = {"plain": challenge, "wrong": pkce_pair()[0], "empty": ""}[attempt]
    r = vendor_http.post("/oauth/token", data=form, auth=basic(vendor))
    assert r.status_code == 400 and r.json()["error"] in {"invalid_grant", "invalid_request"}, r.text
    assert "access_token" not in r.json()
    assert exchange(vendor_http, vendor, code, verifier).json()["error"] == "invalid_grant"


# ---- authorization code injection ---------------------------------------------------------------------------
def test_an_injected_code_is_useless_without_its_own_verifier(
    vendor_http: httpx.Client, server: LiveServer, vendor: dict[str, Any]
) -> None:
    """RFC 9700 §4.5: the attacker obtains a code for their own account and injects it into the victim's session
    with the same client; the client redeems it with the victim's PKCE verifier and gets nothing."""
    attacker = consumer_browser(server.url, "mallory@example.com", "Mallory")
    injected, _attacker_verifier, _ = _code(attacker, vendor)
    victim_verifier, _victim_challenge = pkce_pair()  # the victim's session started its own authorization request
    r = exchange(vendor_http, vendor, injected, victim_verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_code_bound_to_one_redirect_uri_is_refused_at_another(
    vendor_http: httpx.Client, consumer: httpx.Client, ctx: VaultContext
) -> None:
    other_uri = "https://shop.example/other-callback"
    vendor = approved_vendor(vendor_http, ctx, redirect_uris=[REDIRECT, other_uri])
    code, verifier, _ = _code(consumer, vendor)
    assert exchange(vendor_http, vendor, code, verifier, redirect_uri=other_uri).json()["error"] == "invalid_grant"
    code, verifier, _ = _code(consumer, vendor)
    r = vendor_http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
        auth=basic(vendor),
    )  # RFC 6749 §4.1.3: redirect_uri was in the request, so it is required here
    assert r.status_code == 400 and "access_token" not in r.json()


def test_a_code_of_another_client_gives_nothing_and_leaves_no_trace(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    thief = approved_vendor(vendor_http, ctx, name="Thief Shop")
    code, verifier, _ = _code(consumer, vendor)
    r = exchange(vendor_http, thief, code, verifier)  # the thief even has the verifier
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = vendor_http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=basic(thief))
    assert "access_token" not in r.json()
    assert [g["vendor"]["name"] for g in consumer.get("/v1/grants").json()] == ["Shop Example"]


def test_a_code_replayed_in_parallel_issues_at_most_once_and_then_nothing_works(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], server: LiveServer, ctx: VaultContext
) -> None:
    code, verifier, _ = _code(consumer, vendor)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def redeem() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            r = exchange(http, vendor, code, verifier)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r.json() for r in results if r.status_code == 200]
    assert len(won) <= 1, "a code was redeemed more than once"
    assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code != 200)
    if won:  # the replay revoked what the first redemption issued
        tokens = won[0]
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert vendor_http.get(_signals_url(ctx, tokens["access_token"]), headers=bearer).status_code == 401
        r = vendor_http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=basic(vendor),
        )
        assert r.json()["error"] == "invalid_grant"
        r = vendor_http.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(vendor))
        assert r.json() == {"active": False}


# ---- open redirect via redirect_uri variations --------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "https://shop.example/callback/../evil",  # path traversal
        "https://shop.example/evil/../callback",  # normalises to the registered one: still not the same string
        "https://shop.example/callback/%2e%2e/evil",  # encoded traversal
        "https://shop.example/callback%2F..%2Fevil",
        "https://shop.example/./callback",
        "https://shop.example//callback",
        "https://shop.example/callback%00",  # NUL
        "https://shop.example/callback%0d%0aLocation:%20https://evil.example",  # header injection
        "https://shop.example/callback\t",
        " https://shop.example/callback",
        "https://shop.example/callback?",  # empty query
        "https://shop.example/callback#",  # empty fragment
        "https://shop.example/callback#@evil.example",
        "https://shop.example@evil.example/callback",  # userinfo: the host is evil.example
        "https://evil.example@shop.example/callback",  # userinfo on the right host
        "https://evil.example#@shop.example/callback",
        "https://evil.example\\@shop.example/callback",  # backslash confusion
        "https://shop.example\\.evil.example/callback",
        "https://shop.example./callback",  # trailing dot
        "https://SHOP.EXAMPLE/CALLBACK",
        "https://shop.example/CALLBACK",
        "https://shop.example:8443/callback",
        "https://xn--shp-sna.example/callback",  # punycode look-alike
        "http://shop.example/callback",  # scheme downgrade
        "javascript:alert(1)//https://shop.example/callback",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_redirect_uri_variations_never_redirect(consumer: httpx.Client, vendor: dict[str, Any], uri: str) -> None:
    _, challenge = pkce_pair()
    r = consent_page(consumer, authorize_params(vendor["client_id"], challenge, redirect_uri=uri))
    assert r.status_code == 400, (uri, r.status_code)
    assert "location" not in r.headers  # an error page, never a redirect anywhere


# ---- brute force on the client-authenticating endpoints -----------------------------------------------------
def test_guessing_client_secrets_or_codes_is_rate_limited(
    vendor_http: httpx.Client, vendor: dict[str, Any], ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault_server.vendors import service as vendors

    compared: list[tuple[str, str]] = []
    real = vendors.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(vendors.hmac, "compare_digest", spy)
    limit = ctx.settings.oauth_max_failures
    form = {"grant_type": "authorization_code", "code": "guess", "redirect_uri": REDIRECT, "code_verifier": "v" * 43}
    for i in range(limit):
        endpoint = ("/oauth/token", "/oauth/introspect", "/oauth/revoke")[i % 3]
        r = vendor_http.post(endpoint, data={**form, "token": "t"}, auth=(vendor["client_id"], f"guess-{i}"))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert compared, "secrets are compared with hmac.compare_digest (constant time)"
    # past the limit, even the right secret is refused from this address: the oracle is closed
    r = vendor_http.post("/oauth/token", data=form, auth=basic(vendor))
    assert r.status_code == 429 and r.json()["error"] == "slow_down"
    assert int(r.headers["retry-after"]) > 0 and r.headers["cache-control"] == "no-store"


def test_guessing_codes_with_a_valid_client_is_rate_limited(
    vendor_http: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    for i in range(ctx.settings.oauth_max_failures):
        r = vendor_http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": f"ivrt_guess{i}"},
            auth=basic(vendor),
        )
        assert r.json()["error"] == "invalid_grant"
    r = vendor_http.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "ivrt_last"}, auth=basic(vendor)
    )
    assert r.status_code == 429 and "retry-after" in r.headers


# ---- forged JWTs ----------------------------------------------------------------------------------------------
def _forgeries(token: str, vault_jwks: dict[str, Any]) -> list[tuple[str, str]]:
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    claims = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    claims["scope"] = claims.get("scope", "") + " admin"
    out = [
        ("alg none", _unsigned({**header, "alg": "none"}, claims) + "."),
        ("alg None", _unsigned({**header, "alg": "None"}, claims) + "."),
        ("no signature", _unsigned(header, claims) + "."),
        ("original signature, changed claims", _unsigned(header, claims) + "." + token.split(".")[2]),
    ]
    public = next(k for k in vault_jwks["keys"] if k.get("kid") == header.get("kid"))
    for i, secret in enumerate(_public_key_forms(public)):
        out.append((f"HS256 keyed with the public key (form {i})", _hs256(header, claims, secret)))
    foreign = jwk.OKPKey.generate_key("Ed25519")
    out.append(("foreign Ed25519 key under the vault's kid", jwt.encode(header, claims, foreign, algorithms=["EdDSA"])))
    embedded = {**header, "jwk": foreign.as_dict(private=False)}
    out.append(("embedded jwk header", jwt.encode(embedded, claims, foreign, algorithms=["EdDSA"])))
    return out


def test_forged_access_tokens_are_refused(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    code, verifier, _ = _code(consumer, vendor)
    token = exchange(vendor_http, vendor, code, verifier).json()["access_token"]
    url = _signals_url(ctx, token)
    assert vendor_http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    jwks = vendor_http.get("/.well-known/jwks.json").json()
    for name, forged in _forgeries(token, jwks):
        r = vendor_http.get(url, headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, name
        r = vendor_http.post("/oauth/introspect", data={"token": forged}, auth=basic(vendor))
        assert r.json() == {"active": False}, name


def test_forged_client_assertions_are_refused(vendor_http: httpx.Client, ctx: VaultContext, server: LiveServer) -> None:
    key = jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})
    public = key.as_dict(private=False)
    vendor = register_vendor(vendor_http, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]})
    approve(ctx, vendor["client_id"])
    now = int(time.time())

    def claims() -> dict[str, Any]:
        return {
            "iss": vendor["client_id"],
            "sub": vendor["client_id"],
            "aud": ctx.settings.base_url,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        }

    header = {"alg": "EdDSA", "kid": "k1"}
    forged = [("alg none", _unsigned({**header, "alg": "none"}, claims()) + ".")]
    forged += [
        (f"HS256 with the public key ({i})", _hs256(header, claims(), s))
        for i, s in enumerate(_public_key_forms(public))
    ]
    foreign = jwk.OKPKey.generate_key("Ed25519")
    forged.append(("foreign key", jwt.encode(header, claims(), foreign, algorithms=["EdDSA"])))
    forged.append(
        (
            "embedded jwk",
            jwt.encode({**header, "jwk": foreign.as_dict(private=False)}, claims(), foreign, algorithms=["EdDSA"]),
        )
    )
    assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    for name, assertion in forged:
        r = vendor_http.post(
            "/oauth/introspect",
            data={"token": "t", "client_assertion_type": assertion_type, "client_assertion": assertion},
        )
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", name
    genuine = jwt.encode(header, claims(), key, algorithms=["EdDSA"])
    r = vendor_http.post(
        "/oauth/introspect", data={"token": "t", "client_assertion_type": assertion_type, "client_assertion": genuine}
    )
    assert r.status_code == 200, "the control: a genuine assertion passes"
