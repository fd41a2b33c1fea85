"""Scale-out that runs: two API processes (real uvicorn servers) and two webhook workers on one PostgreSQL schema,
consumers ingesting through both servers while a vendor follows its feed through both and the workers deliver.
Nothing may be lost or doubled: gestures, feed items, audit leaves, webhook deliveries."""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from vault_server.accounts import service as accounts
from vault_server.audit import service as audit
from vault_server.audit.check import run_check
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.feed.models import FeedChange, WebhookDelivery
from vault_server.intents.models import Gesture

from ..api.test_feed import audit_entries
from ..api.test_feed_support import detail, make_consumer, make_grant, make_vendor, receiver
from .support import (
    api_urls,
    needs_postgres,
    process_env,
    processes,
    serve_command,
    wait_healthy,
    worker_command,
)

pytestmark = needs_postgres
CONSUMERS = 4
BATCHES = 3  # gesture batches per consumer, each posted to both servers (the second post is a client retry)


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def gestures(n: int, minutes_ago: int) -> list[dict[str, Any]]:
    ts = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "product_view",
            "ts": ts,
            "origin": "https://shop.example",
            "path": "/p/{id}",
            "category": "electronics.tv",
            "product": {"name": "65 inch TV", "brand": "Acme", "price": 899.0, "currency": "EUR"},
        }
        for _ in range(n)
    ]


def test_two_servers_and_two_workers_lose_and_double_nothing(ctx: VaultContext, settings: Settings) -> None:
    vendor, secret = make_vendor(ctx)
    auth = (vendor, secret)
    servers = api_urls(2)
    urls = [u for _, u in servers]
    env = process_env(settings)
    commands = [serve_command(p) for p, _ in servers] + [worker_command(), worker_command()]
    with receiver() as rx, processes(commands, env) as procs:
        wait_healthy(urls, procs)
        r = httpx.post(urls[0] + "/v1/webhooks", json={"url": rx.url, "events": ["grant.created", "signal.updated"]},
                       auth=auth)  # fmt: skip
        assert r.status_code == 201, r.text
        tokens: dict[str, str] = {}
        for _ in range(CONSUMERS):
            account_id = make_consumer(ctx)
            make_grant(ctx, account_id, vendor, [detail(["electronics"], ["stage", "score"])])
            with ctx.db.session() as s:
                token, _ = accounts.issue_api_token(
                    session=s, account_id=account_id, name="t", scopes=["gestures:write"]
                )
            tokens[account_id] = token

        posted: dict[str, set[str]] = {a: set() for a in tokens}
        retried: list[dict[str, Any]] = []
        errors: list[str] = []

        def ingest(account_id: str, token: str, first: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(timeout=30) as http:
                for b in range(BATCHES):
                    batch = gestures(3, minutes_ago=30 - b)
                    primary, retry = urls[(first + b) % 2], urls[(first + b + 1) % 2]
                    one = http.post(primary + "/v1/gestures", json={"events": batch}, headers=headers)
                    two = http.post(retry + "/v1/gestures", json={"events": batch}, headers=headers)
                    if one.status_code != 200 or two.status_code != 200:
                        errors.append(f"{one.status_code} {two.status_code}: {one.text[:200]} {two.text[:200]}")
                        return
                    posted[account_id].update(e["id"] for e in batch)
                    retried.append(two.json())

        items: list[dict[str, Any]] = []
        pages: list[tuple[str, int]] = []
        done = threading.Event()

        def follow() -> None:
            """The vendor follows its feed one change per page, alternating servers, until ingest is over and
            the feed is drained."""
            cursor: str | None = None
            with httpx.Client(timeout=30, auth=auth) as http:
                for n in itertools.count():
                    finished = done.is_set()
                    base = urls[n % 2]
                    params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
                    r = http.get(base + "/v1/feed", params=params)
                    if r.status_code != 200:
                        errors.append(f"feed {r.status_code}: {r.text[:200]}")
                        return
                    body = r.json()
                    items.extend(body["items"])
                    pages.append((base, len(body["items"])))
                    cursor = body["next_cursor"]
                    if finished and not body["has_more"] and not body["items"]:
                        return

        reader = threading.Thread(target=follow)
        writers = [threading.Thread(target=ingest, args=(a, t, i)) for i, (a, t) in enumerate(tokens.items())]
        reader.start()
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        done.set()
        reader.join(timeout=120)
        assert not reader.is_alive() and errors == [], errors

        # the workers drain the outbox on their own
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while True:
            with ctx.db.session() as s:
                left = s.scalar(
                    select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
                )
            if left == 0 or datetime.now(UTC) > deadline:
                break
            threading.Event().wait(0.2)
        assert left == 0, f"{left} deliveries still pending"
        received = [req["headers"]["webhook-id"] for req in rx.requests]

    # gestures: every one stored once; the retry through the other server found them all
    with ctx.db.session() as s:
        for account_id, ids in posted.items():
            stored = s.exec(select(Gesture.event_id).where(Gesture.account_id == account_id)).all()
            assert sorted(stored) == sorted(ids)
    assert all(r["accepted"] == 0 and r["duplicate"] == 3 for r in retried)
    assert len(posted) == CONSUMERS and all(len(ids) == 3 * BATCHES for ids in posted.values())

    # feed: one change per page, in order, every change of the log exactly once, read through both servers
    with ctx.db.session() as s:
        positions = sorted(p for p in s.exec(select(FeedChange.pos).where(FeedChange.vendor_id == vendor)).all() if p)
        changes = s.scalar(select(func.count()).select_from(FeedChange).where(FeedChange.vendor_id == vendor))
    assert len(positions) == changes  # everything stamped
    assert [i["pos"] for i in items] == positions
    assert {i["type"] for i in items} == {"grant.created", "signal.updated"}
    assert {base for base, n in pages if n} == set(urls)

    # deliveries: every outbox message reached the receiver exactly once
    with ctx.db.session() as s:
        rows = s.exec(select(WebhookDelivery)).all()
    assert sorted(received) == sorted(r.id for r in rows)
    assert {r.status for r in rows} == {"delivered"}
    assert len(rows) == len(positions)  # one message per change (the endpoint wants both kinds)

    # audit: one leaf per data item read and per signal delivery, and the log verifies
    data_items = [i for i in items if "signals" in i]
    assert len(audit_entries(ctx, "vendor.read")) == len(data_items)
    assert len(audit_entries(ctx, "webhook.delivered")) == sum(1 for r in rows if r.event_type == "signal.updated")
    with ctx.db.session() as s:
        audit.make_sth(session=s, ctx=ctx)
    report = run_check(ctx)
    assert report.ok, report
