"""Feed reads from a streaming read replica (``VAULT_DATABASE_READ_URL``), with cursors that survive replica lag.

The change log is the part of a feed read that a replica can serve: it is append-only, and read positions are
handed out on the primary in serialised, committed rounds (service.stamp), so a hot standby, which replays commits
in order, always holds a *prefix* of every vendor's feed: if it has position ``p`` it has every position below
``p``. A page read there is therefore complete up to what the replica has replayed; it may only be short.

Per read: the replica's newest position for the vendor (``head``) is compared with the cursor.

- ``cursor <= head``: the rows after the cursor come from the replica. If the replica lags, the page ends at
  what it has and the next cursor does not move past it; the vendor gets the rest on a later poll.
- ``cursor > head``: the vendor has already seen positions the replica has not replayed (its cursor came from
  a server on a faster replica or on the primary), so the rows come from the primary. Nothing is skipped or
  repeated either way.

Everything that decides what leaves (the grant as it is now, signals, data keys) and the audit entries written
before the page is sent stay on the primary: a lagging replica must never show a vendor data from a grant the
consumer already revoked or narrowed.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from vault_server.context import VaultContext
from vault_server.feed.models import FeedChange


def _after(session: Session, vendor_id: str, after: int, limit: int) -> list[FeedChange]:
    position = col(FeedChange.pos) if session.get_bind().dialect.name == "postgresql" else col(FeedChange.seq)
    return list(
        session.exec(
            select(FeedChange)
            .where(FeedChange.vendor_id == vendor_id, position > after)
            .order_by(position)
            .limit(limit)
        ).all()
    )


def _head(session: Session, vendor_id: str) -> int:
    row = session.exec(
        select(col(FeedChange.pos))
        .where(FeedChange.vendor_id == vendor_id, col(FeedChange.pos).is_not(None))
        .order_by(col(FeedChange.pos).desc())
        .limit(1)
    ).first()
    return int(row) if row is not None else 0


def change_rows(*, session: Session, ctx: VaultContext, vendor_id: str, after: int, limit: int) -> list[FeedChange]:
    """Up to ``limit`` change-log rows of the vendor after position ``after``, in order: from the read replica
    when one is configured and has replayed as far as the cursor, otherwise from ``session`` (the primary)."""
    if ctx.db.has_replica:
        with ctx.db.read_session() as replica:
            if after <= _head(replica, vendor_id):
                rows = _after(replica, vendor_id, after, limit)
                replica.expunge_all()  # keep the loaded rows usable after the replica session ends
                return rows
    return _after(session, vendor_id, after, limit)
