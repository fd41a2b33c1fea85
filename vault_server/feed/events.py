"""The data of consumer-initiated events (a cast intent, an accepted offer, an answer) as the vendor receives it
in the feed or a webhook, with the audit entry that must be written before it leaves.

:func:`build_many` builds a page's (or a webhook batch's) events by kind: one query per kind for the referenced
rows, one for the data keys of every consumer involved and one for the accounts of accepted offers; the per-event
builders then find everything in the session's identity map, so a page costs the same statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher
from vault_server.crypto.models import DataKey
from vault_server.crypto.service import cipher_of, data_keys
from vault_server.feed import offers, questions
from vault_server.feed.models import CastRecipient, Intentcast, Offer, QuestionDelivery
from vault_server.grants.models import Grant

Built = tuple[dict[str, Any], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class EventRef:
    """One event to build: its feed kind, the object it references, the vendor it goes to and its grant."""

    kind: str
    ref_id: str | None
    vendor_id: str | None
    grant: Grant | None


@dataclass
class _Loaded:
    casts: dict[str, Intentcast]
    recipients: dict[tuple[str, str], CastRecipient]
    offers: dict[str, Offer]
    answered: set[str]
    with_key: set[str]
    #: strong references: the identity map is weak, and the per-event builders find these rows there by key
    keep: list[Any]


def _vendor(ref: EventRef) -> str | None:
    return ref.vendor_id or (ref.grant.vendor_id if ref.grant else None)


def _load(session: Session, refs: Sequence[EventRef]) -> _Loaded:
    """Every row the events reference, by kind, in one query each (none for a kind that is absent)."""
    wanted: dict[str, set[str]] = {"intent.declared": set(), "offer.accepted": set(), "question.answered": set()}
    vendors: set[str] = set()
    for ref in refs:
        vendor = _vendor(ref)
        if ref.ref_id is not None and vendor is not None and ref.kind in wanted:
            wanted[ref.kind].add(ref.ref_id)
            vendors.add(vendor)
    loaded = _Loaded({}, {}, {}, set(), set(), [])
    accounts: set[str] = set()
    if ids := sorted(wanted["intent.declared"]):
        loaded.casts = {c.id: c for c in session.exec(select(Intentcast).where(col(Intentcast.id).in_(ids))).all()}
        recipients = session.exec(
            select(CastRecipient).where(
                col(CastRecipient.cast_id).in_(ids), col(CastRecipient.vendor_id).in_(sorted(vendors))
            )
        ).all()
        loaded.recipients = {(r.cast_id, r.vendor_id): r for r in recipients}
        accounts.update(c.account_id for c in loaded.casts.values())
    if ids := sorted(wanted["offer.accepted"]):
        loaded.offers = {o.id: o for o in session.exec(select(Offer).where(col(Offer.id).in_(ids))).all()}
        owners = sorted({o.account_id for o in loaded.offers.values()})
        if owners:  # identity may be revealed: their accounts, in the identity map for offers.offer_event
            loaded.keep.extend(session.exec(select(Account).where(col(Account.id).in_(owners))).all())
        accounts.update(owners)
    if ids := sorted(wanted["question.answered"]):
        deliveries = session.exec(select(QuestionDelivery).where(col(QuestionDelivery.id).in_(ids))).all()
        loaded.answered = {d.id for d in deliveries if d.status == "answered"}
        accounts.update(d.account_id for d in deliveries)
        loaded.keep.extend(deliveries)
    keys = data_keys(session=session, account_ids=accounts) if accounts else []
    loaded.with_key = {k.account_id for k in keys}
    loaded.keep.extend(keys)
    return loaded


def build_many(
    *,
    session: Session,
    ctx: VaultContext,
    refs: Sequence[EventRef],
    ciphers: dict[str, ConsumerCipher] | None = None,
) -> list[Built | None]:
    """``(data, audit)`` for each event in order, or None where its object is gone (or its owner's key was
    shredded). ``audit`` is ``{kind, consumer_id, details}`` or None when nothing about the consumer leaves.

    ``ciphers``, when given, receives the data keys of the events' consumers (read here anyway), so the caller's
    audit append needs no query of its own for them."""
    if not refs:
        return []
    loaded = _load(session, refs)
    if ciphers is not None:
        for row in loaded.keep:
            if isinstance(row, DataKey) and row.account_id not in ciphers:
                ciphers[row.account_id] = cipher_of(ctx.ring, row)
    return [_build(session, ctx, ref, loaded) for ref in refs]


def build(
    *,
    session: Session,
    ctx: VaultContext,
    grant: Grant | None,
    kind: str,
    ref_id: str | None,
    vendor_id: str | None = None,
) -> Built | None:
    """One event (see :func:`build_many`)."""
    return build_many(session=session, ctx=ctx, refs=[EventRef(kind, ref_id, vendor_id, grant)])[0]


def _build(session: Session, ctx: VaultContext, ref: EventRef, loaded: _Loaded) -> Built | None:
    vendor = _vendor(ref)
    ref_id, grant = ref.ref_id, ref.grant
    if ref_id is None or vendor is None:
        return None
    grant_id = grant.id if grant else None
    if ref.kind == "intent.declared":
        cast = loaded.casts.get(ref_id)
        recipient = loaded.recipients.get((ref_id, vendor))
        if cast is None or recipient is None or cast.account_id not in loaded.with_key:
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
    if ref.kind == "offer.accepted":
        offer = loaded.offers.get(ref_id)
        if offer is None or offer.vendor_id != vendor or offer.account_id not in loaded.with_key:
            return None
        data, revealed = offers.offer_event(session, ctx, offer)
        if not revealed:
            return {"offer": data}, None
        return {"offer": data}, {
            "kind": "identity.read",
            "consumer_id": offer.account_id,
            "details": {"vendor_id": vendor, "grant_id": grant_id, "offer_id": offer.id, "fields": revealed},
        }
    if ref.kind == "question.answered":
        if ref_id not in loaded.answered or grant is None:
            return None
        answer = questions.answer_event(session, ctx, ref_id)
        if answer is None:
            return None
        return {"answer": answer}, {
            "kind": "answer.read",
            "consumer_id": grant.account_id,
            "details": {"vendor_id": vendor, "grant_id": grant.id, "question_id": answer["question_id"]},
        }
    return None
