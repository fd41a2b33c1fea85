"""Feed demo data for ``intent-vault demo`` (idempotent): the demo vendor serves outdoor and electronics
categories, the demo consumer has an anonymous intentcast with one offer from it, and a pending question from it
when the consumer granted it ``questions:write``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import offers, questions
from vault_server.feed.models import CastRecipient, Intentcast, Question
from vault_server.vendors.models import VendorApp

DEMO_VENDOR = "ivc_demo_outfitters"


def seed(ctx: VaultContext, consumer: Account | None) -> Iterator[str]:
    if consumer is None:
        return
    with ctx.db.session() as s:
        if s.get(VendorApp, DEMO_VENDOR) is None:
            return
        if s.exec(select(Intentcast.id).where(Intentcast.account_id == consumer.id)).first() is not None:
            return
        categories: list[str] = [c for c in ("electronics", "sports") if c in ctx.policy.nodes]
        offers.set_cast_categories(session=s, ctx=ctx, vendor_id=DEMO_VENDOR, categories=categories)
        category = next((c for c in ctx.policy.leaves if c.startswith("electronics.")), ctx.policy.leaves[0])
        cast = offers.cast(
            session=s,
            ctx=ctx,
            account_id=consumer.id,
            body=offers.CastIn(
                category=category, text="Looking for a good one", budget_max=Decimal("900"), currency="EUR",
                anonymous=True,
            ),
        )  # fmt: skip
        if cast["recipients"]:
            _release_now(s, cast["id"])
            offers.make_offer(
                session=s,
                ctx=ctx,
                vendor_id=DEMO_VENDOR,
                cast_id=cast["id"],
                body=offers.OfferIn(
                    title="Demo offer: 10% off, free delivery",
                    price=Decimal("799.00"),
                    currency="EUR",
                    url="https://outfitters.example/offer",
                    expires_at=utcnow() + timedelta(days=7),
                    terms="Demo data.",
                ),
            )
        if s.exec(select(Question.id).where(Question.vendor_id == DEMO_VENDOR)).first() is None:
            questions.ask(
                session=s,
                ctx=ctx,
                vendor_id=DEMO_VENDOR,
                body=questions.QuestionIn(kind="choice", prompt="When do you plan to buy?",
                                          choices=["This week", "This month", "Just looking"]),
            )  # fmt: skip
    yield "Feed demo: an anonymous intentcast with an offer from Demo Outfitters (see /inbox)"


def _release_now(session: Session, cast_id: str) -> None:
    """Demo only: tell the vendors of the demo cast at once instead of at the next anonymous batch
    (feed/release.py), so the seeded offer can answer it. Real casts always wait for their batch."""
    from vault_server.feed.release import ANONYMOUS
    from vault_server.feed.service import emit

    for row in session.exec(
        select(CastRecipient).where(CastRecipient.cast_id == cast_id, col(CastRecipient.released_at).is_(None))
    ).all():
        row.released_at = utcnow()
        session.add(row)
        emit(session, vendor_id=row.vendor_id, subject=row.handle, grant_id=ANONYMOUS, kind="intent.declared",
             ref_id=cast_id)  # fmt: skip
