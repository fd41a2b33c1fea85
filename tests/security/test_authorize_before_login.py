"""RFC 9700 §2.1 / §4.1: the authorization endpoint validates the whole request before it asks anyone to log in.
An attacker must not be able to use the vault's login page as a step of a request that would fail anyway (PKCE
downgrade to ``plain``, unknown client, unregistered redirect URI, bad RAR); errors go to an error page when the
client or redirect URI cannot be trusted, otherwise back to the registered redirect URI (RFC 6749 §4.1.2.1)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from vault_server.context import VaultContext

from ..api.test_oauth_support import (
    DETAILS,
    REDIRECT,
    approved_vendor,
    authorize_params,
    consent_page,
    pkce_pair,
    register_vendor,
)
from ..conftest import PASSWORD, log_in, sign_up


@pytest.fixture
def anon(client: TestClient) -> TestClient:
    client.follow_redirects = False
    return client


@pytest.fixture
def vendor(anon: TestClient, ctx: VaultContext) -> dict[str, Any]:
    return approved_vendor(anon, ctx)


def _error_redirect(r: Any) -> dict[str, list[str]]:
    assert r.status_code == 303, r.text[:300]
    location = r.headers["location"]
    assert location.startswith(REDIRECT + "?"), location  # back to the client, never to /login
    return parse_qs(urlsplit(location).query)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),  # PKCE downgrade
        ({"code_challenge_method": None}, "invalid_request"),  # RFC 7636 default is plain: refused
        ({"code_challenge": None}, "invalid_request"),  # no PKCE at all
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),  # implicit grant
        ({"scope": "gestures:write"}, "invalid_scope"),  # first-party scope
        ({"authorization_details": "not json"}, "invalid_authorization_details"),
        (
            {"authorization_details": json.dumps([{**DETAILS[0], "categories": ["nope.none"]}])},
            "invalid_authorization_details",
        ),
        ({"request_uri": "https://evil.example/req"}, "request_not_supported"),
    ],
)
def test_invalid_request_is_refused_before_login(
    anon: TestClient, vendor: dict[str, Any], ctx: VaultContext, overrides: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce_pair()
    params: dict[str, str] = authorize_params(vendor["client_id"], challenge)
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    q = _error_redirect(consent_page(anon, params))
    assert q["error"] == [error] and q["state"] == ["st-123"] and "code" not in q
    assert q["iss"] == [ctx.settings.base_url]  # RFC 9207


def test_untrusted_client_or_redirect_gets_an_error_page_not_a_login(
    anon: TestClient, vendor: dict[str, Any], ctx: VaultContext
) -> None:
    _, challenge = pkce_pair()
    pending = register_vendor(anon, name="Pending Shop")  # registered, not approved
    for params in (
        authorize_params("ivc_unknown", challenge),
        authorize_params(vendor["client_id"], challenge, redirect_uri="https://evil.example/callback"),
        authorize_params(pending["client_id"], challenge),
        {**authorize_params(vendor["client_id"], challenge), "redirect_uri": ""},
    ):
        # even with PKCE plain, the untrusted redirect URI is never used: error page, no Location
        r = consent_page(anon, {**params, "code_challenge_method": "plain"})
        assert r.status_code == 400 and "location" not in r.headers, params
        assert "text/html" in r.headers["content-type"]


def test_repeated_parameter_is_an_error_page(anon: TestClient, vendor: dict[str, Any]) -> None:
    _, challenge = pkce_pair()
    query = "&".join(f"{k}={v}" for k, v in authorize_params(vendor["client_id"], challenge).items())
    r = anon.get("/oauth/authorize?" + query + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb")
    assert r.status_code == 400 and "location" not in r.headers


def test_only_a_valid_request_is_sent_to_log_in_and_comes_back_to_consent(
    anon: TestClient, vendor: dict[str, Any]
) -> None:
    _, challenge = pkce_pair()
    r = consent_page(anon, authorize_params(vendor["client_id"], challenge))
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    target = unquote(r.headers["location"].removeprefix("/login?next="))
    assert target.startswith("/oauth/authorize?")
    sign_up(anon, "erin@example.com", name="Erin")
    log_in(anon, "erin@example.com", PASSWORD)
    page = anon.get(target)
    assert page.status_code == 200 and 'action="/oauth/authorize"' in page.text
