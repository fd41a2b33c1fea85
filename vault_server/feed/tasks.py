"""Background work of the feed room: deliver the webhook outbox and stamp feed positions.

A worker tick: stamp feed positions (PostgreSQL), claim up to ``batch`` due messages (a lease; ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of workers can run side by side; on SQLite the claim is a conditional
UPDATE and one worker is the sensible setup), build every payload of the batch and write its audit entries in
one committed transaction, send them concurrently (``concurrency`` requests in flight on one event loop, a bounded
keep-alive pool) except that the messages of one (endpoint, subject) go one after the other in enqueue order, then
record every outcome in one statement.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import delete
from sqlmodel import col

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import outbox, service, ssrf, webhooks
from vault_server.feed.models import FeedChange, WebhookDelivery
from vault_server.feed.outbox import Outcome

log = logging.getLogger("vault.feed.worker")
BATCH = 200
CONCURRENCY = 64


@dataclass
class TickResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0  # not tried: an earlier message of the same subject failed in this batch
    stamped: int = 0


@dataclass
class _Claimed:
    """A claimed batch: its rows in enqueue order, grouped into chains (the messages of one endpoint and subject,
    oldest first; a message without a subject is a chain of its own), and every message built."""

    result: TickResult
    rows: list[WebhookDelivery]
    chains: list[list[int]] = field(default_factory=list)
    built: list[webhooks.Built] = field(default_factory=list)


def _chains(rows: list[WebhookDelivery]) -> list[list[int]]:
    chains: dict[object, list[int]] = {}
    for i, row in enumerate(rows):
        key: object = (row.endpoint_id, row.subject) if row.subject is not None else i
        chains.setdefault(key, []).append(i)
    return list(chains.values())


def _claim_and_prepare(ctx: VaultContext, batch: int) -> _Claimed:
    """Stamp, claim and build (audits committed) in three short transactions; nothing is sent yet."""
    result = TickResult()
    with ctx.db.session() as s:
        result.stamped = service.stamp(s)
    with ctx.db.session() as s:
        rows = outbox.claim(s, limit=batch)
    result.claimed = len(rows)
    if not rows:
        return _Claimed(result, [])
    try:
        with ctx.db.session() as s:
            built = webhooks.prepare_batch(session=s, ctx=ctx, messages=rows)
    except Exception as exc:  # building or auditing failed: nothing was sent; the batch is retried later
        log.warning("webhook batch not prepared: %s", type(exc).__name__)
        built = [webhooks.Failed(f"prepare failed: {type(exc).__name__}") for _ in rows]
    return _Claimed(result, rows, _chains(rows), built)


def _outcome(built: webhooks.Built) -> Outcome:
    if isinstance(built, webhooks.Skip):
        return Outcome(ok=False, skipped=True, error=built.reason)
    assert isinstance(built, webhooks.Failed)
    return Outcome(ok=False, error=built.error)


async def _send(
    claimed: _Claimed, *, allow_private: bool, http: aiohttp.ClientSession, concurrency: int
) -> list[Outcome]:
    """Send the batch in rounds: round k sends the k-th message of every chain still going, side by side, so a
    message is sent only after the one before it in its chain was answered ``2xx`` (or skipped). After a failure
    the rest of its chain is ``held``: not sent, no attempt counted (its payload was built and audited with the
    batch, before anything was sent: an audit entry means the data may have left, never the reverse)."""
    built = claimed.built
    outcomes: dict[int, Outcome] = {}
    targets: dict[str, ssrf.Target | str] = {}  # each URL checked once per batch
    for depth in range(max((len(c) for c in claimed.chains), default=0)):
        going = [
            chain[depth]
            for chain in claimed.chains
            if depth < len(chain) and (depth == 0 or _passed(outcomes.get(chain[depth - 1])))
        ]
        if not going:
            break
        ready = {i: b for i in going if isinstance(b := built[i], webhooks.Prepared)}
        sent = await webhooks.send_many(
            list(ready.values()), allow_private=allow_private, http=http, concurrency=concurrency, targets=targets
        )
        outcomes.update(zip(ready, sent, strict=True))
        outcomes.update((i, _outcome(built[i])) for i in going if i not in outcomes)
    return [outcomes.get(i) or Outcome(ok=False, held=True) for i in range(len(claimed.rows))]


def _passed(outcome: Outcome | None) -> bool:
    """The previous message of a chain went through (None: it was not sent either, the chain stopped earlier)."""
    return outcome is not None and (outcome.ok or outcome.skipped)


def _finish(ctx: VaultContext, claimed: _Claimed, outcomes: list[Outcome]) -> TickResult:
    # one statement records the batch; a crash before it commits re-sends (at-least-once, same webhook-id)
    with ctx.db.session() as s:
        outbox.finish_many(s, done=list(zip(claimed.rows, outcomes, strict=True)))
    result = claimed.result
    for o in outcomes:
        if o.held:
            result.held += 1
        elif o.skipped:
            result.skipped += 1
        elif o.ok:
            result.delivered += 1
        else:
            result.failed += 1
    return result


async def tick(
    ctx: VaultContext, *, http: aiohttp.ClientSession, batch: int = BATCH, concurrency: int = CONCURRENCY
) -> TickResult:
    """One pass over up to ``batch`` due messages on a running event loop (database work in a thread)."""
    claimed = await asyncio.to_thread(_claim_and_prepare, ctx, batch)
    if not claimed.rows:
        return claimed.result
    outcomes = await _send(
        claimed, allow_private=ctx.settings.allow_private_webhooks, http=http, concurrency=concurrency
    )
    return await asyncio.to_thread(_finish, ctx, claimed, outcomes)


def run_once(ctx: VaultContext, *, batch: int = BATCH, concurrency: int = CONCURRENCY) -> TickResult:
    """One pass over the due outbox messages (its own event loop and connection pool); returns what happened."""

    async def run() -> TickResult:
        async with webhooks.http_session(concurrency=concurrency) as http:
            return await tick(ctx, http=http, batch=batch, concurrency=concurrency)

    return asyncio.run(run())


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
    ctx: VaultContext,
    *,
    interval: float = 1.0,
    batch: int = BATCH,
    concurrency: int = CONCURRENCY,
    stop: threading.Event | None = None,
) -> None:
    """Tick until ``stop`` is set, on one event loop with one keep-alive pool; sleeps ``interval`` seconds when
    there was nothing to do, purges old rows hourly."""
    stop = stop or threading.Event()
    asyncio.run(_forever(ctx, interval=interval, batch=batch, concurrency=concurrency, stop=stop))


async def _forever(ctx: VaultContext, *, interval: float, batch: int, concurrency: int, stop: threading.Event) -> None:
    """The worker loop. After a full batch more is probably due, so the next batch is claimed and built (in a
    thread) while this one is on the wire; on stop, a batch already claimed is still sent and recorded. It sleeps
    only after a claim that found nothing."""
    next_purge = 0.0
    ahead: asyncio.Future[_Claimed] | None = None
    async with webhooks.http_session(concurrency=concurrency) as http:
        while not stop.is_set() or ahead is not None:
            if ahead is None and time.monotonic() >= next_purge:
                try:
                    await asyncio.to_thread(purge, ctx)
                except Exception as exc:  # retried next hour
                    log.warning("purge failed: %s", type(exc).__name__)
                next_purge = time.monotonic() + 3600
            early = ahead is not None  # claimed while the previous batch was still on the wire
            try:
                claimed = await (ahead or asyncio.to_thread(_claim_and_prepare, ctx, batch))
            except Exception as exc:  # keep the worker alive across database hiccups
                log.error("worker claim failed: %s", type(exc).__name__)
                claimed = _Claimed(TickResult(), [])
            ahead = None
            if len(claimed.rows) == batch and not stop.is_set():
                ahead = asyncio.ensure_future(asyncio.to_thread(_claim_and_prepare, ctx, batch))
            result = claimed.result
            if claimed.rows:
                try:
                    outcomes = await _send(
                        claimed,
                        allow_private=ctx.settings.allow_private_webhooks,
                        http=http,
                        concurrency=concurrency,
                    )
                    result = await asyncio.to_thread(_finish, ctx, claimed, outcomes)
                except Exception as exc:  # the leases expire and another tick retries: nothing is lost
                    log.error("worker tick failed: %s", type(exc).__name__)
            if result.claimed:
                log.info(
                    "webhooks: %d delivered, %d failed, %d skipped, %d held",
                    result.delivered,
                    result.failed,
                    result.skipped,
                    result.held,
                )
            # a short batch does not mean the queue is empty: the messages queued behind this batch's subjects were
            # not claimable until it was recorded (nor by a claim made while it was on the wire); only an empty
            # claim made after the last batch was recorded means there is nothing due
            if result.claimed == 0 and ahead is None and not early:
                await asyncio.to_thread(stop.wait, interval)
