"""A little demo data per room, seeded by ``intent-vault demo`` (idempotent)."""

from __future__ import annotations

from collections.abc import Iterator

from vault_server.accounts.models import Account, Role
from vault_server.context import VaultContext


def seed_room_data(ctx: VaultContext, accounts_by_role: dict[Role, Account]) -> Iterator[str]:
    """Seed each room's demo data; yields lines worth printing. Rooms add their part here."""
    from vault_server.intents import demo as intents_demo

    yield from intents_demo.seed(ctx, accounts_by_role[Role.consumer])
    from vault_server.vendors import demo as vendors_demo

    yield from vendors_demo.seed(ctx, accounts_by_role.get(Role.vendor))
    from vault_server.feed import demo as feed_demo

    yield from feed_demo.seed(ctx, accounts_by_role.get(Role.consumer))
    from vault_server.reports import demo as reports_demo

    yield from reports_demo.seed(ctx, accounts_by_role.get(Role.consumer))
    base = ctx.settings.base_url
    yield f"Your terms (IEEE 7012): the consumer chooses the agreement to proffer at {base}/terms"
