"""The webhook outbox: rows inserted in the same transaction as the change they announce, claimed by workers.

Claiming takes a lease (``leased_until``) in a short transaction; on PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` so several workers never claim the same message. A worker that dies mid-delivery
loses nothing: its lease expires and another worker retries (at-least-once; receivers dedupe on ``webhook-id``).
Failures back off exponentially (``BACKOFF_BASE * 2**(attempt-1)``, capped, with jitter) until
``MAX_ATTEMPTS``, then the message is ``dead`` until someone replays it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlmodel import Session, col

from vault_server.db import utcnow
from vault_server.errors import NotFound
from vault_server.feed.models import DELIVERY_TABLE, ENDPOINT_TABLE, WebhookDelivery

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=6)
LEASE = timedelta(seconds=60)
PENDING, DELIVERED, DEAD, SKIPPED = "pending", "delivered", "dead", "skipped"


def new_message_id() -> str:
    """A Standard Webhooks message id (stable across retries of one message)."""
    return "msg_" + secrets.token_urlsafe(18)


def enqueue(
    conn: Connection,
    *,
    vendor_id: str,
    event_type: str,
    subject: str | None,
    grant_id: str | None,
    ref_id: str | None,
    now: datetime | None = None,
) -> int:
    """One outbox row per enabled endpoint of the vendor subscribed to ``event_type``; returns how many."""
    endpoints = conn.execute(
        select(ENDPOINT_TABLE.c.id, ENDPOINT_TABLE.c.events).where(
            ENDPOINT_TABLE.c.vendor_id == vendor_id, ENDPOINT_TABLE.c.enabled.is_(True)
        )
    ).all()
    # a narrowing also reaches endpoints that subscribed to signal updates: they hold what was withdrawn
    also = {"grant.narrowed": "signal.updated"}.get(event_type)
    wanted = [row[0] for row in endpoints if event_type in (row[1] or []) or (also and also in (row[1] or []))]
    if not wanted:
        return 0
    when = now or utcnow()
    conn.execute(
        insert(DELIVERY_TABLE),
        [
            {
                "id": new_message_id(),
                "endpoint_id": endpoint_id,
                "vendor_id": vendor_id,
                "event_type": event_type,
                "subject": subject,
                "grant_id": grant_id,
                "ref_id": ref_id,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": when,
                "created_at": when,
            }
            for endpoint_id in wanted
        ],
    )
    return len(wanted)


TEST_EVENT = "webhook.test"


def enqueue_test(session: Session, *, vendor_id: str, endpoint_id: str) -> str:
    """Queue a ``webhook.test`` message for one endpoint of the vendor (sent like any other, shown in the
    delivery log); returns its message id."""
    when = utcnow()
    message_id = new_message_id()
    session.execute(
        insert(DELIVERY_TABLE).values(
            id=message_id,
            endpoint_id=endpoint_id,
            vendor_id=vendor_id,
            event_type=TEST_EVENT,
            subject=None,
            grant_id=None,
            ref_id=None,
            status=PENDING,
            attempts=0,
            next_attempt_at=when,
            created_at=when,
        )
    )
    return message_id


def claim(session: Session, *, limit: int = 50, now: datetime | None = None) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due messages to this worker in one statement (commit right after):
    ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``. On PostgreSQL concurrent workers skip
    each other's rows; on SQLite the UPDATE holds the write lock, so two processes cannot both win a row. The lease
    value is unique to this claim, so each row says whose it is (``finish_many`` checks it)."""
    when = now or utcnow()
    free = or_(col(WebhookDelivery.leased_until).is_(None), col(WebhookDelivery.leased_until) < when)
    due = (
        select(col(WebhookDelivery.id))
        .where(col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= when, free)
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    lease = (when + LEASE).replace(microsecond=secrets.randbelow(1_000_000))
    won = session.scalars(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(due.scalar_subquery()), free)
        .values(leased_until=lease)
        .returning(WebhookDelivery),
        execution_options={"synchronize_session": False, "populate_existing": True},
    ).all()
    return sorted(won, key=lambda r: (r.next_attempt_at, r.id))


