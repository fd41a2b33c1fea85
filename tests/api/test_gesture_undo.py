"""Undo for gesture deletions: signals drop at once, "Undo" puts the gestures back within the window, and after it
the deletion is final (the maintenance pass deletes the kept copies); account deletion takes them too."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from tests.conftest import PASSWORD
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.intents import service
from vault_server.intents.models import DeletedGesture
from vault_server.intents.tasks import run_maintenance

from .test_gestures import post, tv


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


def _kept(ctx: VaultContext) -> list[DeletedGesture]:
    with ctx.db.session() as s:
        return list(s.exec(select(DeletedGesture)).all())


def _delete_all(client: TestClient) -> tuple[str, str]:
    token = _csrf(client.get("/gestures").text)
    r = client.post("/gestures/delete", data={"csrf_token": token, "confirmed": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    return query["deleted"][0], query["undo"][0]


def test_undo_puts_the_gestures_and_their_signal_back(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv(), tv("cart_add")])
    before = client.get("/v1/signals").json()["signals"]
    assert before

    confirm = client.post("/gestures/delete", data={"csrf_token": _csrf(client.get("/gestures").text)})
    assert "undo this for 5 minutes" in confirm.text
    deleted, batch = _delete_all(client)
    assert deleted == "2"
    assert client.get("/v1/gestures").json()["items"] == []
    assert client.get("/v1/signals").json()["signals"] == []  # vendors' view follows the deletion at once
    page = client.get(f"/gestures?deleted=2&undo={batch}").text
    assert "Deleted 2 gestures." in page and 'data-testid="undo"' in page
    assert all(b"Samsung" not in k.payload for k in _kept(ctx))  # kept encrypted, as they were stored

    r = client.post(
        "/gestures/undo", data={"csrf_token": _csrf(page), "batch": batch, "back": "/gestures"}, follow_redirects=False
    )
    assert r.status_code == 303 and "restored=2" in r.headers["location"]
    assert "Put back 2 gestures" in client.get(r.headers["location"]).text
    assert len(client.get("/v1/gestures").json()["items"]) == 2
    after = client.get("/v1/signals").json()["signals"]
    assert [(s["category"], s["stage"], round(s["score"], 3)) for s in after] == [
        (s["category"], s["stage"], round(s["score"], 3)) for s in before
    ]
    assert _kept(ctx) == []
    again = client.post("/gestures/undo", data={"csrf_token": _csrf(page), "batch": batch}, follow_redirects=False)
    assert "undo_late=1" in again.headers["location"]  # one undo per deletion


def test_after_the_window_the_deletion_is_final(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    one = tv()
    post(client, headers, [one])
    token = _csrf(client.get("/gestures").text)
    r = client.post(
        f"/dashboard/gestures/{one['id']}/delete",
        data={"csrf_token": token, "confirmed": "yes", "back": "/dashboard"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard?deleted=1&undo=")
    batch = parse_qs(urlsplit(r.headers["location"]).query)["undo"][0]
    with ctx.db.session() as s:  # as if deleted six minutes ago
        s.execute(update(DeletedGesture).values(deleted_at=utcnow() - timedelta(minutes=6)))
    r = client.post("/gestures/undo", data={"csrf_token": token, "batch": batch}, follow_redirects=False)
    assert "undo_late=1" in r.headers["location"]
    assert "can no longer be undone" in client.get(r.headers["location"]).text
    assert client.get("/v1/gestures").json()["items"] == []
    assert len(_kept(ctx)) == 1
    run_maintenance(ctx)
    assert _kept(ctx) == []  # the background pass deleted the kept copy for good


def test_a_gesture_sent_again_meanwhile_is_not_doubled(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    one = tv()
    post(client, headers, [one])
    _, batch = _delete_all(client)
    post(client, headers, [one])  # the extension re-sent it
    with ctx.db.session() as s:
        account_id = consumer.get("id") or s.exec(select(DeletedGesture.account_id)).one()
        assert service.undo_delete(session=s, ctx=ctx, account_id=account_id, batch_id=batch) == 0
    assert len(client.get("/v1/gestures").json()["items"]) == 1


def test_account_deletion_takes_the_kept_copies(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv()])
    _delete_all(client)
    assert _kept(ctx)
    r = client.request("DELETE", "/v1/me", json={"password": PASSWORD, "confirm": "delete my vault"}, headers=headers)
    assert r.status_code == 204, r.text
    assert _kept(ctx) == []
