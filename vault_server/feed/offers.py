"""Intentcasting and offers: the consumer casts a declared intent to chosen vendors (those whose grants cover its
category) or anonymously to every approved vendor serving the category; vendors answer with structured offers;
the consumer accepts (optionally revealing identity), declines, or blocks the vendor.

Cast contents, offers and reveal choices are encrypted with the consumer's data key. An anonymous cast reaches
each vendor under a fresh per-cast handle, never the pairwise subject, so vendors cannot link it to a grant.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.db import utcnow
from vault_server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vault_server.feed.models import CastRecipient, Intentcast, Offer, VendorCastCategory, VendorPreference
from vault_server.feed.release import ANONYMOUS
from vault_server.feed.service import emit, live_grants_of
from vault_server.grants.models import Grant
from vault_server.oauth import rar
from vault_server.vendors.models import VendorApp, VendorStatus

CategoryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=128)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MAX_OFFERS_PER_VENDOR_AND_CAST = 3
MAX_CAST_CATEGORIES = 50


class CastIn(BaseModel):
    """Cast a declared intent (``intent_id``) or a new one written here; ``anonymous`` reaches every approved
    vendor serving the category under a one-off handle, otherwise only vendors the consumer granted."""

    model_config = ConfigDict(extra="forbid")

    intent_id: str | None = None
    category: CategoryId | None = None
    text: str = Field(default="", max_length=500)
    budget_max: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    currency: Currency | None = None
    by: datetime | None = None
    anonymous: bool = False
    open_days: int = Field(default=14, ge=1, le=90)

    @model_validator(mode="after")
    def _one_source(self) -> CastIn:
        if (self.intent_id is None) == (self.category is None):
            raise ValueError("give either intent_id (a declared intent) or category (a new one)")
        if self.budget_max is not None and self.currency is None:
            raise ValueError("a budget needs a currency")
        return self


class OfferIn(BaseModel):
    """A vendor's structured offer."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: Currency
    url: AnyHttpUrl
    expires_at: datetime
    terms: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _checks(self) -> OfferIn:
        if self.url.scheme != "https":
            raise ValueError("the offer URL must use https")
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return self


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "decline"]
    reveal: list[Literal["name", "email"]] = Field(default_factory=list)


def _category_served(category: str, served: str) -> bool:
    return category == served or category.startswith(served + ".")


# ---- vendor: which categories it serves ------------------------------------------------------------------------
def set_cast_categories(*, session: Session, ctx: VaultContext, vendor_id: str, categories: list[str]) -> list[str]:
    """Replace the categories whose anonymous intentcasts reach this vendor; returns them."""
    policy = rar.policy_for(ctx)
    unknown = sorted(c for c in categories if c not in policy.nodes)
    if unknown:
        raise ValidationFailed(f"unknown categories: {', '.join(unknown)}")
    if len(set(categories)) > MAX_CAST_CATEGORIES:
        raise ValidationFailed(f"at most {MAX_CAST_CATEGORIES} categories")
    session.execute(delete(VendorCastCategory).where(col(VendorCastCategory.vendor_id) == vendor_id))
    for c in sorted(set(categories)):
        session.add(VendorCastCategory(vendor_id=vendor_id, category=c))
    return sorted(set(categories))


def cast_categories(*, session: Session, vendor_id: str) -> list[str]:
    return list(session.exec(select(VendorCastCategory.category).where(VendorCastCategory.vendor_id == vendor_id)))


# ---- consumer: cast ----------------------------------------------------------------------------------------
def _blocked_vendors(session: Session, account_id: str) -> set[str]:
    return set(
        session.exec(
            select(VendorPreference.vendor_id).where(
                VendorPreference.account_id == account_id, col(VendorPreference.blocked).is_(True)
            )
        )
    )


