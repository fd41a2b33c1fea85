"""Grant rules: create (from an approved consent), narrow, reveal or withdraw identity, revoke, expire. Every
change bumps the version, writes a signed receipt and an audit entry in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import NotFound, ValidationFailed
from vault_server.grants import receipts
from vault_server.grants.models import ConsentReceipt, Grant
from vault_server.oauth import rar, tokens
from vault_server.oauth.pairwise import subject_for
from vault_server.oauth.scopes import IDENTITY_SCOPES
from vault_server.vendors.models import VendorApp

IDENTITY_FIELDS = ("name", "email")


def agreement_in_force(ctx: VaultContext, grant: Grant) -> dict[str, Any] | None:
    """The IEEE 7012 agreement a grant's details name, with what it permits (from the roster), or None.

    Written into the grant's audit entries so the compliance check can hold every later read to it from the log
    alone (roster ids and permits are public, nothing personal)."""
    named = next((d["agreement"] for d in grant.authorization_details if isinstance(d.get("agreement"), dict)), None)
    if named is None:
        return None
    found: dict[str, Any] = {"id": str(named.get("id")), "version": str(named.get("version"))}
    roster = ctx.policy.agreements
    for item in roster.agreements if roster is not None else ():
        if item.id == found["id"] and item.version == found["version"]:
            found["permits"] = item.permits.model_dump()
    return found


def _audit(session: Session, ctx: VaultContext, grant: Grant, kind: str, actor: str, **extra: Any) -> None:
    details: dict[str, Any] = {
        "grant_id": grant.id,
        "vendor_id": grant.vendor_id,
        "version": grant.version,
        "categories": sorted(rar.categories_of(grant.authorization_details)),
        "fields": sorted({f for d in grant.authorization_details for f in d.get("fields", [])}),
        "scope": grant.scope,
        "retention_days": grant.retention_days,
        **extra,
    }
    agreed = agreement_in_force(ctx, grant)
    if agreed is not None:
        details["agreement"] = agreed
    audit.record(session=session, ctx=ctx, kind=kind, actor=actor, consumer_id=grant.account_id, details=details)


def _receipt(session: Session, ctx: VaultContext, grant: Grant, event: str) -> ConsentReceipt:
    app = session.get(VendorApp, grant.vendor_id)
    assert app is not None
    doc = receipts.build(ctx, grant, app, event)
    row = ConsentReceipt(
        id=doc["receipt_id"], grant_id=grant.id, version=grant.version, event=event, jws=receipts.sign(ctx, doc)
    )
    session.add(row)
    return row


def create(
    *,
    session: Session,
    ctx: VaultContext,
    account_id: str,
    app: VendorApp,
    scope: list[str],
    details: list[dict[str, Any]],
    requested: dict[str, Any],
    identity_fields: list[str],
    expires_at: datetime,
) -> Grant:
    """Record an approved consent; supersedes the consumer's earlier live grant to the same vendor. Returns it."""
    for old in session.exec(
        select(Grant).where(Grant.account_id == account_id, Grant.vendor_id == app.id, col(Grant.revoked_at).is_(None))
    ).all():
        _end(session, ctx, old, reason="superseded", actor="consumer")
    now = utcnow()
    identity = [f for f in IDENTITY_FIELDS if f in identity_fields]
    grant = Grant(
        id=str(uuid.uuid4()),
        account_id=account_id,
        vendor_id=app.id,
        subject=subject_for(ctx.ring, account_id=account_id, vendor_id=app.id),
        scope=" ".join(s for s in scope if s not in IDENTITY_SCOPES),
        authorization_details=details,
        requested=requested,
        purpose="; ".join(dict.fromkeys(d["purpose"] for d in details)),
        retention_days=max((int(d["retention_days"]) for d in details), default=0),
        identity_fields=" ".join(identity),
        identity_granted_at=now if identity else None,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )
    session.add(grant)
    session.flush()
    _receipt(session, ctx, grant, "created")
    _audit(session, ctx, grant, "grant.created", "consumer", identity=identity)
    if identity:
        _audit(session, ctx, grant, "identity.revealed", "consumer", identity=identity)
    return grant


