"""What the consent screen promises is what the vendor gets, on both channels (feed and webhooks).

- **Frequency.** A grant whose ``authorization_details`` say ``daily`` or ``weekly`` (the most restrictive entry
  wins) is not told of every signal change: a change marks its :class:`FeedDigest` due at the end of the period
  since the last announcement, and :func:`release_due` announces one ``signal.updated`` then. ``realtime`` grants
  are announced at once. Narrowing, revocation and consent itself are always announced at once.
- **Anonymous intentcasts** reach their vendors in batches at fixed boundaries (every ``ANONYMOUS_BATCH``), all
  casts of a batch in one transaction and in random order, so a vendor cannot link an anonymous cast by time to the
  same consumer's pseudonymous cast (sent at once) or order the casts of a batch by when they were made.

:func:`release_loop` runs :func:`release_due` in every server process; each release claims its rows with a
conditional UPDATE, so N processes never announce the same thing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed.models import CastRecipient, FeedDigest, Intentcast
from vault_server.grants.models import Grant

log = logging.getLogger("vault.feed")

PERIODS: dict[str, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
#: anonymous intentcasts go out at multiples of this interval (since the epoch, UTC)
ANONYMOUS_BATCH = timedelta(minutes=10)
#: how often the release job looks
POLL_SECONDS = 30.0
ANONYMOUS = ""  # the feed_change.grant_id of an anonymous cast's events (no grant)


def period_of(details: Sequence[dict[str, Any]] | None) -> timedelta | None:
    """The update period a grant's consumer agreed to: the longest of its entries; None for ``realtime``."""
    periods = [PERIODS[f] for d in details or [] if (f := str(d.get("frequency", "realtime"))) in PERIODS]
    return max(periods) if periods else None


def defer_signal_update(*, session: Session, grant: Grant, period: timedelta, now: datetime | None = None) -> None:
    """Mark ``grant`` due for one ``signal.updated`` at the end of the period since it was last announced (or
    since consent, whose ``grant.created`` carried the signals then). Several changes make one announcement."""
    now = now or utcnow()
    row = session.get(FeedDigest, grant.id)
    if row is None:
        row = FeedDigest(grant_id=grant.id, vendor_id=grant.vendor_id, subject=grant.subject)
    if row.due_at is None:
        row.due_at = max(now, (row.last_sent_at or grant.created_at) + period)
        session.add(row)


def batch_boundary(now: datetime) -> datetime:
    """The latest anonymous-cast release boundary at or before ``now``."""
    step = int(ANONYMOUS_BATCH.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


@dataclass(frozen=True)
class Released:
    digests: int
    casts: int


def _release_digests(session: Session, now: datetime) -> int:
    from vault_server.feed.service import emit, grant_is_live

    due = session.exec(
        select(FeedDigest.grant_id).where(col(FeedDigest.due_at).is_not(None), col(FeedDigest.due_at) <= now)
    ).all()
    sent = 0
    for grant_id in due:
        claimed = session.execute(
            update(FeedDigest)
            .where(
                col(FeedDigest.grant_id) == grant_id,
                col(FeedDigest.due_at).is_not(None),
                col(FeedDigest.due_at) <= now,
            )
            .values(due_at=None, last_sent_at=now)
        )
        if not getattr(claimed, "rowcount", 0):
            continue  # another process announced it
        grant = session.get(Grant, grant_id)
        if grant is None or not grant_is_live(grant, now):
            continue
        emit(session, vendor_id=grant.vendor_id, subject=grant.subject, grant_id=grant.id, kind="signal.updated")
        sent += 1
    return sent


def _release_casts(session: Session, now: datetime) -> int:
    from vault_server.feed.service import emit

    boundary = batch_boundary(now)
    pending = session.exec(
        select(CastRecipient.cast_id, CastRecipient.vendor_id, CastRecipient.handle)
        .join(Intentcast, col(Intentcast.id) == col(CastRecipient.cast_id))
        .where(col(CastRecipient.released_at).is_(None), col(Intentcast.created_at) < boundary)
    ).all()
    batch = list(pending)
    secrets.SystemRandom().shuffle(batch)  # the order within a batch says nothing about when each was cast
    released = 0
    for cast_id, vendor_id, handle in batch:
        claimed = session.execute(
            update(CastRecipient)
            .where(
                col(CastRecipient.cast_id) == cast_id,
                col(CastRecipient.vendor_id) == vendor_id,
                col(CastRecipient.released_at).is_(None),
            )
            .values(released_at=boundary)
        )
        if not getattr(claimed, "rowcount", 0):
            continue
        emit(session, vendor_id=vendor_id, subject=handle, grant_id=ANONYMOUS, kind="intent.declared", ref_id=cast_id)
        released += 1
    return released


def release_due(*, session: Session, now: datetime | None = None) -> Released:
    """Announce every digest that is due and every anonymous cast made before the last batch boundary, in the
    caller's transaction. Returns how many of each."""
    now = now or utcnow()
    return Released(digests=_release_digests(session, now), casts=_release_casts(session, now))


def release_once(ctx: VaultContext) -> Released:
    """One release pass in its own transaction."""
    with ctx.db.session() as s:
        return release_due(session=s)


async def release_loop(ctx: VaultContext, stop: asyncio.Event) -> None:
    """Run :func:`release_once` every ``POLL_SECONDS`` until ``stop`` is set. Errors are logged, never fatal."""
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(release_once, ctx)
            if done.digests or done.casts:
                log.info("feed release", extra={"digests": done.digests, "casts": done.casts})
        except Exception:
            log.exception("feed release failed; retrying at the next poll")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
