"""Signal history: a daily, encrypted, bounded point per category, written through the "signals changed" hook,
drawn on the dashboard as "strength over time", and gone with what it was built from and with the account."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.signals import history
from vault_server.signals.models import SignalHistoryRow

from .test_gestures import post, tv


def _rows(ctx: VaultContext, account_id: str | None = None) -> list[Any]:
    with ctx.db.session() as s:
        q = select(SignalHistoryRow)
        if account_id:
            q = q.where(SignalHistoryRow.account_id == account_id)
        return list(s.exec(q).all())


def test_changes_write_one_encrypted_point_per_category_and_day(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv()])
    post(client, headers, [tv("cart_add")])
    rows = _rows(ctx)
    assert len(rows) == 1  # two changes on one day: one point, the later one
    row = rows[0]
    assert row.day == utcnow().date().isoformat()
    assert b"electronics" not in row.point and b"score" not in row.point  # ciphertext, not JSON
    with ctx.db.session() as s:
        points = history.history_for(session=s, ctx=ctx, account_id=row.account_id)
        assert list(points) == ["electronics.tv"]
        signal = client.get("/v1/signals").json()["signals"][0]
        assert points["electronics.tv"][-1]["score"] == round(signal["score"], 4)
        assert points["electronics.tv"][-1]["stage"] == signal["stage"]

    page = client.get("/dashboard").text
    assert 'data-testid="history-chart"' in page and "Strength over time" in page
    assert "TVs: " in page or "TV" in page  # the category's name, not its id, in the chart's text


def test_old_points_are_pruned_and_deleted_categories_lose_their_history(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv()])
    (row,) = _rows(ctx)
    old_day = (utcnow().date() - timedelta(days=history.KEEP_DAYS + 5)).isoformat()
    with ctx.db.session() as s:  # a point from long ago (as if written then)
        s.connection().execute(
            text("INSERT INTO signal_history (account_id, category_index, day, point) VALUES (:a, :i, :d, :p)"),
            {"a": row.account_id, "i": row.category_index, "d": old_day, "p": row.point},
        )
    post(client, headers, [tv("cart_add")])
    assert [r.day for r in _rows(ctx)] == [utcnow().date().isoformat()]  # the old one is pruned on write

    r = client.delete("/v1/gestures", params={"all": "true"}, headers=headers)
    assert r.status_code == 200
    assert _rows(ctx) == []  # nothing left that the signal was built from: no history either


def test_account_deletion_deletes_the_history(client: TestClient, consumer: dict[str, Any], ctx: VaultContext) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    post(client, headers, [tv()])
    assert _rows(ctx)
    from tests.conftest import PASSWORD

    r = client.request("DELETE", "/v1/me", json={"password": PASSWORD, "confirm": "delete my vault"}, headers=headers)
    assert r.status_code in (200, 204), r.text
    assert _rows(ctx) == []


def test_replay_days_draws_past_days_from_the_gestures_as_they_happened(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    events = [tv(minutes_ago=60 * 24 * 3 + 30), tv("cart_add", minutes_ago=60 * 24 + 30)]  # 3 days and 1 day ago
    post(client, {"X-CSRF-Token": consumer["csrf"]}, events)
    (row,) = _rows(ctx)
    with ctx.db.session() as s:
        written = history.replay_days(session=s, ctx=ctx, account_id=row.account_id, events=events, days=5)
        assert written == 3  # days -3, -2, -1: nothing had happened on days -5 and -4
        points = history.history_for(session=s, ctx=ctx, account_id=row.account_id)["electronics.tv"]
    assert [p["day"] for p in points] == [utcnow().date() - timedelta(days=d) for d in (3, 2, 1, 0)]
    assert points[2]["score"] > points[1]["score"]  # the cart add of day -1 raised it