def get_for_account(*, session: Session, account_id: str, grant_id: str) -> Grant:
    """Returns one of the consumer's grants or raises NotFound."""
    grant = session.get(Grant, grant_id)
    if grant is None or grant.account_id != account_id:
        raise NotFound("no such grant")
    return grant


def list_for_account(*, session: Session, account_id: str) -> list[Grant]:
    """Returns the consumer's grants, newest first."""
    return list(
        session.exec(select(Grant).where(Grant.account_id == account_id).order_by(col(Grant.created_at).desc())).all()
    )


def live_for_vendor(*, session: Session, vendor_id: str, after_id: str | None = None, limit: int = 500) -> list[Grant]:
    """Returns the vendor's live grants ordered by id (for a paged feed); uses ix_grant_vendor_live."""
    query = select(Grant).where(
        Grant.vendor_id == vendor_id, col(Grant.revoked_at).is_(None), col(Grant.expires_at) > utcnow()
    )
    if after_id:
        query = query.where(col(Grant.id) > after_id)
    return list(session.exec(query.order_by(col(Grant.id)).limit(limit)).all())


def live_by_subject(*, session: Session, vendor_id: str, subject: str) -> Grant | None:
    """Returns the live grant a vendor holds for a pairwise subject, or None."""
    return session.exec(
        select(Grant).where(
            Grant.vendor_id == vendor_id,
            Grant.subject == subject,
            col(Grant.revoked_at).is_(None),
            col(Grant.expires_at) > utcnow(),
        )
    ).first()


def _require_live(grant: Grant) -> None:
    if not tokens.grant_is_live(grant):
        raise ValidationFailed("this grant has ended; it can no longer be changed")


def narrow(
    *,
    session: Session,
    ctx: VaultContext,
    grant: Grant,
    details: list[dict[str, Any]],
    scope: list[str] | None = None,
    expires_at: datetime | None = None,
) -> Grant:
    """Narrow a live grant further (never wider); updates its token families at once. Returns it."""
    _require_live(grant)
    if not rar.is_within(details, grant.authorization_details):
        raise ValidationFailed("a grant can only be narrowed: the change asks for more than was granted")
    agreement = next((d["agreement"] for d in grant.authorization_details if d.get("agreement")), None)
    if agreement is not None:  # the agreement in force stays attached, whatever the client sent back
        details = [{**d, "agreement": agreement} for d in details]
    new_scope = grant.scope.split() if scope is None else [s for s in grant.scope.split() if s in set(scope)]
    if "signals:read" in grant.scope.split() and "signals:read" not in new_scope:
        details = []  # the details are what signals:read may read: dropping the scope drops them
    new_expiry = grant.expires_at if expires_at is None or expires_at > grant.expires_at else expires_at
    if new_expiry <= utcnow():
        raise ValidationFailed("the new expiry must be in the future; revoke the grant to end it now")
    if details == grant.authorization_details and new_scope == grant.scope.split() and new_expiry == grant.expires_at:
        return grant  # nothing narrower was asked: no new version, no receipt
    grant.authorization_details = details
    grant.scope = " ".join(new_scope)
    grant.expires_at = new_expiry
    grant.version += 1
    grant.updated_at = utcnow()
    session.add(grant)
    from vault_server.oauth.models import TokenFamily

    for family in session.exec(
        select(TokenFamily).where(TokenFamily.grant_id == grant.id, col(TokenFamily.revoked_at).is_(None))
    ).all():
        family.scope = grant.scope
        family.authorization_details = details
        session.add(family)
    if not details and not new_scope:
        return _end(session, ctx, grant, reason="revoked", actor="consumer")
    _receipt(session, ctx, grant, "narrowed")
    _audit(session, ctx, grant, "grant.narrowed", "consumer")
    return grant


def withdraw_identity(*, session: Session, ctx: VaultContext, grant: Grant, fields: list[str] | None = None) -> Grant:
    """Stop revealing name and/or e-mail to the vendor (all when ``fields`` is None). Returns the grant."""
    _require_live(grant)
    current = grant.identity_fields.split()
    keep = [] if fields is None else [f for f in current if f not in set(fields)]
    if keep == current:
        return grant
    grant.identity_fields = " ".join(keep)
    grant.version += 1
    grant.updated_at = utcnow()
    session.add(grant)
    _receipt(session, ctx, grant, "identity_withdrawn")
    _audit(session, ctx, grant, "identity.withdrawn", "consumer", identity=keep)
    return grant


