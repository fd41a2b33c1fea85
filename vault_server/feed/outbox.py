"""The webhook outbox: rows inserted in the same transaction as the change they announce, claimed by workers.

Claiming takes a lease (``leased_until``) in a short transaction; on PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` so several workers never claim the same message. A worker that dies mid-delivery
loses nothing: its lease expires and another worker retries (at-least-once; receivers dedupe on ``webhook-id``).
Failures back off exponentially (``BACKOFF_BASE * 2**(attempt-1)``, capped, with jitter) until
``MAX_ATTEMPTS``, then the message is ``dead`` until someone replays it.

Order: the messages of one (endpoint, subject) are sent in the order they were enqueued (``seq``), one after the
other. Only the oldest pending message of a subject (its *head*) can be claimed on its own; whoever holds the head
also takes up to ``CHAIN - 1`` of the messages right behind it and sends them in order, stopping at the first that
fails (the rest are released untried). A head backing off holds its subject at that endpoint — nothing else — until
it is delivered or dead.

Cost: the claim walks the due messages in (next_attempt_at, seq) order and probes the partial index
``ix_webhook_delivery_pending_order`` once for each ("is there an earlier pending one?") until it has ``limit``
heads. Messages blocked behind a head that is in flight are due too, so a backlog concentrated on few subjects costs
one probe per blocked message and claim (about 10 µs each on PostgreSQL); a head that fails moves the messages
queued behind it to its next attempt time (``finish_many``), so they leave the due set while it backs off.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from vault_server.db import utcnow
from vault_server.errors import NotFound
from vault_server.feed.models import DELIVERY_TABLE, ENDPOINT_TABLE, WebhookDelivery

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=6)
LEASE = timedelta(seconds=60)
#: messages of one subject one claim may take (its head and the ones right behind it). They are sent one after the
#: other, so CHAIN x the request timeout (10 s) must stay well inside LEASE.
CHAIN = 4
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


def _free(when: datetime) -> Any:
    return or_(col(WebhookDelivery.leased_until).is_(None), col(WebhookDelivery.leased_until) < when)


def claim(
    session: Session, *, limit: int = 50, now: datetime | None = None, chain: int = CHAIN
) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due messages to this worker (commit right after); returned in enqueue order.

    1. The heads: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` over due, unleased messages
       with no earlier *pending* message of the same (endpoint, subject) — leased, backing off or not yet due all
       count, so a subject is never in two workers' hands and a newer message never overtakes an older one. On
       PostgreSQL concurrent workers skip each other's rows; on SQLite the UPDATE holds the write lock.
    2. Behind each head, up to ``chain - 1`` more of its subject's pending messages, in order, while they are due
       and unleased. Nobody else can claim those (their head is pending), so no SKIP LOCKED is needed.

    Messages without a subject (``webhook.test``) are not ordered. The lease value is unique to this claim, so each
    row says whose it is (``finish_many`` checks it)."""
    when = now or utcnow()
    free = _free(when)
    earlier = aliased(WebhookDelivery)
    blocked = exists(
        select(literal(1)).where(
            col(earlier.status) == PENDING,
            col(earlier.endpoint_id) == col(WebhookDelivery.endpoint_id),
            col(earlier.subject) == col(WebhookDelivery.subject),
            col(earlier.seq) < col(WebhookDelivery.seq),
        )
    )
    due = (
        select(col(WebhookDelivery.id))
        .where(col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= when, free, ~blocked)
        # next_attempt_at alone, as the due index is ordered: the scan stops at ``limit`` heads (a second sort key
        # made PostgreSQL probe and sort every due row first: 3x the claim time with nothing blocked)
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    lease = (when + LEASE).replace(microsecond=secrets.randbelow(1_000_000))
    won = list(
        session.scalars(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(due.scalar_subquery()), free)
            .values(leased_until=lease)
            .returning(WebhookDelivery),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).all()
    )
    room = limit - len(won)
    heads: dict[tuple[str, str | None], int] = {
        (r.endpoint_id, r.subject): r.seq for r in won if r.subject is not None and r.seq is not None
    }
    if heads and room > 0 and chain > 1:
        won.extend(_claim_followers(session, heads=heads, room=room, chain=chain, when=when, lease=lease))
    return sorted(won, key=lambda r: (r.seq or 0, r.id))


