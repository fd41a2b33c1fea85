"""The signals room's reads of signal state: ``signals_for_many`` answers many consumers in one query and agrees
with ``signals_for`` asked one consumer at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from vault_server.accounts import service as accounts
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.intents import service as intents
from vault_server.signals.service import signals_for, signals_for_many

PRODUCTS = {
    "electronics.tv": {"name": "Samsung 65 inch QLED 4K Smart TV", "brand": "Samsung", "price": 899.0},
    "electronics.headphones": {"name": "Sony WH-1000XM5 wireless headphones", "brand": "Sony", "price": 349.0},
}


def _event(type_: str, category: str, minutes_ago: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "ts": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "origin": "https://shop.example",
        "path": "/p/{id}",
        "product": {**PRODUCTS[category], "currency": "EUR"},
    }


def _consumer(ctx: VaultContext, n: int, plan: list[tuple[str, str]]) -> str:
    """A consumer with the gestures of ``plan`` ((type, category) pairs) ingested; returns its account id."""
    with ctx.db.session() as s:
        account = accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"c{n}@example.com", password="pw-long-enough-1"
        )
        account_id = account.id
    if plan:
        with ctx.db.session() as s:
            events = [_event(t, c, 60 - i) for i, (t, c) in enumerate(plan)]
            result = intents.ingest(session=s, ctx=ctx, account_id=account_id, events=events)
            assert result.accepted == len(plan)
    return account_id


@pytest.fixture
def population(ctx: VaultContext) -> list[str]:
    return [
        _consumer(ctx, 0, [("product_view", "electronics.tv"), ("cart_add", "electronics.tv")]),
        _consumer(ctx, 1, [("product_view", "electronics.headphones"), ("product_view", "electronics.tv")]),
        _consumer(ctx, 2, [("purchase", "electronics.headphones")]),
        _consumer(ctx, 3, []),  # no signals at all
    ]


@contextmanager
def _statements(ctx: VaultContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)


def test_many_equals_one_at_a_time(ctx: VaultContext, population: list[str]) -> None:
    now = utcnow()
    asks: dict[str, set[str] | None] = {
        population[0]: None,
        population[1]: {"electronics.tv"},
        population[2]: {"electronics.headphones", "electronics.tv"},
        population[3]: None,
    }
    with ctx.db.session() as s:
        many = signals_for_many(session=s, ctx=ctx, wanted=asks, now=now)
        one_by_one = {a: signals_for(session=s, ctx=ctx, account_id=a, categories=c, now=now) for a, c in asks.items()}
    assert many == one_by_one
    assert [x["category"] for x in many[population[0]]] == ["electronics.tv"]
    assert [x["category"] for x in many[population[1]]] == ["electronics.tv"]  # the headphones was not asked for
    assert [x["category"] for x in many[population[2]]] == ["electronics.headphones"]
    assert many[population[3]] == []
    both = many[population[0]][0]
    assert both["brands"] == ["Samsung"] and both["price_band"] == "500-1000 EUR"


def test_unasked_categories_and_accounts_stay_out(ctx: VaultContext, population: list[str]) -> None:
    with ctx.db.session() as s:
        many = signals_for_many(
            session=s, ctx=ctx, wanted={population[0]: set(), population[1]: {"electronics.headphones"}}
        )
    assert set(many) == {population[0], population[1]}
    assert many[population[0]] == []
    assert [x["category"] for x in many[population[1]]] == ["electronics.headphones"]


def test_many_consumers_cost_one_state_query(ctx: VaultContext, population: list[str]) -> None:
    with ctx.db.session() as s, _statements(ctx) as seen:
        many = signals_for_many(session=s, ctx=ctx, wanted=dict.fromkeys(population))
    assert sum(len(v) for v in many.values()) == 4
    assert sum("signal_state" in q for q in seen) == 1
    assert sum("data_key" in q for q in seen) == 1  # every consumer's data key in one query too
