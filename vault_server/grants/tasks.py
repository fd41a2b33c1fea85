"""Background work of the grants room: the expiry job (also runnable as ``intent-vault grants expire``)."""

from __future__ import annotations

import asyncio
import logging

import anyio

from vault_server.context import VaultContext
from vault_server.grants.service import expire_due
from vault_server.oauth.housekeeping import purge_expired

log = logging.getLogger("vault.grants")
BATCH = 500


def expire_once(ctx: VaultContext) -> int:
    """Expire every grant past its expiry, in batches, and purge dead OAuth rows; returns how many grants."""
    _ = ctx.keyset  # receipts are signed inside the transactions below: load the key set first
    total = 0
    while True:
        with ctx.db.session() as s:
            n = expire_due(session=s, ctx=ctx, limit=BATCH)
        total += n
        if n < BATCH:
            break
    with ctx.db.session() as s:
        purge_expired(session=s)
    return total


async def grant_expiry_loop(ctx: VaultContext, stop: asyncio.Event) -> None:
    """Expire grants now and then every maintenance interval until ``stop`` is set (tokens of an expired grant
    already fail at once: this job records the state change with a receipt and an audit entry)."""
    interval = int(getattr(ctx.settings, "maintenance_interval_seconds", 300))
    if interval <= 0:
        return
    while not stop.is_set():
        try:
            n = await anyio.to_thread.run_sync(expire_once, ctx)
            if n:
                log.info("expired grants", extra={"count": n})
        except Exception:
            log.exception("grant expiry pass failed; retrying at the next interval")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            continue