def _cast_doc(ctx: VaultContext, session: Session, account_id: str, body: CastIn) -> dict[str, Any]:
    if body.intent_id is not None:
        from vault_server.intents.service import get_intent

        intent = get_intent(session=session, ctx=ctx, account_id=account_id, intent_id=body.intent_id)
        days = intent.get("timeframe_days")
        return {
            "category": intent["category"],
            "text": intent.get("text", ""),
            "budget_max": intent.get("budget_max"),
            "currency": intent.get("currency"),
            "by": (utcnow() + timedelta(days=int(days))).date().isoformat() if days else None,
            "must_haves": intent.get("must_haves", []),
        }
    policy = rar.policy_for(ctx)
    if body.category not in policy.nodes:
        raise ValidationFailed(f"unknown category {body.category!r}")
    return {
        "category": body.category,
        "text": body.text,
        "budget_max": float(body.budget_max) if body.budget_max is not None else None,
        "currency": body.currency,
        "by": body.by.date().isoformat() if body.by else None,
        "must_haves": [],
    }


def cast(*, session: Session, ctx: VaultContext, account_id: str, body: CastIn) -> dict[str, Any]:
    """Create a cast and deliver it (feed + webhook outbox) in this transaction; returns it with its recipients."""
    doc = json.loads(json.dumps(_cast_doc(ctx, session, account_id, body), default=str))
    category = str(doc["category"])
    policy = rar.policy_for(ctx)
    if policy.is_sensitive(category) and body.anonymous:
        raise ValidationFailed("sensitive categories cannot be cast to every vendor; cast to vendors you granted")
    blocked = _blocked_vendors(session, account_id)
    cast_id = str(uuid.uuid4())
    now = utcnow()
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    row = Intentcast(
        id=cast_id,
        account_id=account_id,
        intent_id=body.intent_id,
        anonymous=body.anonymous,
        created_at=now,
        closes_at=now + timedelta(days=body.open_days),
        payload=cipher.encrypt("intentcast", cast_id, json.dumps(doc).encode()),
    )
    session.add(row)
    session.flush()
    recipients: list[tuple[str, str, Grant | None]] = []
    if body.anonymous:
        served = session.exec(
            select(VendorCastCategory.vendor_id, VendorCastCategory.category)
            .join(VendorApp, col(VendorApp.id) == col(VendorCastCategory.vendor_id))
            .where(VendorApp.status == VendorStatus.approved.value, col(VendorApp.first_party).is_(False))
        ).all()
        vendors = sorted({v for v, c in served if _category_served(category, c) and v not in blocked})
        recipients = [(v, "cast_" + secrets.token_urlsafe(16), None) for v in vendors]
    else:
        for live in live_grants_of(session, account_id):
            if live.vendor_id in blocked or "intents:read" not in live.scope.split():
                continue  # only vendors the consumer let read their intents get them by name
            if rar.covering_category(policy, category, rar.categories_of(live.authorization_details or [])):
                recipients.append((live.vendor_id, live.subject, live))
    for vendor_id, handle, target in recipients:
        session.add(
            CastRecipient(
                cast_id=cast_id,
                vendor_id=vendor_id,
                handle=handle,
                grant_id=target.id if target else None,
                released_at=now if target else None,  # anonymous: the next batch (feed/release.py)
            )
        )
    session.flush()
    for vendor_id, handle, target in recipients:
        if target is not None:
            emit(
                session, vendor_id=vendor_id, subject=handle, grant_id=target.id, kind="intent.declared", ref_id=cast_id
            )
    audit.record(
        session=session,
        ctx=ctx,
        kind="intentcast.sent",
        actor="consumer",
        consumer_id=account_id,
        details={
            "cast_id": cast_id,
            "categories": [category],
            "anonymous": body.anonymous,
            "recipients": sorted(v for v, _, _ in recipients),
        },
    )
    return {**cast_view(row, doc), "recipients": len(recipients)}


def cast_view(row: Intentcast, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": "open" if row.status == "open" and row.closes_at > utcnow() else "closed",
        "anonymous": row.anonymous,
        "created_at": row.created_at.isoformat(),
        "closes_at": row.closes_at.isoformat(),
        **doc,
    }


def cast_doc(session: Session, ctx: VaultContext, row: Intentcast) -> dict[str, Any]:
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=row.account_id)
    doc: dict[str, Any] = json.loads(cipher.decrypt("intentcast", row.id, row.payload))
    return doc