def backoff(attempt: int) -> timedelta:
    """Delay before retry number ``attempt`` (1-based): exponential, capped, with up to 10% jitter."""
    base: timedelta = min(BACKOFF_BASE * (2 ** max(0, attempt - 1)), BACKOFF_CAP)
    jitter_ms = secrets.randbelow(int(base.total_seconds() * 100) + 1)  # up to 10% of the delay
    return base + timedelta(milliseconds=jitter_ms)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None
    skipped: bool = False


def finish(session: Session, *, message_id: str, outcome: Outcome, now: datetime | None = None) -> WebhookDelivery:
    """Record one attempt: delivered, skipped (nothing to send any more), retry later, or dead."""
    when = now or utcnow()
    row = session.get(WebhookDelivery, message_id, populate_existing=True)
    if row is None:
        raise NotFound("no such delivery")
    row.leased_until = None
    row.last_status = outcome.status
    row.last_error = (outcome.error or "")[:300] or None
    if outcome.skipped:
        row.status = SKIPPED
    elif outcome.ok:
        row.attempts += 1
        row.status = DELIVERED
        row.delivered_at = when
    else:
        row.attempts += 1
        if row.attempts >= MAX_ATTEMPTS:
            row.status = DEAD
        else:
            row.next_attempt_at = when + backoff(row.attempts)
    session.add(row)
    return row


def finish_many(
    session: Session, *, done: Sequence[tuple[WebhookDelivery, Outcome]], now: datetime | None = None
) -> None:
    """Record one attempt for each claimed message (as :func:`finish` does) in one executemany UPDATE. Each
    update is conditional on the claim's lease still being on the row, so a worker whose lease ran out (and whose
    message another worker took over) cannot overwrite the newer state."""
    if not done:
        return
    when = now or utcnow()
    params: list[dict[str, Any]] = []
    for row, outcome in done:
        attempts, status, next_at, delivered_at = row.attempts, PENDING, row.next_attempt_at, None
        if outcome.skipped:
            status = SKIPPED
        elif outcome.ok:
            attempts, status, delivered_at = attempts + 1, DELIVERED, when
        else:
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                status = DEAD
            else:
                next_at = when + backoff(attempts)
        params.append(
            {
                "b_id": row.id,
                "b_lease": row.leased_until,
                "b_status": status,
                "b_attempts": attempts,
                "b_next": next_at,
                "b_delivered": delivered_at,
                "b_last_status": outcome.status,
                "b_last_error": (outcome.error or "")[:300] or None,
            }
        )
    table = DELIVERY_TABLE
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.leased_until == bindparam("b_lease"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            delivered_at=func.coalesce(bindparam("b_delivered", type_=table.c.delivered_at.type), table.c.delivered_at),
            last_status=bindparam("b_last_status"),
            last_error=bindparam("b_last_error"),
            leased_until=None,
        ),
        params,
    )


def replay(session: Session, *, vendor_id: str, message_id: str) -> WebhookDelivery:
    """Send a dead (or delivered) message again from attempt 0, now; returns it."""
    row = session.get(WebhookDelivery, message_id)
    if row is None or row.vendor_id != vendor_id:
        raise NotFound("no such delivery")
    row.status = PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.leased_until = None
    session.add(row)
    return row


def replay_dead(session: Session, *, vendor_id: str, endpoint_id: str | None = None) -> int:
    """Replay every dead message of the vendor (optionally of one endpoint); returns how many."""
    conds = [col(WebhookDelivery.vendor_id) == vendor_id, col(WebhookDelivery.status) == DEAD]
    if endpoint_id:
        conds.append(col(WebhookDelivery.endpoint_id) == endpoint_id)
    result = session.execute(
        update(WebhookDelivery)
        .where(and_(*conds))
        .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), leased_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def list_for_vendor(
    session: Session, *, vendor_id: str, status: str | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(col(WebhookDelivery.vendor_id) == vendor_id)
    if status:
        query = query.where(col(WebhookDelivery.status) == status)
    return list(session.scalars(query.order_by(col(WebhookDelivery.created_at).desc()).limit(limit)).all())