def reveal_identity(*, session: Session, ctx: VaultContext, grant: Grant, fields: list[str]) -> Grant:
    """The consumer's separate, explicit consent to reveal name and/or e-mail to this vendor."""
    _require_live(grant)
    wanted = [f for f in IDENTITY_FIELDS if f in set(fields) or f in grant.identity_fields.split()]
    if wanted == grant.identity_fields.split():
        return grant
    grant.identity_fields = " ".join(wanted)
    grant.identity_granted_at = utcnow()
    grant.version += 1
    grant.updated_at = utcnow()
    session.add(grant)
    _receipt(session, ctx, grant, "identity_revealed")
    _audit(session, ctx, grant, "identity.revealed", "consumer", identity=wanted)
    return grant


def _end(session: Session, ctx: VaultContext, grant: Grant, *, reason: str, actor: str) -> Grant:
    if grant.revoked_at is not None:
        return grant
    now = utcnow()
    grant.revoked_at = now
    grant.end_reason = reason
    grant.version += 1
    grant.updated_at = now
    session.add(grant)
    families = tokens.revoke_families_of_grant(session=session, grant_id=grant.id, reason="grant_" + reason)
    _receipt(session, ctx, grant, reason)
    kind = "grant.expired" if reason == "expired" else "grant.revoked"
    _audit(session, ctx, grant, kind, actor, reason=reason, token_families_revoked=families)
    return grant


def revoke(*, session: Session, ctx: VaultContext, grant: Grant, actor: str = "consumer") -> Grant:
    """End a grant now: every token under it stops working on its next call. Returns it."""
    return _end(session, ctx, grant, reason="revoked", actor=actor)


def expire_due(*, session: Session, ctx: VaultContext, now: datetime | None = None, limit: int = 1000) -> int:
    """The expiry job: mark grants past ``expires_at`` as expired (receipt + audit). Returns how many."""
    now = now or utcnow()
    due = session.exec(
        select(Grant).where(col(Grant.revoked_at).is_(None), col(Grant.expires_at) <= now).limit(limit)
    ).all()
    for grant in due:
        _end(session, ctx, grant, reason="expired", actor="system")
    return len(due)


def revoke_all_for_account(*, session: Session, ctx: VaultContext, account_id: str) -> int:
    """Account deletion: end every live grant of the consumer. Returns how many."""
    live = session.exec(select(Grant).where(Grant.account_id == account_id, col(Grant.revoked_at).is_(None))).all()
    for grant in live:
        _end(session, ctx, grant, reason="account_deleted", actor="consumer")
    return len(live)


def receipts_of(*, session: Session, grant_id: str) -> list[ConsentReceipt]:
    """Returns the grant's receipts, oldest first."""
    return list(
        session.exec(
            select(ConsentReceipt)
            .where(ConsentReceipt.grant_id == grant_id)
            .order_by(col(ConsentReceipt.version), col(ConsentReceipt.created_at))
        ).all()
    )


def view(grant: Grant, app: VendorApp | None) -> dict[str, Any]:
    """The consumer-facing JSON of a grant."""
    now = utcnow()
    state = "live" if grant.revoked_at is None and grant.expires_at > now else (grant.end_reason or "expired")
    return {
        "id": grant.id,
        "vendor": {
            "client_id": grant.vendor_id,
            "name": app.name if app else "",
            "homepage": app.homepage if app else "",
        },
        "subject": grant.subject,
        "state": state,
        "scope": grant.scope.split(),
        "authorization_details": grant.authorization_details,
        "requested": grant.requested,
        "purpose": grant.purpose,
        "retention_days": grant.retention_days,
        "identity": grant.identity_fields.split(),
        "version": grant.version,
        "created_at": grant.created_at.isoformat(),
        "updated_at": grant.updated_at.isoformat(),
        "expires_at": grant.expires_at.isoformat(),
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
        "end_reason": grant.end_reason,
    }
