"""Accounts over HTTP: sign-up, login, sessions, CSRF, throttling, tokens, export and deletion."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from vault_server.config import Settings

from ..conftest import PASSWORD, log_in, personal_token, sign_up

PROBLEM = "application/problem+json"


def _form_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "form has no CSRF field"
    return match.group(1)


def test_sign_up_and_login_json(client: TestClient) -> None:
    profile = sign_up(client, "dana@example.com", name="Dana")
    assert profile["email"] == "dana@example.com" and profile["role"] == "consumer"
    csrf = log_in(client, "dana@example.com")
    me = client.get("/v1/me").json()
    assert me["id"] == profile["id"] and me["name"] == "Dana"
    assert len(csrf) == 64


def test_duplicate_email_is_a_conflict(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    r = client.post("/v1/accounts", json={"email": "DANA@example.com", "password": PASSWORD})
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("/email-taken")


def test_weak_password_and_bad_email_are_validation_problems(client: TestClient) -> None:
    r = client.post("/v1/accounts", json={"email": "dana@example.com", "password": "pw-Zq9"})
    assert r.status_code == 422 and r.json()["type"].endswith("/validation-error")
    assert "password" in r.json()["detail"]
    assert "pw-Zq9" not in r.text  # submitted values are never echoed back
    r = client.post("/v1/accounts", json={"email": "not-an-email", "password": PASSWORD})
    assert r.status_code == 422


def test_wrong_password_is_401_without_saying_which_part(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    wrong = client.post("/v1/sessions", json={"email": "dana@example.com", "password": "nope-nope-nope"})
    unknown = client.post("/v1/sessions", json={"email": "nobody@example.com", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert "vault_session" not in wrong.cookies


def test_session_cookie_flags_and_rotation_on_login(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    r1 = client.post("/v1/sessions", json={"email": "dana@example.com", "password": PASSWORD})
    cookie_header = r1.headers["set-cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=lax" in cookie_header
    assert "Secure" not in cookie_header  # plain http on loopback: the local demo works
    first = client.cookies.get("vault_session")
    r2 = client.post("/v1/sessions", json={"email": "dana@example.com", "password": PASSWORD})
    second = client.cookies.get("vault_session")
    assert first and second and first != second
    # the old session is gone: a stolen pre-login cookie is worthless
    client.cookies.set("vault_session", first)
    assert client.get("/v1/me").status_code == 401
    client.cookies.set("vault_session", second)
    assert client.get("/v1/me").status_code == 200
    assert r2.json()["csrf_token"] != r1.json()["csrf_token"]


def test_secure_cookie_when_not_loopback(base_settings: Settings) -> None:
    assert Settings(base_url="https://vault.example.com").secure_cookies
    assert Settings(base_url="http://10.1.2.3:8000").secure_cookies
    assert not Settings(base_url="http://localhost:8000").secure_cookies


def test_api_write_with_cookie_needs_csrf_header(client: TestClient, consumer: dict[str, Any]) -> None:
    r = client.post("/v1/me/tokens", json={"name": "x"})
    assert r.status_code == 403 and r.json()["type"].endswith("/csrf-failed")
    r = client.post("/v1/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    r = client.post("/v1/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": consumer["csrf"]})
    assert r.status_code == 201


def test_form_login_flow_with_csrf(client: TestClient) -> None:
    page = client.get("/signup")
    token = _form_csrf(page.text)
    r = client.post(
        "/signup",
        data={"email": "erin@example.com", "password": PASSWORD, "name": "Erin", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    dash = client.get("/dashboard")
    assert dash.status_code == 200 and "erin@example.com" in dash.text
    logout_token = _form_csrf(dash.text)
    r = client.post("/logout", data={"csrf_token": logout_token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_form_without_csrf_is_403(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    client.get("/login")
    r = client.post("/login", data={"email": "dana@example.com", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/csrf-failed")
    assert "vault_session" not in client.cookies


def test_form_csrf_from_another_browser_is_403(app: Any) -> None:
    with (
        TestClient(app, base_url="http://127.0.0.1:8000") as attacker,
        TestClient(app, base_url="http://127.0.0.1:8000") as victim,
    ):
        sign_up(victim, "dana@example.com")
        stolen = _form_csrf(attacker.get("/login").text)
        victim.get("/login")
        r = victim.post(
            "/login",
            data={"email": "dana@example.com", "password": PASSWORD, "csrf_token": stolen},
            follow_redirects=False,
        )
        assert r.status_code == 403


def test_login_throttling_returns_429_with_retry_after(client: TestClient, settings: Settings) -> None:
    sign_up(client, "dana@example.com")
    for _ in range(settings.login_max_failures):
        assert (
            client.post("/v1/sessions", json={"email": "dana@example.com", "password": "wrong-wrong"}).status_code
            == 401
        )
    r = client.post("/v1/sessions", json={"email": "dana@example.com", "password": PASSWORD})
    assert r.status_code == 429
    assert r.headers["content-type"] == PROBLEM
    assert 0 < int(r.headers["retry-after"]) <= settings.login_window_seconds


def test_open_redirect_after_login_is_refused(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    token = _form_csrf(client.get("/login").text)
    r = client.post(
        "/login",
        data={"email": "dana@example.com", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"


def test_personal_tokens_scoped_listed_and_revocable(client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"])
    assert token.startswith("ivp_")
    bearer = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()
    assert client.get("/v1/me", headers=bearer).status_code == 200
    # a gestures:write token may not export the account
    r = client.get("/v1/me/export", headers=bearer)
    assert r.status_code == 403 and "account:read" in r.json()["detail"]
    csrf = log_in(client, "dana@example.com")
    listed = client.get("/v1/me/tokens").json()
    assert [t["scopes"] for t in listed] == [["gestures:write"]]
    assert "token_hash" not in listed[0]
    assert client.delete(f"/v1/me/tokens/{listed[0]['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    r = client.get("/v1/me", headers=bearer)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_scope_is_refused(client: TestClient, consumer: dict[str, Any]) -> None:
    r = client.post(
        "/v1/me/tokens", json={"name": "x", "scopes": ["signals:read"]}, headers={"X-CSRF-Token": consumer["csrf"]}
    )
    assert r.status_code == 403


def test_forged_bearer_is_401(client: TestClient) -> None:
    r = client.get("/v1/me", headers={"Authorization": "Bearer ivp_forged"})
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthorized")


def test_export_contains_profile_and_tokens(client: TestClient, consumer: dict[str, Any]) -> None:
    personal_token(client, consumer["csrf"])
    doc = client.get("/v1/me/export").json()
    assert doc["format"] == "intent-vault-export/1"
    assert doc["account"]["email"] == "dana@example.com"
    assert len(doc["tokens"]) == 1 and "token" not in doc["tokens"][0]


def test_account_deletion_shreds_and_logs_out(client: TestClient, consumer: dict[str, Any]) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    r = client.request("DELETE", "/v1/me", json={"password": PASSWORD, "confirm": "yes"}, headers=headers)
    assert r.status_code == 422
    r = client.request("DELETE", "/v1/me", json={"password": "wrong", "confirm": "delete my vault"}, headers=headers)
    assert r.status_code == 401
    r = client.request("DELETE", "/v1/me", json={"password": PASSWORD, "confirm": "delete my vault"}, headers=headers)
    assert r.status_code == 204
    assert client.get("/v1/me").status_code == 401
    assert client.post("/v1/sessions", json={"email": "dana@example.com", "password": PASSWORD}).status_code == 401
    # the e-mail is free again: a new, unrelated vault can be made
    sign_up(client, "dana@example.com")


def test_api_rate_limit_per_credential(ctx: Any, consumer: dict[str, Any], client: TestClient) -> None:
    from vault_server.app import create_app
    from vault_server.context import VaultContext

    token = personal_token(client, consumer["csrf"])
    limited = VaultContext(
        settings=ctx.settings.model_copy(update={"api_rate_per_minute": 3}), db=ctx.db, ring=ctx.ring,
        hasher=ctx.hasher, policy=ctx.policy,
    )
    with TestClient(create_app(ctx=limited), base_url="http://127.0.0.1:8000") as c:
        headers = {"Authorization": f"Bearer {token}"}
        codes = [c.get("/v1/me", headers=headers).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/me", headers=headers)
        assert r.headers["content-type"] == PROBLEM and 1 <= int(r.headers["retry-after"]) <= 60
