"""Vendor apps: the portal form and API (secret shown once, stored hashed), RFC 7591 registration, admin
approval from the page, the API and the CLI, and the idempotent demo vendor."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.cli import main
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.vendors.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, seed
from vault_server.vendors.models import VendorApp

from ..conftest import PASSWORD, log_in
from .test_oauth_support import forms


def _account(ctx: VaultContext, email: str, role: Role) -> None:
    with ctx.db.session() as s:
        accounts.sign_up(session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD, role=role)


def _submit(client: TestClient, page_html: str, action: str, **values: str) -> Any:
    form = next(f for f in forms(page_html) if f["action"] == action)
    data = {c["name"]: c["value"] for c in form["controls"] if c.get("name")}
    data.update(values)
    return client.post(action, data=data, follow_redirects=False)


def test_portal_registers_a_pending_app_and_shows_the_secret_once(client: TestClient, ctx: VaultContext) -> None:
    _account(ctx, "vendor@example.com", Role.vendor)
    log_in(client, "vendor@example.com")
    page = client.get("/vendor")
    assert page.status_code == 200
    r = _submit(
        client,
        page.text,
        "/vendor/apps",
        name="Acme TVs",
        homepage="https://acme.example",
        redirect_uris="https://acme.example/cb\nhttps://acme.example/cb2",
        contact="privacy@acme.example",
    )
    assert r.status_code == 200 and 'data-testid="app-created"' in r.text
    secret = r.text.split('data-testid="client-secret">')[1].split("<")[0]
    client_id = r.text.split('data-testid="client-id">')[1].split("<")[0]
    assert secret.startswith("ivcs_")
    with ctx.db.session() as s:
        app = s.get(VendorApp, client_id)
        assert app is not None and app.status == "pending"
        assert app.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(app.model_dump())
    again = client.get("/vendor")
    assert secret not in again.text and "Acme TVs" in again.text
    assert "Pending — waiting for an administrator" in again.text
    bad = _submit(client, again.text, "/vendor/apps", name="x", redirect_uris="http://acme.example/cb")
    assert bad.status_code == 422 and "loopback" in bad.text


def test_vendor_api_and_roles(client: TestClient, ctx: VaultContext) -> None:
    _account(ctx, "vendor@example.com", Role.vendor)
    csrf = log_in(client, "vendor@example.com")
    body = {"name": "Acme", "redirect_uris": ["https://acme.example/cb"]}
    r = client.post("/v1/vendor/apps", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["client_secret"] and r.json()["status"] == "pending"
    listed = client.get("/v1/vendor/apps").json()
    assert len(listed) == 1 and listed[0]["client_secret"] is None
    assert client.get("/v1/admin/vendors").status_code == 403
    client.cookies.clear()
    from ..conftest import sign_up

    sign_up(client, "dana@example.com")
    csrf = log_in(client, "dana@example.com")
    assert client.post("/v1/vendor/apps", json=body, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert client.get("/vendor", follow_redirects=False).status_code == 403


def test_admin_approves_from_the_page(client: TestClient, ctx: VaultContext) -> None:
    r = client.post("/oauth/register", json={"client_name": "Dyn", "redirect_uris": ["https://dyn.example/cb"]})
    client_id = r.json()["client_id"]
    _account(ctx, "admin@example.com", Role.admin)
    log_in(client, "admin@example.com")
    page = client.get("/admin/vendors")
    assert page.status_code == 200 and client_id in page.text
    no_csrf = client.post(f"/admin/vendors/{client_id}/approve", follow_redirects=False)
    assert no_csrf.status_code == 403
    asked = _submit(client, page.text, f"/admin/vendors/{client_id}/approve")
    assert asked.status_code == 200 and "Approve Dyn?" in asked.text and "https://dyn.example/cb" in asked.text
    assert client.get("/v1/admin/vendors", params={"status": "approved"}).json() == []  # nothing yet
    r = _submit(client, asked.text, f"/admin/vendors/{client_id}/approve")
    assert r.status_code == 303
    assert client.get("/v1/admin/vendors", params={"status": "approved"}).json()[0]["client_id"] == client_id


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_DATABASE_URL", settings.database_url)
    if settings.database_schema:
        monkeypatch.setenv("VAULT_DATABASE_SCHEMA", settings.database_schema)
    monkeypatch.setenv("VAULT_KEK_FILE", str(settings.kek_file))


def test_cli_lists_and_approves(client: TestClient, ctx: VaultContext, cli_env: None) -> None:
    r = client.post("/oauth/register", json={"client_name": "Dyn", "redirect_uris": ["https://dyn.example/cb"]})
    client_id = r.json()["client_id"]
    runner = CliRunner()
    listed = runner.invoke(main, ["vendors", "list", "--status", "pending"])
    assert listed.exit_code == 0 and client_id in listed.output
    ok = runner.invoke(main, ["vendors", "approve", client_id])
    assert ok.exit_code == 0 and "approved" in ok.output
    missing = runner.invoke(main, ["vendors", "approve", "ivc_nope"])
    assert missing.exit_code == 1 and "no vendor app" in missing.output and "Traceback" not in missing.output
    with ctx.db.session() as s:
        app = s.get(VendorApp, client_id)
        assert app is not None and app.status == "approved" and app.approved_by == "admin:cli"


def test_demo_vendor_is_idempotent(ctx: VaultContext) -> None:
    first = list(seed(ctx, None))
    second = list(seed(ctx, None))
    assert first == second and any(DEMO_CLIENT_SECRET in line for line in first)
    with ctx.db.session() as s:
        app = s.get(VendorApp, DEMO_CLIENT_ID)
        assert app is not None and app.status == "approved"
        assert app.client_secret_hash == hashlib.sha256(DEMO_CLIENT_SECRET.encode()).hexdigest()


def test_admin_lands_on_the_approval_queue(client: TestClient, ctx: VaultContext) -> None:
    _account(ctx, "admin@example.com", Role.admin)
    log_in(client, "admin@example.com")
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/vendors"


def test_dynamic_registration_is_rate_limited(client: TestClient) -> None:
    body = {"client_name": "Spam", "redirect_uris": ["https://spam.example/cb"]}
    codes = [client.post("/oauth/register", json=body).status_code for _ in range(21)]
    assert codes[:20] == [201] * 20 and codes[20] == 429
    r = client.post("/oauth/register", json=body)
    assert r.json()["error"] == "invalid_request" and int(r.headers["retry-after"]) > 0
