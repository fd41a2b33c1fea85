"""Every way the authorization server must say no: PKCE, redirect URIs, codes, refresh tokens, client
authentication, pending vendors, CSRF on consent, cross-vendor access, identity without consent, bad RAR."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwk, jwt

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.oauth.models import AuthorizationCode

from ..conftest import LiveServer
from .test_oauth_support import (
    DETAILS,
    REDIRECT,
    approve,
    approve_consent,
    approved_vendor,
    authorize_params,
    basic,
    browser,
    consent_form,
    consent_page,
    consumer_browser,
    exchange,
    pkce_pair,
    post_form,
    register_vendor,
    submit_values,
)


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


def _redirect_query(r: httpx.Response) -> dict[str, list[str]]:
    assert r.status_code == 303, r.text[:300]
    location = r.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def _tokens(vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], **kw: Any) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge, **kw))["code"][0]
    r = exchange(vendor_http, vendor, code, verifier)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _sub(ctx: VaultContext, access_token: str) -> str:
    return str(ctx.keyset.decode_jwt(access_token).claims["sub"])


def _refresh(http: httpx.Client, vendor: dict[str, Any], token: str, **extra: str) -> httpx.Response:
    return http.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}, auth=basic(vendor)
    )


# ---- PKCE -------------------------------------------------------------------------------------------
def test_missing_pkce_is_refused_with_state(consumer: httpx.Client, vendor: dict[str, Any]) -> None:
    q = _redirect_query(consent_page(consumer, authorize_params(vendor["client_id"], None, method=None)))
    assert q["error"] == ["invalid_request"] and q["state"] == ["st-123"] and "code" not in q


def test_plain_method_is_refused(consumer: httpx.Client, vendor: dict[str, Any]) -> None:
    verifier, _ = pkce_pair()
    q = _redirect_query(consent_page(consumer, authorize_params(vendor["client_id"], verifier, method="plain")))
    assert q["error"] == ["invalid_request"] and "S256" in q["error_description"][0]
    _, challenge = pkce_pair()
    q = _redirect_query(consent_page(consumer, authorize_params(vendor["client_id"], challenge, method=None)))
    assert q["error"] == ["invalid_request"]  # the RFC 7636 default method is plain: refused too


def test_wrong_verifier_is_invalid_grant_and_burns_the_code(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any]
) -> None:
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    other, _ = pkce_pair()
    r = exchange(vendor_http, vendor, code, other)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert exchange(vendor_http, vendor, code, "short").json()["error"] == "invalid_grant"
    assert exchange(vendor_http, vendor, code, verifier).status_code == 400  # no second chance
    # no verifier at all
    _, challenge2 = pkce_pair()
    code2 = approve_consent(consumer, authorize_params(vendor["client_id"], challenge2))["code"][0]
    r = vendor_http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code2, "redirect_uri": REDIRECT},
        auth=basic(vendor),
    )
    assert r.json()["error"] == "invalid_grant"


# ---- redirect URIs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT + "/extra",  # suffix
        REDIRECT + "/",  # trailing slash
        "https://shop.example/other",  # path
        "https://SHOP.example/callback",  # host case
        "HTTPS://shop.example/callback",  # scheme case
        "https://shop.example/Callback",  # path case
        REDIRECT + "?next=https://evil.example",  # added query
        "https://shop.example/callbäck",  # unicode
        "https://shöp.example/callback",  # IDN look-alike
        "https://shop.example%2F@evil.example/callback",  # userinfo trick
        "https://shop.example.evil.example/callback",  # open redirect: suffix domain
        "https://evil.example/callback",  # open redirect
        "//evil.example/callback",
        "https://shop.example:443/callback",  # explicit default port
        REDIRECT + "#frag",
        "",
    ],
)
def test_redirect_uri_must_match_exactly(consumer: httpx.Client, vendor: dict[str, Any], uri: str) -> None:
    _, challenge = pkce_pair()
    r = consent_page(consumer, authorize_params(vendor["client_id"], challenge, redirect_uri=uri))
    assert r.status_code == 400
    assert "location" not in r.headers  # never redirected anywhere
    assert "redirect" in r.text


def test_unknown_client_gets_no_redirect(consumer: httpx.Client) -> None:
    _, challenge = pkce_pair()
    r = consent_page(consumer, authorize_params("ivc_nope", challenge))
    assert r.status_code == 400 and "location" not in r.headers


def test_token_redirect_uri_must_match_the_authorization_request(
    vendor_http: httpx.Client, ctx: VaultContext, consumer: httpx.Client
) -> None:
    vendor = approved_vendor(vendor_http, ctx, redirect_uris=[REDIRECT, "https://shop.example/cb2"])
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    r = exchange(vendor_http, vendor, code, verifier, redirect_uri="https://shop.example/cb2")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_registration_refuses_unsafe_redirect_uris(vendor_http: httpx.Client) -> None:
    for bad in ("http://shop.example/cb", "https://shop.example/*", "https://shop.example/cb#x", "shop.example/cb"):
        r = vendor_http.post("/oauth/register", json={"client_name": "x", "redirect_uris": [bad]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", bad
    r = vendor_http.post("/oauth/register", json={"client_name": "x", "redirect_uris": ["http://127.0.0.1:9/cb"]})
    assert r.status_code == 201  # loopback http is fine (RFC 8252)
    r = vendor_http.post("/oauth/register", json={"redirect_uris": [REDIRECT]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"


# ---- codes ------------------------------------------------------------------------------------------
def test_code_reuse_revokes_what_the_first_use_issued(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    first = exchange(vendor_http, vendor, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    sub = _sub(ctx, tokens["access_token"])
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 200
    second = exchange(vendor_http, vendor, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 401
    assert _refresh(vendor_http, vendor, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_expired_code_is_refused(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    from vault_server.accounts.security import token_hash

    with ctx.db.session() as s:
        row = s.get(AuthorizationCode, token_hash(code))
        assert row is not None and row.expires_at - utcnow() <= timedelta(seconds=60)
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    r = exchange(vendor_http, vendor, code, verifier)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant",
        "error_description": "the authorization code has expired",
    }


def test_code_of_another_client_is_refused(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    other = approved_vendor(vendor_http, ctx, name="Other Shop")
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    assert exchange(vendor_http, other, code, verifier).json()["error"] == "invalid_grant"
    assert exchange(vendor_http, vendor, code, verifier).status_code == 200  # the right client still can


# ---- refresh tokens ---------------------------------------------------------------------------------
def test_refresh_reuse_revokes_the_family(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    tokens = _tokens(vendor_http, consumer, vendor)
    rotated = _refresh(vendor_http, vendor, tokens["refresh_token"]).json()
    reuse = _refresh(vendor_http, vendor, tokens["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # the whole family is gone: the newer refresh token and the newer access token too
    assert _refresh(vendor_http, vendor, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    sub = _sub(ctx, rotated["access_token"])
    bearer = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 401


def test_refresh_cannot_ask_for_more_than_granted(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any]
) -> None:
    tokens = _tokens(vendor_http, consumer, vendor, scope="signals:read")
    r = _refresh(vendor_http, vendor, tokens["refresh_token"], scope="signals:read offers:write")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    wider = [{**DETAILS[0], "categories": ["electronics.tv", "electronics.laptops"]}]
    r = _refresh(vendor_http, vendor, tokens["refresh_token"], authorization_details=json.dumps(wider))
    assert r.status_code == 400 and r.json()["error"] == "invalid_authorization_details"
    # a refused widening does not burn the refresh token; narrowing works
    narrower = [{**DETAILS[0], "categories": ["electronics.tv"], "fields": ["stage"]}]
    r = _refresh(vendor_http, vendor, tokens["refresh_token"], authorization_details=json.dumps(narrower))
    assert r.status_code == 200, r.text
    assert r.json()["authorization_details"][0]["fields"] == ["stage"]


# ---- client authentication --------------------------------------------------------------------------
def test_wrong_client_authentication(vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any]) -> None:
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    wrong = vendor_http.post("/oauth/token", data=form, auth=(vendor["client_id"], vendor["client_secret"] + "x"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    post = vendor_http.post(
        "/oauth/token", data={**form, "client_id": vendor["client_id"], "client_secret": vendor["client_secret"]}
    )
    assert post.status_code == 401 and post.json()["error"] == "invalid_client"  # client_secret_post not allowed
    none = vendor_http.post("/oauth/token", data={**form, "client_id": vendor["client_id"]})
    assert none.status_code == 401
    garbage = vendor_http.post("/oauth/token", data=form, headers={"Authorization": "Basic !!!"})
    assert garbage.status_code == 401
    assert exchange(vendor_http, vendor, code, verifier).status_code == 200  # failed attempts did not burn it


def test_introspection_needs_client_auth_and_hides_other_clients_tokens(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    tokens = _tokens(vendor_http, consumer, vendor)
    assert vendor_http.post("/oauth/introspect", data={"token": tokens["access_token"]}).status_code == 401
    other = approved_vendor(vendor_http, ctx, name="Other Shop")
    r = vendor_http.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(other))
    assert r.json() == {"active": False}
    r = vendor_http.post("/oauth/introspect", data={"token": tokens["refresh_token"]}, auth=basic(vendor))
    assert r.json()["active"] is True and r.json()["token_type"] == "refresh_token"
    # another client cannot revoke this client's tokens
    vendor_http.post("/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=basic(other))
    assert _refresh(vendor_http, vendor, tokens["refresh_token"]).status_code == 200


def test_private_key_jwt_client(
    vendor_http: httpx.Client, consumer: httpx.Client, ctx: VaultContext, server: LiveServer
) -> None:
    key = jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})
    vendor = register_vendor(
        vendor_http, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}
    )
    assert "client_secret" not in vendor
    approve(ctx, vendor["client_id"])
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    now = int(time.time())
    claims = {
        "iss": vendor["client_id"],
        "sub": vendor["client_id"],
        "aud": server.url + "/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    assertion = jwt.encode({"alg": "EdDSA"}, claims, key, algorithms=["EdDSA"])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    r = vendor_http.post("/oauth/token", data=form)
    assert r.status_code == 200, r.text
    replay = vendor_http.post(
        "/oauth/revoke", data={"token": r.json()["refresh_token"], **{k: form[k] for k in form if "assertion" in k}}
    )
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"  # jti single use
    other_key = jwk.OKPKey.generate_key("Ed25519")
    forged = jwt.encode({"alg": "EdDSA"}, {**claims, "jti": "x2"}, other_key, algorithms=["EdDSA"])
    r = vendor_http.post(
        "/oauth/revoke",
        data={"token": "t", "client_assertion_type": form["client_assertion_type"], "client_assertion": forged},
    )
    assert r.status_code == 401
    # a secret does not authenticate a private_key_jwt client
    r = vendor_http.post("/oauth/introspect", data={"token": "t"}, auth=(vendor["client_id"], "guess"))
    assert r.status_code == 401


# ---- pending vendors --------------------------------------------------------------------------------
def test_pending_vendor_can_do_nothing(vendor_http: httpx.Client, consumer: httpx.Client) -> None:
    pending = register_vendor(vendor_http)
    _, challenge = pkce_pair()
    page = consent_page(consumer, authorize_params(pending["client_id"], challenge))
    assert page.status_code == 400 and "location" not in page.headers
    r = vendor_http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT, "code_verifier": "y" * 43},
        auth=basic(pending),
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


# ---- consent CSRF -----------------------------------------------------------------------------------
def test_consent_without_csrf_is_refused_and_issues_nothing(
    consumer: httpx.Client, vendor: dict[str, Any], server: LiveServer
) -> None:
    _, challenge = pkce_pair()
    page = consent_page(consumer, authorize_params(vendor["client_id"], challenge))
    values = submit_values(consent_form(page), button=("decision", "approve"))
    without = [(k, v) for k, v in values if k != "csrf_token"]
    r = post_form(consumer, "/oauth/authorize", without)
    assert r.status_code == 403 and r.json()["type"].endswith("/csrf-failed")
    forged = [(k, "0" * 64 if k == "csrf_token" else v) for k, v in values]
    assert post_form(consumer, "/oauth/authorize", forged).status_code == 403
    # another person's browser cannot post this consumer's consent (request bound to the account)
    mallory = consumer_browser(server.url, "mallory@example.com")
    mallory_csrf = consent_form(consent_page(mallory, authorize_params(vendor["client_id"], challenge)))
    token = next(c["value"] for c in mallory_csrf["controls"] if c.get("name") == "csrf_token")
    stolen = [(k, token if k == "csrf_token" else v) for k, v in values]
    r = post_form(mallory, "/oauth/authorize", stolen)
    assert r.status_code == 400 and "location" not in r.headers
    assert consumer.get("/v1/grants").json() == []
    # the original, untouched form still works
    r = post_form(consumer, "/oauth/authorize", values)
    assert r.status_code == 303 and "code=" in r.headers["location"]


def test_deny_redirects_access_denied(consumer: httpx.Client, vendor: dict[str, Any]) -> None:
    _, challenge = pkce_pair()
    q = approve_consent(consumer, authorize_params(vendor["client_id"], challenge), decision="deny")
    assert q["error"] == ["access_denied"] and q["state"] == ["st-123"] and "code" not in q


def test_consent_needs_a_signed_in_consumer(server: LiveServer, vendor: dict[str, Any]) -> None:
    anon = browser(server.url)
    _, challenge = pkce_pair()
    r = consent_page(anon, authorize_params(vendor["client_id"], challenge))
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize%3F")


# ---- cross-vendor access and identity -----------------------------------------------------------------
def test_one_vendors_token_cannot_read_another_vendors_subject(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    other = approved_vendor(vendor_http, ctx, name="Other Shop")
    a = _tokens(vendor_http, consumer, vendor)
    b = _tokens(vendor_http, consumer, other)
    sub_a, sub_b = _sub(ctx, a["access_token"]), _sub(ctx, b["access_token"])
    assert sub_a != sub_b  # pairwise: the two vendors cannot join their views
    r = vendor_http.get(f"/v1/subjects/{sub_a}/signals", headers={"Authorization": f"Bearer {b['access_token']}"})
    assert r.status_code == 403
    ok = vendor_http.get(f"/v1/subjects/{sub_b}/signals", headers={"Authorization": f"Bearer {b['access_token']}"})
    assert ok.status_code == 200
    tampered = a["access_token"][:-4] + ("AAAA" if not a["access_token"].endswith("AAAA") else "BBBB")
    r = vendor_http.get(f"/v1/subjects/{sub_a}/signals", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401


def test_identity_only_with_its_own_consent_and_revocable(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    plain = _tokens(vendor_http, consumer, vendor)
    sub = _sub(ctx, plain["access_token"])
    r = vendor_http.get(f"/v1/subjects/{sub}/identity", headers={"Authorization": f"Bearer {plain['access_token']}"})
    assert r.status_code == 403
    # a new consent where the consumer ticks "name" only
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge), check={("identity", "name")})[
        "code"
    ][0]
    tokens = exchange(vendor_http, vendor, code, verifier).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = vendor_http.get(f"/v1/subjects/{sub}/identity", headers=bearer)
    assert r.status_code == 200 and r.json() == {"sub": sub, "name": "Dana"}
    grant_id = consumer.get("/v1/grants").json()[0]["id"]
    csrf = consumer.get("/v1/me/csrf").json()["csrf_token"]
    assert consumer.delete(f"/v1/grants/{grant_id}/identity", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert vendor_http.get(f"/v1/subjects/{sub}/identity", headers=bearer).status_code == 403
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 200  # signals still shared


# ---- RAR validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("details", "fragment"),
    [
        ([{**DETAILS[0], "categories": ["electronics.tv", "no.such.category"]}], "unknown category"),
        ([{**DETAILS[0], "type": "payment_initiation"}], "unknown authorization_details type"),
        ([{k: v for k, v in DETAILS[0].items() if k != "purpose"}], "purpose"),
        ([{**DETAILS[0], "fields": ["stage", "home_address"]}], "unknown field"),
        ([{**DETAILS[0], "retention_days": 10000}], "retention_days"),
        ([{**DETAILS[0], "min_stage": "obsessed"}], "min_stage"),
        ([{**DETAILS[0], "extra": 1}], "unknown member"),
        ({"type": "intent_signals"}, "array"),
    ],
)
def test_bad_authorization_details(consumer: httpx.Client, vendor: dict[str, Any], details: Any, fragment: str) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge)
    params["authorization_details"] = json.dumps(details)
    q = _redirect_query(consent_page(consumer, params))
    assert q["error"] == ["invalid_authorization_details"] and fragment in q["error_description"][0]


def test_unknown_scope_and_response_type(consumer: httpx.Client, vendor: dict[str, Any]) -> None:
    _, challenge = pkce_pair()
    q = _redirect_query(
        consent_page(consumer, authorize_params(vendor["client_id"], challenge, scope="gestures:write"))
    )
    assert q["error"] == ["invalid_scope"]
    params = {**authorize_params(vendor["client_id"], challenge), "response_type": "token"}
    assert _redirect_query(consent_page(consumer, params))["error"] == ["unsupported_response_type"]
    dup = consumer.get("/oauth/authorize?" + urlencode(params) + "&state=again")
    assert dup.status_code == 400 and "location" not in dup.headers


def test_token_endpoint_errors_are_rfc6749_json(vendor_http: httpx.Client, vendor: dict[str, Any]) -> None:
    r = vendor_http.post("/oauth/token", data={"grant_type": "password"}, auth=basic(vendor))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    assert r.headers["content-type"].startswith("application/json")
    r = vendor_http.post("/oauth/token", json={"grant_type": "refresh_token"}, auth=basic(vendor))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_revoking_an_access_token_ends_its_family(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    tokens = _tokens(vendor_http, consumer, vendor)
    r = vendor_http.post(
        "/oauth/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token"}, auth=basic(vendor)
    )
    assert r.status_code == 200
    sub = _sub(ctx, tokens["access_token"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 401
    assert _refresh(vendor_http, vendor, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_suspending_a_vendor_stops_its_tokens_at_once(
    vendor_http: httpx.Client, consumer: httpx.Client, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    from vault_server.vendors.models import VendorStatus
    from vault_server.vendors.views import set_status

    tokens = _tokens(vendor_http, consumer, vendor)
    sub = _sub(ctx, tokens["access_token"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 200
    set_status(ctx, vendor["client_id"], VendorStatus.suspended, "admin:test")
    assert vendor_http.get(f"/v1/subjects/{sub}/signals", headers=bearer).status_code == 401
    assert _refresh(vendor_http, vendor, tokens["refresh_token"]).json()["error"] == "unauthorized_client"
    _, challenge = pkce_pair()
    page = consent_page(consumer, authorize_params(vendor["client_id"], challenge))
    assert page.status_code == 400 and "location" not in page.headers
