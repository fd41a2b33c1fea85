"""Background work of the intents room: recompute signals after a policy change, expire old gestures, and delete
for good the gestures whose undo window (``service.UNDO_WINDOW``) has passed.

Both are resumable and safe with several processes: recompute picks rows whose policy hash differs from the
running policy; expiry deletes by timestamp. ``intent-vault`` runs them in the server's lifespan every
``VAULT_MAINTENANCE_INTERVAL_SECONDS`` (0 turns it off, e.g. when a cron job runs them instead).
"""

from __future__ import annotations

import asyncio
import logging

import anyio

from vault_server.context import VaultContext
from vault_server.intents import service

log = logging.getLogger("vault.tasks")


def run_maintenance(ctx: VaultContext, *, batch: int = 200) -> tuple[int, int]:
    """One pass: recompute stale signal states until none are left, then expire gestures. Returns counts."""
    recomputed = 0
    while True:
        with ctx.db.session() as s:
            done = service.recompute_stale(session=s, ctx=ctx, limit=batch)
        recomputed += done
        if done < batch:
            break
    with ctx.db.session() as s:
        expired = service.expire_gestures(session=s, ctx=ctx)
        purged = service.purge_deleted(session=s)
    if recomputed or expired or purged:
        log.info(
            "maintenance",
            extra={"recomputed_signals": recomputed, "expired_gestures": expired, "purged_deleted_gestures": purged},
        )
    return recomputed, expired


async def maintenance_loop(ctx: VaultContext, stop: asyncio.Event) -> None:
    """Run :func:`run_maintenance` now and then every interval until ``stop`` is set."""
    interval = ctx.settings.maintenance_interval_seconds
    if interval <= 0:
        return
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(run_maintenance, ctx)
        except Exception:
            log.exception("maintenance pass failed; retrying at the next interval")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            continue
