"""Demo data of the reports room: the demo consumer is counted in anonymous demand statistics."""

from __future__ import annotations

from collections.abc import Iterator

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.reports import service


def seed(ctx: VaultContext, consumer: Account | None) -> Iterator[str]:
    """Opt the demo consumer in (idempotent); yields where to see it."""
    if consumer is None:
        return
    with ctx.db.session() as s:
        if not service.is_participant(session=s, account_id=consumer.id):
            service.set_participation(session=s, ctx=ctx, account_id=consumer.id, opted_in=True)
    base = ctx.settings.base_url
    yield (
        f"Demand reports: the demo consumer is opted in ({base}/reports); vendors ask at {base}/vendor/reports, "
        f"auditors see the budget at {base}/auditor/reports"
    )
