"""Background work of the feed room: deliver the webhook outbox and stamp feed positions.

``run_once`` is one worker tick: stamp feed positions (PostgreSQL), claim due messages (a lease; ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of workers can run), then for each message: build + audit in one committed
transaction, send, record the outcome. Sends run in a small thread pool.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete
from sqlmodel import col

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import outbox, service, webhooks
from vault_server.feed.models import FeedChange, WebhookDelivery
from vault_server.feed.outbox import Outcome

log = logging.getLogger("vault.feed.worker")


@dataclass
class TickResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    stamped: int = 0


def _deliver_one(ctx: VaultContext, message_id: str, client: httpx.Client) -> Outcome:
    """Build, audit (committed) and send one message; the outcome is recorded by the caller."""
    try:
        with ctx.db.session() as s:
            prepared = webhooks.prepare(session=s, ctx=ctx, message_id=message_id)
    except Exception as exc:  # building or auditing failed: nothing was sent; retry later
        log.warning("webhook %s not prepared: %s", message_id, type(exc).__name__)
        outcome = Outcome(ok=False, error=f"prepare failed: {type(exc).__name__}")
    else:
        if prepared is None:
            outcome = Outcome(ok=False, skipped=True, error="nothing to send (grant ended or object gone)")
        else:
            outcome = webhooks.send(prepared, allow_private=ctx.settings.allow_private_webhooks, client=client)
    return outcome


def run_once(ctx: VaultContext, *, batch: int = 50, threads: int = 8, client: httpx.Client | None = None) -> TickResult:
    """One pass over the due outbox messages; returns what happened."""
    result = TickResult()
    with ctx.db.session() as s:
        result.stamped = service.stamp(s)
    with ctx.db.session() as s:
        claimed = [m.id for m in outbox.claim(s, limit=batch)]
    result.claimed = len(claimed)
    if not claimed:
        return result
    own = client is None
    http = client or httpx.Client(timeout=webhooks.TIMEOUT, follow_redirects=False)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(claimed)))) as pool:
            outcomes = list(pool.map(lambda m: _deliver_one(ctx, m, http), claimed))
    finally:
        if own:
            http.close()
    # one transaction records the batch; a crash before it commits re-sends (at-least-once, same webhook-id)
    with ctx.db.session() as s:
        for message_id, outcome in zip(claimed, outcomes, strict=True):
            outbox.finish(s, message_id=message_id, outcome=outcome)
    for o in outcomes:
        if o.skipped:
            result.skipped += 1
        elif o.ok:
            result.delivered += 1
        else:
            result.failed += 1
    return result


FEED_KEEP = timedelta(days=90)  # the longest retention a grant may ask for (policies/scopes.yaml)
DELIVERY_KEEP = timedelta(days=30)


def purge(ctx: VaultContext, *, now: datetime | None = None) -> tuple[int, int]:
    """Drop change-log rows older than ``FEED_KEEP`` and finished outbox rows older than ``DELIVERY_KEEP``;
    returns (feed rows, deliveries) removed. A cursor older than the purge still works: it resumes at the oldest
    remaining change (vendors that stay away longer than their retention have nothing left to keep anyway)."""
    when = now or utcnow()
    with ctx.db.session() as s:
        feed = s.execute(delete(FeedChange).where(col(FeedChange.created_at) < when - FEED_KEEP))
        sent = s.execute(
            delete(WebhookDelivery).where(
                col(WebhookDelivery.status).in_([outbox.DELIVERED, outbox.SKIPPED]),
                col(WebhookDelivery.created_at) < when - DELIVERY_KEEP,
            )
        )
    return int(getattr(feed, "rowcount", 0) or 0), int(getattr(sent, "rowcount", 0) or 0)


def run_forever(
    ctx: VaultContext, *, interval: float = 1.0, batch: int = 50, threads: int = 8, stop: threading.Event | None = None
) -> None:
    """Loop ``run_once`` until ``stop`` is set; sleeps ``interval`` seconds when there was nothing to do."""
    stop = stop or threading.Event()
    next_purge = 0.0
    with httpx.Client(timeout=webhooks.TIMEOUT, follow_redirects=False) as client:
        while not stop.is_set():
            if time.monotonic() >= next_purge:
                try:
                    purge(ctx)
                except Exception as exc:  # retried next hour
                    log.warning("purge failed: %s", type(exc).__name__)
                next_purge = time.monotonic() + 3600
            try:
                tick = run_once(ctx, batch=batch, threads=threads, client=client)
            except Exception as exc:  # keep the worker alive across database hiccups
                log.error("worker tick failed: %s", type(exc).__name__)
                tick = TickResult()
            if tick.claimed:
                log.info("webhooks: %d delivered, %d failed, %d skipped", tick.delivered, tick.failed, tick.skipped)
            if tick.claimed < batch:
                stop.wait(interval)
            else:
                time.sleep(0)
