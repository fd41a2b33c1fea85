"""No input makes the OAuth endpoints or the grants/vendor API fail: random form fields, credentials, metadata
and authorization requests get a deliberate 4xx (RFC 6749 JSON on /oauth, problem+json on /v1), never a 5xx."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..conftest import fuzz_openapi, personal_token

FIELDS = [
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "authorization_details",
    "device_code", "client_id", "client_secret", "client_assertion_type", "client_assertion", "token",
    "token_type_hint",
]  # fmt: skip
GRANT_TYPES = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "password"]
text = st.text(max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def test_token_revoke_introspect_device_never_fail(client: TestClient) -> None:
    @given(
        form=st.dictionaries(st.sampled_from(FIELDS), text | st.sampled_from(GRANT_TYPES), max_size=6),
        basic=st.none() | st.tuples(text, text),
        path=st.sampled_from(["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/device_authorization"]),
    )
    @FUZZ
    def check(form: dict[str, str], basic: tuple[str, str] | None, path: str) -> None:
        r = client.post(path, data=form, auth=basic)
        assert r.status_code < 500, (path, form, r.text)
        if r.status_code >= 400:
            assert "error" in r.json() and r.headers["cache-control"] == "no-store"

    check()


def test_registration_never_fails(client: TestClient) -> None:
    @given(body=st.dictionaries(st.sampled_from(
        ["client_name", "redirect_uris", "client_uri", "logo_uri", "policy_uri", "contacts", "jwks", "scope",
         "token_endpoint_auth_method", "grant_types", "response_types"]), json_values, max_size=6))  # fmt: skip
    @settings(max_examples=19, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(body: dict[str, Any]) -> None:
        r = client.post("/oauth/register", content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert r.status_code < 500, (body, r.text)

    check()  # 19 examples: the per-address registration limit is 20 an hour


def test_authorize_never_fails(client: TestClient, consumer: dict[str, Any]) -> None:
    keys = ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
            "code_challenge_method", "authorization_details"]  # fmt: skip

    @given(params=st.dictionaries(st.sampled_from(keys), text, max_size=8))
    @FUZZ
    def check(params: dict[str, str]) -> None:
        r = client.get("/oauth/authorize", params=params, follow_redirects=False)
        assert r.status_code < 500, (params, r.text[:300])

    check()


def test_grants_and_vendor_api_never_fail(app: Any, client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["gestures:write", "signals:read:self", "account:read"])
    headers = {"Authorization": f"Bearer {token}"}
    pattern = r"^/v1/(grants|vendor|admin/vendors|me/devices|subjects)"
    fuzz_openapi(app, pattern, headers, min_operations=12, examples=10)


def test_registration_survives_any_nesting_depth(client: TestClient) -> None:
    """Anyone may call /oauth/register without logging in: a body nested thousands deep (arrays or objects, at
    the top or inside a member) is refused with RFC 7591 JSON (or, past the body limit, a 413 problem), never a
    RecursionError 500."""

    @given(depth=st.integers(min_value=1, max_value=60_000), inside=st.booleans(), kind=st.sampled_from("[{"))
    @settings(max_examples=19, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(depth: int, inside: bool, kind: str) -> None:
        opened, closed = ("[" * depth, "]" * depth) if kind == "[" else ('{"a":' * depth + "1", "}" * depth)
        nested = opened + closed
        body = '{"client_name": ' + nested + ', "redirect_uris": ["https://x.example/cb"]}' if inside else nested
        r = client.post("/oauth/register", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code < 500, (depth, inside, kind, r.text[:200])
        if r.status_code == 413:  # past the body limit, refused before any endpoint reads it, like every route
            assert r.headers["content-type"] == "application/problem+json" and r.json()["status"] == 413
        elif r.status_code >= 400:
            assert "error" in r.json()

    check()  # 19 examples: the per-address registration limit is 20 an hour