def _claim_followers(
    session: Session,
    *,
    heads: dict[tuple[str, str | None], int],
    room: int,
    chain: int,
    when: datetime,
    lease: datetime,
) -> list[WebhookDelivery]:
    """The pending messages right behind the claimed heads (step 2 of :func:`claim`). One query in ``seq`` order
    over the heads' subjects: for each subject what it returns is a prefix of that subject's queue, so taking
    rows while they are due and unleased keeps the order."""
    rows = session.execute(
        select(
            col(WebhookDelivery.id),
            col(WebhookDelivery.endpoint_id),
            col(WebhookDelivery.subject),
            col(WebhookDelivery.seq),
            col(WebhookDelivery.next_attempt_at),
            col(WebhookDelivery.leased_until),
        )
        .where(
            col(WebhookDelivery.status) == PENDING,
            tuple_(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.subject)).in_(list(heads)),
            col(WebhookDelivery.seq) > min(heads.values()),
        )
        .order_by(col(WebhookDelivery.seq))
        .limit(room + len(heads) * chain)
    ).all()
    taken: dict[tuple[str, str | None], list[str]] = {}
    stopped: set[tuple[str, str | None]] = set()
    wanted: list[str] = []
    for message_id, endpoint_id, subject, seq, next_at, leased in rows:
        key = (endpoint_id, subject)
        if key in stopped or seq <= heads[key]:
            continue
        if len(wanted) >= room or next_at > when or (leased is not None and leased >= when):
            stopped.add(key)
            continue
        taken.setdefault(key, []).append(message_id)
        wanted.append(message_id)
        if len(taken[key]) >= chain - 1:
            stopped.add(key)
    if not wanted:
        return []
    won = {
        r.id: r
        for r in session.scalars(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(wanted), col(WebhookDelivery.status) == PENDING, _free(when))
            .values(leased_until=lease)
            .returning(WebhookDelivery),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).all()
    }
    # a follower lost to a race (it should not happen: its head is ours) cuts its subject's chain there
    kept: list[WebhookDelivery] = []
    dropped: list[str] = []
    for ids in taken.values():
        gap = False
        for message_id in ids:
            if message_id not in won:
                gap = True
            elif gap:
                dropped.append(message_id)
            else:
                kept.append(won[message_id])
    if dropped:
        session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(dropped), col(WebhookDelivery.leased_until) == lease)
            .values(leased_until=None),
            execution_options={"synchronize_session": False},
        )
    return kept


def backoff(attempt: int) -> timedelta:
    """Delay before retry number ``attempt`` (1-based): exponential, capped, with up to 10% jitter."""
    base: timedelta = min(BACKOFF_BASE * (2 ** max(0, attempt - 1)), BACKOFF_CAP)
    jitter_ms = secrets.randbelow(int(base.total_seconds() * 100) + 1)  # up to 10% of the delay
    return base + timedelta(milliseconds=jitter_ms)


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message: delivered (``ok``), skipped, failed (retried later), or ``held``: not
    tried, because an earlier message of its subject failed in the same batch (released with no attempt counted)."""

    ok: bool
    status: int | None = None
    error: str | None = None
    skipped: bool = False
    held: bool = False


def finish(session: Session, *, message_id: str, outcome: Outcome, now: datetime | None = None) -> WebhookDelivery:
    """Record one attempt: delivered, skipped (nothing to send any more), retry later, dead, or held (not tried)."""
    when = now or utcnow()
    row = session.get(WebhookDelivery, message_id, populate_existing=True)
    if row is None:
        raise NotFound("no such delivery")
    row.leased_until = None
    if outcome.held:
        session.add(row)
        return row
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
    message another worker took over) cannot overwrite the newer state.

    A message that failed and will be retried holds its subject: the messages queued behind it (held in this
    batch or not claimed yet) are moved to its next attempt time, so the claim does not wade through them while it
    backs off (they could not be sent before it anyway)."""
    if not done:
        return
    when = now or utcnow()
    params: list[dict[str, Any]] = []
    pushes: list[dict[str, Any]] = []
    held_until: dict[tuple[str, str | None], datetime] = {}
    for row, outcome in sorted(done, key=lambda d: (d[0].seq or 0, d[0].id)):
        key = (row.endpoint_id, row.subject)
        attempts, status, next_at, delivered_at = row.attempts, PENDING, row.next_attempt_at, None
        last_status, last_error = outcome.status, (outcome.error or "")[:300] or None
        if outcome.held:
            next_at = max(next_at, held_until.get(key, next_at))
            last_status, last_error = row.last_status, row.last_error
        elif outcome.skipped:
            status = SKIPPED
        elif outcome.ok:
            attempts, status, delivered_at = attempts + 1, DELIVERED, when
        else:
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                status = DEAD
            else:
                next_at = when + backoff(attempts)
                if row.subject is not None and row.seq is not None and key not in held_until:
                    held_until[key] = next_at
                    pushes.append(
                        {
                            "p_id": row.id,
                            "p_endpoint": row.endpoint_id,
                            "p_subject": row.subject,
                            "p_seq": row.seq,
                            "p_next": next_at,
                        }
                    )
        params.append(
            {
                "b_id": row.id,
                "b_lease": row.leased_until,
                "b_status": status,
                "b_attempts": attempts,
                "b_next": next_at,
                "b_delivered": delivered_at,
                "b_last_status": last_status,
                "b_last_error": last_error,
            }
        )
    table = DELIVERY_TABLE
    connection = session.connection()
    connection.execute(
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
    if pushes:
        head = table.alias("head")
        p_next = bindparam("p_next", type_=table.c.next_attempt_at.type)
        connection.execute(
            update(table)
            .where(
                table.c.status == PENDING,
                table.c.endpoint_id == bindparam("p_endpoint"),
                table.c.subject == bindparam("p_subject"),
                table.c.seq > bindparam("p_seq"),
                table.c.next_attempt_at < p_next,
                table.c.leased_until.is_(None),
                # only when this worker's record of the failure stands (its lease had not run out)
                exists(
                    select(literal(1)).where(
                        head.c.id == bindparam("p_id"),
                        head.c.status == PENDING,
                        head.c.next_attempt_at == p_next,
                        head.c.leased_until.is_(None),
                    )
                ),
            )
            .values(next_attempt_at=p_next),
            pushes,
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
