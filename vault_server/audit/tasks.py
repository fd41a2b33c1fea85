"""Background work of the audit room: sign a tree head when the log grew and the interval passed.

Runs in every server process (started from the app lifespan) and from ``intent-vault audit sth`` (cron). Each
attempt locks the log head first, so N processes never sign the same growth twice and the signed root always
matches the tree at that instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlmodel import Session

from vault_server.audit import service, store
from vault_server.audit.models import AuditSth
from vault_server.context import VaultContext

log = logging.getLogger("vault.audit")


def sth_due(session: Session, *, interval_seconds: int, now_ms: int) -> bool:
    """True when the log has entries no signed head covers and the last head is at least the interval old."""
    size, _ = store.read_head(session)
    latest = store.latest_sth(session)
    if latest is None:
        return size > 0
    return size > latest.tree_size and now_ms - latest.timestamp >= interval_seconds * 1000


def maybe_make_sth(ctx: VaultContext, *, force: bool = False) -> AuditSth | None:
    """Sign a tree head if one is due (always when ``force``); returns the new head or None."""
    interval = ctx.settings.audit_sth_interval_seconds
    if not force:  # cheap read first: an idle vault takes no write lock every poll
        with ctx.db.session() as s:
            if not sth_due(s, interval_seconds=interval, now_ms=service.now_ms()):
                return None
    _ = ctx.keyset  # load (or create) the signing key in its own transaction before taking the log lock
    with ctx.db.session() as s:
        store.lock_head(s)
        if not force and not sth_due(s, interval_seconds=interval, now_ms=service.now_ms()):
            return None  # another process signed it meanwhile
        row = service.make_sth(session=s, ctx=ctx)
    log.info("signed audit tree head", extra={"tree_size": row.tree_size, "kid": row.kid})
    return row


def poll_seconds(interval_seconds: int) -> float:
    """How often the scheduler looks: a quarter of the interval, at most 30 s."""
    return max(0.05, min(interval_seconds / 4, 30.0))


async def sth_scheduler(ctx: VaultContext, stop: asyncio.Event) -> None:
    """Loop until ``stop`` is set: sign a tree head whenever one is due. Errors are logged, never fatal."""
    poll = poll_seconds(ctx.settings.audit_sth_interval_seconds)
    while not stop.is_set():
        try:
            await asyncio.to_thread(maybe_make_sth, ctx)
        except Exception:
            log.exception("could not sign an audit tree head")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll)
