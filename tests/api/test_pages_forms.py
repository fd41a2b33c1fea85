"""Forms people fill in: errors per field in plain words that keep what was typed, no silent defaults, and
destructive actions that ask for confirmation first (without JavaScript) and look destructive."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from vault_server.context import VaultContext

from ..conftest import PASSWORD, log_in
from .test_pages_layout import form_csrf, make_account


def _intents(client: TestClient) -> list[dict[str, Any]]:
    return list(client.get("/v1/intents").json())


def test_declare_intent_submitted_empty_saves_nothing_and_says_why(
    client: TestClient, consumer: dict[str, Any]
) -> None:
    token = form_csrf(client.get("/dashboard").text)
    r = client.post("/dashboard/intents", data={"csrf_token": token})
    assert r.status_code == 422
    assert "Choose what you are looking for." in r.text
    assert 'id="intent-category" name="category" required aria-invalid="true"' in r.text
    assert _intents(client) == []  # no silent default category reaching vendors


def test_declare_intent_errors_are_per_field_and_keep_what_was_typed(
    client: TestClient, consumer: dict[str, Any]
) -> None:
    token = form_csrf(client.get("/dashboard").text)
    typed = {
        "csrf_token": token,
        "category": "electronics.tv",
        "text": "65-inch <TV> for the living room",
        "budget_max": "nine hundred",
        "currency": "",
        "timeframe_days": "0",
    }
    r = client.post("/dashboard/intents", data=typed)
    assert r.status_code == 422
    assert "Enter the budget as a number, like 900." in r.text
    assert "Add the currency of your budget, like EUR." in r.text
    assert "Enter a whole number of days from 1 to 3650." in r.text
    assert 'value="65-inch &lt;TV&gt; for the living room"' in r.text  # kept, and escaped
    assert 'value="nine hundred"' in r.text
    assert '<option value="electronics.tv" selected>' in r.text
    assert "Choose what you are looking for." not in r.text
    assert _intents(client) == []
    typed.update(budget_max="900", currency="eur", timeframe_days="14")
    r = client.post("/dashboard/intents", data=typed, follow_redirects=False)
    assert r.status_code == 303
    [intent] = _intents(client)
    assert intent["category"] == "electronics.tv" and intent["currency"] == "EUR" and intent["budget_max"] == 900


def test_sign_up_errors_are_plain_words_and_keep_the_email(client: TestClient) -> None:
    token = form_csrf(client.get("/signup").text)
    r = client.post("/signup", data={"csrf_token": token, "email": "not-an-address", "password": "short", "name": ""})
    assert r.status_code == 422
    assert "E-mail: enter an address like name@example.com." in r.text
    assert "Password must have at least 10 characters." in r.text
    assert "String should" not in r.text and "value_error" not in r.text
    assert 'value="not-an-address"' in r.text and 'value="short"' not in r.text  # never echo the password


def test_vendor_registration_errors_are_plain_words(client: TestClient, ctx: VaultContext) -> None:
    log_in(client, make_account(ctx, "vendor"))
    token = form_csrf(client.get("/vendor").text)
    r = client.post("/vendor/apps", data={"csrf_token": token, "name": "", "redirect_uris": ""})
    assert r.status_code == 422
    assert "Name is required." in r.text and "Redirect URIs: add at least one." in r.text
    assert "List should" not in r.text and "String should" not in r.text


def test_destructive_actions_ask_first_and_look_destructive(client: TestClient, consumer: dict[str, Any]) -> None:
    page = client.get("/dashboard").text
    token = form_csrf(page)
    client.post("/dashboard/intents", data={"csrf_token": token, "category": "furniture.sofa", "text": "grey sofa"})
    [intent] = _intents(client)
    page = client.get("/dashboard").text
    assert f'action="/dashboard/intents/{intent["id"]}/delete"' in page
    assert 'class="danger" aria-label="Delete the intent' in page
    asked = client.post(f"/dashboard/intents/{intent['id']}/delete", data={"csrf_token": token})
    assert asked.status_code == 200 and "Delete this intent?" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text and 'class="danger confirm"' in asked.text
    assert 'href="/dashboard" data-testid="confirm-cancel"' in asked.text
    assert len(_intents(client)) == 1  # nothing happened yet
    # the confirmation still needs the CSRF token
    assert client.post(f"/dashboard/intents/{intent['id']}/delete", data={"confirmed": "yes"}).status_code == 403
    done = client.post(
        f"/dashboard/intents/{intent['id']}/delete",
        data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and _intents(client) == []


def test_admin_suspend_asks_first(client: TestClient, ctx: VaultContext) -> None:
    from vault_server.vendors.demo import DEMO_CLIENT_ID, seed

    list(seed(ctx, None))
    log_in(client, make_account(ctx, "admin"), PASSWORD)
    page = client.get("/admin/vendors").text
    token = form_csrf(page)
    assert 'class="danger">Suspend</button>' in page and "Approved" in page
    assert f"<code>{ctx.keyset.kid}</code>" in page and ctx.policy.hash[:16] in page  # keys and policy in force
    asked = client.post(f"/admin/vendors/{DEMO_CLIENT_ID}/suspend", data={"csrf_token": token})
    assert asked.status_code == 200 and "Suspend " in asked.text and 'data-testid="confirm"' in asked.text
    assert client.get("/v1/admin/vendors").json()[0]["status"] == "approved"
    r = client.post(
        f"/admin/vendors/{DEMO_CLIENT_ID}/suspend",
        data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and client.get("/v1/admin/vendors").json()[0]["status"] == "suspended"
