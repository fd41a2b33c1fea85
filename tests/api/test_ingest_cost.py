"""What an ingest costs: one connection and one transaction per POST (the caller is resolved in it), statements
that do not grow with the batch, classification once per distinct product."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.intents import service
from vault_server.intents.models import Gesture

from ..conftest import personal_token
from .test_feed_support import make_consumer

PRODUCTS = [
    {"name": "Samsung 65 inch QLED 4K Smart TV", "brand": "Samsung", "price": 899.0, "currency": "EUR"},
    {"name": "Sony WH-1000XM5 wireless headphones", "brand": "Sony", "price": 349.0, "currency": "EUR"},
]


def batch(n: int, minutes_ago: int = 30) -> list[dict[str, Any]]:
    """``n`` new events alternating between the same two products."""
    now = datetime.now(UTC)
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "product_view",
            "ts": (now - timedelta(minutes=minutes_ago, seconds=i)).isoformat(),
            "origin": "https://shop.example",
            "path": "/p/{id}",
            "product": PRODUCTS[i % 2],
        }
        for i in range(n)
    ]


@contextmanager
def statements(ctx: VaultContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)


def ingest(ctx: VaultContext, account_id: str, events: list[dict[str, Any]]) -> int:
    with ctx.db.session() as s:
        result = service.ingest(session=s, ctx=ctx, account_id=account_id, events=events)
    assert result.rejected == 0, result.results
    return result.accepted


def test_statements_do_not_grow_with_the_batch(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    assert ingest(ctx, alice, batch(2, minutes_ago=90)) == 2  # both signal states exist from here on
    with statements(ctx) as small:
        assert ingest(ctx, alice, batch(4, minutes_ago=60)) == 4
    with statements(ctx) as large:
        assert ingest(ctx, alice, batch(80)) == 80
    assert large == small
    assert large.count("INSERT") == 1  # every new gesture in one statement; states are updated, not inserted


def test_repeated_batch_costs_no_more_than_a_new_one(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    events = batch(30)
    with statements(ctx) as first:
        assert ingest(ctx, alice, events) == 30
    with statements(ctx) as again, ctx.db.session() as s:
        result = service.ingest(session=s, ctx=ctx, account_id=alice, events=events)
    assert (result.accepted, result.duplicate) == (0, 30)
    assert len(again) < len(first)  # nothing new: no signal state read or written


def test_classification_once_per_distinct_product(ctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = make_consumer(ctx)
    calls: list[str | None] = []
    real = service.category_of

    def counting(ev: Any, policy: Any) -> str | None:
        calls.append(ev.product.name if ev.product else None)
        return real(ev, policy)

    monkeypatch.setattr(service, "category_of", counting)
    assert ingest(ctx, alice, batch(40)) == 40
    assert sorted(calls) == sorted(p["name"] for p in PRODUCTS)
    assert ingest(ctx, alice, batch(6)) == 6  # the memo is per batch: a new batch classifies again
    assert len(calls) == 4


def test_stored_payload_is_the_event_with_its_category(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    events = [
        *batch(2),
        {**batch(1)[0], "category": "electronics", "query": "tv ü", "product": PRODUCTS[0]},
        {**batch(1)[0], "product": {"name": "something unknowable"}},
    ]
    ingest(ctx, alice, events)
    with ctx.db.session() as s:
        cipher = cipher_for(session=s, ring=ctx.ring, account_id=alice)
        stored = {
            g.event_id: json.loads(cipher.decrypt("gesture", g.id, g.payload))
            for g in s.exec(select(Gesture).where(Gesture.account_id == alice))
        }
    for sent in events:
        doc = stored[sent["id"]]
        expected = {k: v for k, v in sent.items() if k not in ("category", "ts")}
        assert {k: doc[k] for k in expected} == expected
        assert datetime.fromisoformat(doc["ts"]) == datetime.fromisoformat(sent["ts"])
    assert stored[events[0]["id"]]["category"] == "electronics.tv"
    assert stored[events[2]["id"]]["category"] == "electronics.tv"  # the inner node narrowed to its leaf
    assert stored[events[3]["id"]]["category"] is None


@pytest.fixture
def bearer(client: TestClient, consumer: dict[str, Any]) -> dict[str, str]:
    token = personal_token(client, consumer["csrf"], ["gestures:write"])
    client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def test_a_post_uses_one_connection_and_one_transaction(
    client: TestClient, ctx: VaultContext, bearer: dict[str, str]
) -> None:
    checkouts: list[int] = []
    commits: list[int] = []
    listen = [
        (ctx.db.engine.pool, "checkout", lambda *_: checkouts.append(1)),
        (ctx.db.engine, "commit", lambda *_: commits.append(1)),
    ]
    for target, name, fn in listen:
        event.listen(target, name, fn)
    try:
        r = client.post("/v1/gestures", json={"events": batch(3)}, headers=bearer)
    finally:
        for target, name, fn in listen:
            event.remove(target, name, fn)
    assert r.status_code == 200 and r.json()["accepted"] == 3
    assert (len(checkouts), len(commits)) == (1, 1)


def test_the_caller_is_checked_before_the_body(client: TestClient, bearer: dict[str, str]) -> None:
    assert client.post("/v1/gestures", json={"events": []}).status_code == 401
    assert (
        client.post("/v1/gestures", json={"events": []}, headers={"Authorization": "Bearer ivp_nope"}).status_code
        == 401
    )
    r = client.post("/v1/gestures", json={"events": []}, headers=bearer)
    assert r.status_code == 422


def test_concurrent_posts_all_land(client: TestClient, ctx: VaultContext, bearer: dict[str, str]) -> None:
    """Many writers at once (queued on ``ctx.db.writer()`` on SQLite): every gesture is stored exactly once."""
    sent = [batch(1) for _ in range(12)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda events: client.post("/v1/gestures", json={"events": events}, headers=bearer), sent)
        )
    assert [r.status_code for r in answers] == [200] * 12
    assert sum(r.json()["accepted"] for r in answers) == 12
    with ctx.db.session() as s:
        stored = s.exec(select(Gesture.event_id)).all()
    assert sorted(stored) == sorted(events[0]["id"] for events in sent)


def test_times_are_stored_in_the_columns_own_form(ctx: VaultContext) -> None:
    """The gesture rows go to the driver without SQLAlchemy's bind processing: what the ORM reads back (and what
    the time filters compare against) is the instant that was sent, in UTC, to the microsecond."""
    alice = make_consumer(ctx)
    sent = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=3)
    event = {**batch(1)[0], "ts": sent.astimezone(timezone(timedelta(hours=2))).isoformat()}
    before = datetime.now(UTC)
    ingest(ctx, alice, [event])
    with ctx.db.session() as s:
        row = s.exec(select(Gesture).where(Gesture.event_id == event["id"])).one()
        assert row.ts == sent and row.ts.tzinfo is not None
        assert before - timedelta(seconds=5) <= row.received_at <= datetime.now(UTC)
        flt = service.GestureFilter(since=sent, until=sent + timedelta(microseconds=1))
        items, _ = service.list_gestures(session=s, ctx=ctx, account_id=alice, flt=flt, limit=10, cursor=None)
    assert [i["id"] for i in items] == [event["id"]]