def list_casts(*, session: Session, ctx: VaultContext, account_id: str) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Intentcast).where(Intentcast.account_id == account_id).order_by(col(Intentcast.created_at).desc())
    ).all()
    return [cast_view(r, cast_doc(session, ctx, r)) for r in rows]


def close_cast(*, session: Session, account_id: str, cast_id: str) -> None:
    row = session.get(Intentcast, cast_id)
    if row is None or row.account_id != account_id:
        raise NotFound("no such intentcast")
    row.status = "closed"
    session.add(row)


# ---- vendor: read casts, answer with offers ----------------------------------------------------------------
def cast_for_vendor(
    *, session: Session, ctx: VaultContext, vendor_id: str, cast_id: str
) -> tuple[Intentcast, CastRecipient]:
    """The cast and this vendor's receipt of it; NotFound unless the vendor received it."""
    recipient = session.get(CastRecipient, (cast_id, vendor_id))
    row = session.get(Intentcast, cast_id)
    if recipient is None or row is None or recipient.released_at is None:
        raise NotFound("no such intentcast for this vendor")
    return row, recipient


def vendor_cast_item(session: Session, ctx: VaultContext, row: Intentcast, recipient: CastRecipient) -> dict[str, Any]:
    doc = cast_doc(session, ctx, row)
    item = {**cast_view(row, doc), "subject": recipient.handle}
    if row.anonymous and recipient.released_at is not None:  # the batch time, not the moment it was cast
        item["created_at"] = recipient.released_at.isoformat()
    return item


def record_cast_read(
    session: Session, ctx: VaultContext, vendor_id: str, row: Intentcast, recipient: CastRecipient, category: str
) -> None:
    audit.record(
        session=session,
        ctx=ctx,
        kind="intentcast.read",
        actor=f"vendor:{vendor_id}",
        consumer_id=row.account_id,
        details={"vendor_id": vendor_id, "cast_id": row.id, "grant_id": recipient.grant_id, "categories": [category]},
    )


def open_casts_for_vendor(
    *, session: Session, ctx: VaultContext, vendor_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """The open casts this vendor received, newest first; each read is audited in this transaction."""
    rows = session.exec(
        select(Intentcast, CastRecipient)
        .join(CastRecipient, col(CastRecipient.cast_id) == col(Intentcast.id))
        .where(
            CastRecipient.vendor_id == vendor_id,
            col(CastRecipient.released_at).is_not(None),
            Intentcast.status == "open",
            col(Intentcast.closes_at) > utcnow(),
        )
        .order_by(col(CastRecipient.released_at).desc(), col(Intentcast.created_at).desc())
        .limit(limit)
    ).all()
    out = []
    for row, recipient in rows:
        item = vendor_cast_item(session, ctx, row, recipient)
        record_cast_read(session, ctx, vendor_id, row, recipient, str(item["category"]))
        out.append(item)
    return out


def make_offer(*, session: Session, ctx: VaultContext, vendor_id: str, cast_id: str, body: OfferIn) -> dict[str, Any]:
    """Store an offer for a cast this vendor received and that is still open; returns it."""
    row, _recipient = cast_for_vendor(session=session, ctx=ctx, vendor_id=vendor_id, cast_id=cast_id)
    now = utcnow()
    if row.status != "open" or row.closes_at <= now:
        raise Conflict("this intentcast is closed")
    if vendor_id in _blocked_vendors(session, row.account_id):
        raise Forbidden("the consumer does not accept offers from you")
    if body.expires_at <= now:
        raise ValidationFailed("expires_at must be in the future")
    count = session.exec(
        select(func.count()).select_from(Offer).where(Offer.cast_id == cast_id, Offer.vendor_id == vendor_id)
    ).one()
    if int(count) >= MAX_OFFERS_PER_VENDOR_AND_CAST:
        raise Conflict(f"at most {MAX_OFFERS_PER_VENDOR_AND_CAST} offers per intentcast")
    offer_id = str(uuid.uuid4())
    doc = json.loads(body.model_dump_json())
    category_of_cast = str(cast_doc(session, ctx, row)["category"])
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=row.account_id)
    offer = Offer(
        id=offer_id,
        cast_id=cast_id,
        vendor_id=vendor_id,
        account_id=row.account_id,
        expires_at=body.expires_at,
        created_at=now,
        payload=cipher.encrypt("offer", offer_id, json.dumps(doc).encode()),
    )
    session.add(offer)
    session.flush()
    audit.record(
        session=session,
        ctx=ctx,
        kind="offer.received",
        actor=f"vendor:{vendor_id}",
        consumer_id=row.account_id,
        details={"vendor_id": vendor_id, "offer_id": offer_id, "cast_id": cast_id, "categories": [category_of_cast]},
        private={"offer": doc},
    )
    return {"id": offer_id, "cast_id": cast_id, "status": "pending", **doc}


