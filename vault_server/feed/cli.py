"""``intent-vault worker``: deliver webhooks from the outbox (run as many as you like)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from vault_server.feed import hooks

hooks.install_grant_listeners()  # any CLI process that changes grants also writes their feed changes


@click.command()
@click.option("--database-url", envvar="VAULT_DATABASE_URL", help="database URL (default: sqlite under ./var)")
@click.option("--interval", default=1.0, show_default=True, type=float, help="seconds to wait when idle")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 2000), help="messages per claim")
@click.option(
    "--concurrency", default=64, show_default=True, type=click.IntRange(1, 512), help="requests in flight at once"
)
@click.option("--once", is_flag=True, help="one pass over due messages, then exit")
def worker(database_url: str | None, interval: float, batch: int, concurrency: int, once: bool) -> None:
    """Deliver signed webhooks from the outbox with retries; several workers may run side by side."""
    from vault_server.cli_support import fail, load_settings
    from vault_server.context import build_context
    from vault_server.db import check_migrated
    from vault_server.errors import ConfigError
    from vault_server.feed import tasks

    try:
        ctx = build_context(load_settings(database_url=database_url))
        check_migrated(ctx.db)
    except ConfigError as exc:
        fail(str(exc))
        return
    if once:
        tick = tasks.run_once(ctx, batch=batch, concurrency=concurrency)
        click.echo(f"claimed {tick.claimed}: {tick.delivered} delivered, {tick.failed} failed, {tick.skipped} skipped")
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo("webhook worker running; Ctrl-C to stop", err=True)
    tasks.run_forever(ctx, interval=interval, batch=batch, concurrency=concurrency, stop=stop)
    ctx.db.dispose()
