"""The data of consumer-initiated events (a cast intent, an accepted offer, an answer) as the vendor receives it
in the feed or a webhook, with the audit entry that must be written before it leaves."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.feed import offers, questions
from vault_server.feed.models import CastRecipient, Intentcast, Offer
from vault_server.grants.models import Grant

Built = tuple[dict[str, Any], dict[str, Any] | None]


def build(
    *,
    session: Session,
    ctx: VaultContext,
    grant: Grant | None,
    kind: str,
    ref_id: str | None,
    vendor_id: str | None = None,
) -> Built | None:
    """``(data, audit)`` for one event, or None when its object is gone. ``audit`` is ``{kind, consumer_id,
    details}`` or None when nothing about the consumer leaves."""
    vendor = vendor_id or (grant.vendor_id if grant else None)
    if ref_id is None or vendor is None:
        return None
    grant_id = grant.id if grant else None
    if kind == "intent.declared":
        cast = session.get(Intentcast, ref_id)
        recipient = session.get(CastRecipient, (ref_id, vendor))
        if cast is None or recipient is None:
            return None
        item = offers.vendor_cast_item(session, ctx, cast, recipient)
        return {"intentcast": item}, {
            "kind": "intentcast.read",
            "consumer_id": cast.account_id,
            "details": {
                "vendor_id": vendor,
                "cast_id": cast.id,
                "grant_id": grant_id,
                "categories": [item["category"]],
            },
        }
    if kind == "offer.accepted":
        offer = session.get(Offer, ref_id)
        if offer is None or offer.vendor_id != vendor:
            return None
        data, revealed = offers.offer_event(session, ctx, offer)
        if not revealed:
            return {"offer": data}, None
        return {"offer": data}, {
            "kind": "identity.read",
            "consumer_id": offer.account_id,
            "details": {"vendor_id": vendor, "grant_id": grant_id, "offer_id": offer.id, "fields": revealed},
        }
    if kind == "question.answered":
        answer = questions.answer_event(session, ctx, ref_id)
        if answer is None or grant is None:
            return None
        return {"answer": answer}, {
            "kind": "answer.read",
            "consumer_id": grant.account_id,
            "details": {"vendor_id": vendor, "grant_id": grant.id, "question_id": answer["question_id"]},
        }
    return None