def _offer_doc(session: Session, ctx: VaultContext, offer: Offer) -> dict[str, Any]:
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=offer.account_id)
    doc: dict[str, Any] = json.loads(cipher.decrypt("offer", offer.id, offer.payload))
    return doc


def _offer_status(offer: Offer) -> str:
    return "expired" if offer.status == "pending" and offer.expires_at <= utcnow() else offer.status


def offer_view(session: Session, ctx: VaultContext, offer: Offer, vendor_name: str = "") -> dict[str, Any]:
    doc = _offer_doc(session, ctx, offer)
    revealed = doc.pop("revealed", [])
    return {
        "id": offer.id,
        "cast_id": offer.cast_id,
        "vendor": {"client_id": offer.vendor_id, "name": vendor_name},
        "status": _offer_status(offer),
        "revealed": revealed,
        "created_at": offer.created_at.isoformat(),
        "decided_at": offer.decided_at.isoformat() if offer.decided_at else None,
        **doc,
    }


def inbox(*, session: Session, ctx: VaultContext, account_id: str, status: str | None = None) -> list[dict[str, Any]]:
    """The consumer's offers, newest first (blocked vendors' offers are hidden)."""
    blocked = _blocked_vendors(session, account_id)
    rows = session.exec(
        select(Offer, VendorApp.name)
        .join(VendorApp, col(VendorApp.id) == col(Offer.vendor_id))
        .where(Offer.account_id == account_id)
        .order_by(col(Offer.created_at).desc())
    ).all()
    out = [offer_view(session, ctx, o, name) for o, name in rows if o.vendor_id not in blocked]
    return [o for o in out if status is None or o["status"] == status]


def decide(*, session: Session, ctx: VaultContext, account_id: str, offer_id: str, body: DecisionIn) -> dict[str, Any]:
    """Accept or decline a pending offer. Accepting may reveal name/e-mail to that vendor (the consumer's
    explicit choice, recorded in the grant when there is one); the vendor hears of it by feed and webhook."""
    offer = session.get(Offer, offer_id)
    if offer is None or offer.account_id != account_id:
        raise NotFound("no such offer")
    if _offer_status(offer) != "pending":
        raise Conflict(f"this offer is {_offer_status(offer)}")
    now = utcnow()
    offer.decided_at = now
    if body.action == "decline":
        offer.status = "declined"
        session.add(offer)
        return offer_view(session, ctx, offer)
    offer.status = "accepted"
    recipient = session.get(CastRecipient, (offer.cast_id, offer.vendor_id))
    grant = session.get(Grant, recipient.grant_id) if recipient and recipient.grant_id else None
    live = grant is not None and grant.revoked_at is None and grant.expires_at > now
    reveal = sorted(set(body.reveal))
    if reveal:
        doc = _offer_doc(session, ctx, offer)
        doc["revealed"] = reveal
        cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
        offer.payload = cipher.encrypt("offer", offer.id, json.dumps(doc).encode())
        offer.identity_revealed = True
        if live and grant is not None:
            from vault_server.grants import service as grants

            grants.reveal_identity(session=session, ctx=ctx, grant=grant, fields=[str(f) for f in reveal])
        else:
            audit.record(
                session=session,
                ctx=ctx,
                kind="identity.revealed",
                actor="consumer",
                consumer_id=account_id,
                details={"vendor_id": offer.vendor_id, "offer_id": offer.id, "identity": reveal},
            )
    session.add(offer)
    session.flush()
    if live and grant is not None and recipient is not None:
        emit(
            session,
            vendor_id=offer.vendor_id,
            subject=grant.subject,
            grant_id=grant.id,
            kind="offer.accepted",
            ref_id=offer.id,
        )
    elif recipient is not None:  # an anonymous cast: on the feed too, without a grant
        emit(
            session,
            vendor_id=offer.vendor_id,
            subject=recipient.handle,
            grant_id=ANONYMOUS,
            kind="offer.accepted",
            ref_id=offer.id,
        )
    return offer_view(session, ctx, offer)


