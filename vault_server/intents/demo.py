"""Demo data of the intents room: a week of a consumer shopping for a TV and browsing running shoes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlmodel import select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.intents import service
from vault_server.intents.models import Gesture
from vault_server.intents.schemas import IntentIn
from vault_server.signals import history

DEMO_NAMESPACE = uuid.UUID("6f1c2d8e-2b1a-4c55-9d0e-8a7b3f1e9c21")


def _event(n: int, type_: str, hours_ago: float, origin: str, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(DEMO_NAMESPACE, f"demo-{n}")),  # stable ids: re-seeding stores nothing twice
        "type": type_,
        "ts": (utcnow() - timedelta(hours=hours_ago)).isoformat(),
        "origin": origin,
        "path": path,
        **extra,
    }


def demo_events() -> list[dict[str, Any]]:
    tv = {"name": 'Samsung 65" QLED 4K Smart TV QE65Q80C', "brand": "Samsung", "price": 899.0, "currency": "EUR"}
    tv2 = {"name": "LG OLED65C36LC 65 inch OLED TV", "brand": "LG", "price": 1299.0, "currency": "EUR"}
    shoe = {"name": "Nike Pegasus 41 road running shoes", "brand": "Nike", "price": 139.99, "currency": "EUR"}
    shop, other = "https://electro.example", "https://tv-store.example"
    return [
        _event(1, "search", 150, "https://search.example", "/search", query="65 inch tv"),
        _event(2, "product_view", 149.5, shop, "/p/{id}", product=tv, dwell_ms=95_000, scroll=0.8),
        _event(3, "product_view", 149, other, "/tv/{id}", product=tv2, dwell_ms=60_000, scroll=0.6),
        _event(4, "review_read", 100, shop, "/p/{id}/reviews", product=tv, dwell_ms=120_000),
        _event(5, "compare", 99, shop, "/compare", product=tv),
        _event(6, "product_view", 50, shop, "/p/{id}", product=tv, dwell_ms=70_000, scroll=0.9),
        _event(7, "cart_add", 49.5, shop, "/cart", product=tv),
        _event(8, "product_view", 30, "https://runshop.example", "/p/{id}", product=shoe, dwell_ms=20_000),
        _event(9, "search", 29, "https://runshop.example", "/search", query="trail running shoes"),
    ]


def seed(ctx: VaultContext, consumer: Account) -> Iterator[str]:
    """Seed the demo consumer's gestures and one declared intent (idempotent)."""
    with ctx.db.session() as s:
        result = service.ingest(session=s, ctx=ctx, account_id=consumer.id, events=demo_events())
        has_intent = bool(service.list_intents(session=s, ctx=ctx, account_id=consumer.id))
        if not has_intent:
            service.create_intent(
                session=s,
                ctx=ctx,
                account_id=consumer.id,
                body=IntentIn(
                    category="electronics.tv",
                    text="65-inch TV for the living room, wall-mountable",
                    budget_max=1000,
                    currency="EUR",
                    timeframe_days=14,
                    must_haves=["HDMI 2.1"],
                ),
            )
        history.replay_days(session=s, ctx=ctx, account_id=consumer.id, events=demo_events(), days=7)
        total = len(s.exec(select(Gesture.id).where(Gesture.account_id == consumer.id)).all())
    yield f"  demo consumer: {total} recorded gestures ({result.accepted} new), a declared intent for a TV"
