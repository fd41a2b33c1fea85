"""The consumer's settings page, dashboard charts and gestures timeline, driven through the real app."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from vault_server.context import VaultContext

from ..conftest import PASSWORD, log_in
from .test_gestures import ev, post, tv
from .test_pages_layout import HTML, form_csrf, links, make_account


def _token(client: TestClient, path: str = "/settings") -> str:
    return form_csrf(client.get(path).text)


def test_settings_changes_name_and_password(client: TestClient, consumer: dict[str, Any]) -> None:
    token = _token(client)
    r = client.post("/settings/name", data={"csrf_token": token, "name": "Dana <Q>"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/settings?saved=name"
    page = client.get(r.headers["location"]).text
    assert "Your name was saved." in page and 'value="Dana &lt;Q&gt;"' in page
    assert client.get("/v1/me").json()["name"] == "Dana <Q>"

    bad = client.post("/settings/password", data={"csrf_token": token, "current": "wrong-one", "new": "x"})
    assert bad.status_code == 422 and "Choose a new password of 10 characters or more." in bad.text
    bad = client.post(
        "/settings/password",
        data={"csrf_token": token, "current": "wrong-password", "new": "n" * 12, "repeat": "n" * 12},
    )
    assert bad.status_code == 422 and "That is not your current password." in bad.text
    ok = client.post(
        "/settings/password",
        data={"csrf_token": token, "current": PASSWORD, "new": "new password 1", "repeat": "new password 1"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert client.get("/settings").status_code == 200  # this session survives
    client.cookies.clear()
    assert client.post("/v1/sessions", json={"email": "dana@example.com", "password": PASSWORD}).status_code == 401
    log_in(client, "dana@example.com", "new password 1")


def test_settings_pause_and_sensitive_opt_ins(client: TestClient, consumer: dict[str, Any], ctx: VaultContext) -> None:
    token = _token(client)
    r = client.post(
        "/dashboard/recording", data={"csrf_token": token, "paused": "1", "back": "/settings"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    assert client.get("/v1/me/settings").json()["paused"] is True
    sensitive = sorted(ctx.policy.sensitive_ids)
    page = client.get("/settings").text
    assert f'value="{sensitive[0]}"' in page and ctx.policy.nodes[sensitive[0]].name in page
    r = client.post("/settings/sensitive", data={"csrf_token": token, "opt_in": [sensitive[0], "electronics.tv"]})
    assert r.status_code == 200  # followed the redirect
    assert client.get("/v1/me/settings").json()["opt_in_categories"] == [sensitive[0]]  # only sensitive ids
    assert client.post("/settings/sensitive", data={"opt_in": sensitive}).status_code == 403  # CSRF


def test_a_personal_token_is_shown_once_then_revoked_with_confirmation(
    client: TestClient, consumer: dict[str, Any]
) -> None:
    token = _token(client)
    empty = client.post("/settings/tokens", data={"csrf_token": token, "name": " "})
    assert empty.status_code == 422 and "Give the token a name" in empty.text
    r = client.post("/settings/tokens", data={"csrf_token": token, "name": "my script", "scope": ["gestures:write"]})
    assert r.status_code == 200 and 'data-testid="token-created"' in r.text
    secret = re.search(r'data-testid="token-secret">(ivp_[^<]+)<', r.text)
    assert secret
    assert client.get("/v1/signals", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code == 403
    again = client.get("/settings").text
    assert secret.group(1) not in again and "my script" in again
    [row] = client.get("/v1/me/tokens").json()
    asked = client.post(f"/dashboard/tokens/{row['id']}/revoke", data={"csrf_token": token, "back": "/settings"})
    assert asked.status_code == 200 and "Revoke this token?" in asked.text
    done = client.post(
        f"/dashboard/tokens/{row['id']}/revoke",
        data={"csrf_token": token, "back": "/settings", "confirmed": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/settings"
    assert client.get("/v1/me/tokens").json()[0]["revoked_at"] is not None


def test_deleting_the_account_needs_the_typed_phrase_and_the_password(
    client: TestClient, consumer: dict[str, Any]
) -> None:
    token = _token(client)
    r = client.post("/settings/delete", data={"csrf_token": token, "confirm": "delete", "password": PASSWORD})
    assert r.status_code == 422 and "Type “delete my vault” exactly to confirm." in r.text
    r = client.post("/settings/delete", data={"csrf_token": token, "confirm": "delete my vault", "password": "nope"})
    assert r.status_code == 422 and "Nothing was deleted." in r.text
    assert client.get("/v1/me").status_code == 200
    r = client.post("/settings/delete", data={"csrf_token": token, "confirm": "delete my vault", "password": PASSWORD})
    assert r.status_code == 200 and 'data-testid="account-deleted"' in r.text
    assert client.get("/v1/me").status_code == 401
    assert client.post("/v1/sessions", json={"email": "dana@example.com", "password": PASSWORD}).status_code == 401


def test_dashboard_charts_names_money_and_times(client: TestClient, consumer: dict[str, Any]) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv(minutes_ago=30 - i) for i in range(4)] + [tv("cart_add")])
    token = _token(client, "/dashboard")
    client.post(
        "/dashboard/intents",
        data={"csrf_token": token, "category": "electronics.tv", "budget_max": "1000", "currency": "EUR"},
    )
    page = client.get("/dashboard").text
    assert '<svg class="chart"' in page and 'data-testid="strength-chart"' in page and "<script>" not in page
    assert 'role="img"' in page and "<title id=" in page
    steps = re.search(r'<ol class="stages"[^>]*>(.*?)</ol>', page, re.S)
    assert steps and steps.group(1).count("<li") == 5 and 'aria-current="step"' in steps.group(1)
    assert "up to 1,000 EUR" in page and "1000.0" not in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+" data-local="full">', page)
    recorded = page.split('data-testid="recorded"')[1]
    assert "electronics.tv" not in recorded  # category names, not ids


def test_gestures_timeline_filters_pages_and_deletes_a_range(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv(minutes_ago=200 - i) for i in range(55)])
    post(client, headers, [ev("search", query="grey sofa", category="furniture.sofa", minutes_ago=5)])
    first = client.get("/gestures")
    assert first.status_code == 200 and first.text.count('data-testid="gesture-row"') == 50
    older = re.search(r'href="(/gestures\?cursor=[^"]+)" data-testid="older"', first.text)
    assert older
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert second.text.count('data-testid="gesture-row"') == 6
    only = client.get("/gestures?type=search")
    assert only.text.count('data-testid="gesture-row"') == 1 and "“grey sofa”" in only.text
    bad = client.get("/gestures?since=yesterday", headers=HTML)
    assert bad.status_code == 422 and "Enter a date like 2026-11-25." in bad.text
    assert client.get("/gestures?category=nope").status_code == 422

    token = form_csrf(first.text)
    asked = client.post("/gestures/delete", data={"csrf_token": token, "category": "electronics.tv"})
    assert asked.status_code == 200 and "Delete these recorded gestures?" in asked.text
    assert 'name="category" value="electronics.tv"' in asked.text
    done = client.post(
        "/gestures/delete",
        data={"csrf_token": token, "type": "product_view", "confirmed": "yes"},
        follow_redirects=False,
    )
    # back on the same filtered view, whose notice offers the undo and comes back to that view again
    where = done.headers["location"]
    assert done.status_code == 303 and where.startswith("/gestures?type=product_view&deleted=55&undo="), where
    left = client.get("/v1/gestures").json()["items"]
    assert [g["type"] for g in left] == ["search"]
    notice = client.get(where).text
    assert 'name="back" value="/gestures?type=product_view"' in notice
    batch = re.search(r'name="batch" value="([^"]+)"', notice)
    assert batch
    undone = client.post(
        "/gestures/undo",
        data={"csrf_token": form_csrf(notice), "batch": batch.group(1), "back": "/gestures?type=product_view"},
        follow_redirects=False,
    )
    assert undone.headers["location"] == "/gestures?type=product_view&restored=55"
    assert len(client.get("/v1/gestures?limit=100").json()["items"]) == 56
    everything = client.post("/gestures/delete", data={"csrf_token": token})
    assert "Delete everything recorded?" in everything.text


def test_settings_and_timeline_are_consumer_pages(client: TestClient, ctx: VaultContext) -> None:
    log_in(client, make_account(ctx, "vendor"))
    for path in ("/settings", "/gestures"):
        assert client.get(path, headers=HTML).status_code == 403
    assert "/settings" not in links(client.get("/vendor").text).nav