def offer_event(session: Session, ctx: VaultContext, offer: Offer) -> tuple[dict[str, Any], list[str]]:
    """What the vendor learns when its offer was accepted: the offer and, if revealed, name/e-mail."""
    doc = _offer_doc(session, ctx, offer)
    revealed = [str(f) for f in doc.get("revealed", [])]
    data: dict[str, Any] = {"offer_id": offer.id, "cast_id": offer.cast_id, "status": offer.status}
    if revealed:
        from vault_server.accounts import service as accounts

        account = accounts.get_account(session=session, account_id=offer.account_id)
        prof = accounts.profile(session=session, ring=ctx.ring, account=account)
        data["identity"] = {f: prof[f] for f in revealed}
    return data, revealed


def vendor_offers(*, session: Session, ctx: VaultContext, vendor_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The vendor's own offers and their state (no consumer data beyond the state)."""
    rows = session.exec(
        select(Offer).where(Offer.vendor_id == vendor_id).order_by(col(Offer.created_at).desc()).limit(limit)
    ).all()
    return [
        {"id": o.id, "cast_id": o.cast_id, "status": _offer_status(o), "created_at": o.created_at.isoformat()}
        for o in rows
    ]


# ---- consumer: per-vendor switches -------------------------------------------------------------------------
def set_preference(
    *, session: Session, account_id: str, vendor_id: str, blocked: bool | None = None, questions_off: bool | None = None
) -> VendorPreference:
    """Block/unblock a vendor or turn its questions off/on; returns the preference row."""
    if session.get(VendorApp, vendor_id) is None:
        raise NotFound("no such vendor")
    pref = session.get(VendorPreference, (account_id, vendor_id)) or VendorPreference(
        account_id=account_id, vendor_id=vendor_id
    )
    if blocked is not None:
        pref.blocked = blocked
    if questions_off is not None:
        pref.questions_off = questions_off
    pref.updated_at = utcnow()
    session.add(pref)
    return pref


def preferences(*, session: Session, account_id: str) -> list[VendorPreference]:
    return list(session.exec(select(VendorPreference).where(VendorPreference.account_id == account_id)).all())


def pending_offers(*, session: Session, account_id: str) -> int:
    blocked = _blocked_vendors(session, account_id)
    rows = session.exec(
        select(Offer.vendor_id).where(
            Offer.account_id == account_id, Offer.status == "pending", col(Offer.expires_at) > utcnow()
        )
    ).all()
    return sum(1 for v in rows if v not in blocked)


def delete_all_for(*, session: Session, account_id: str) -> None:
    """Account deletion: casts (and their recipients and offers), questions' copies and preferences go."""
    session.execute(delete(Offer).where(col(Offer.account_id) == account_id))
    casts = list(session.exec(select(Intentcast.id).where(Intentcast.account_id == account_id)))
    if casts:
        session.execute(delete(CastRecipient).where(col(CastRecipient.cast_id).in_(casts)))
    session.execute(delete(Intentcast).where(col(Intentcast.account_id) == account_id))
    session.execute(delete(VendorPreference).where(col(VendorPreference.account_id) == account_id))
