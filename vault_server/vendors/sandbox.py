"""The vendor sandbox: test consumers a vendor creates and drives through consent from a script.

A sandbox consumer is a real consumer account (so the vendor's integration meets the real consent, token, feed,
webhook and deletion paths), marked by a :class:`SandboxConsumer` row binding it to one vendor app, and kept apart:

* it is not a person: its e-mail is ``sandbox-…@sandbox.invalid`` (RFC 6761: never deliverable), its gestures are
  made up, and it has no password, so nobody can log in as it;
* least privilege: only the owning app may list it, drive its consent (for that same app's ``client_id`` only),
  or delete it; it cannot grant any other vendor, so it never reaches another vendor's feed;
* it never takes part in anonymous demand reports (reports.service refuses to enrol it).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account, Role
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vault_server.oauth.pairwise import subject_for
from vault_server.vendors.models import SandboxConsumer, VendorApp

MAX_PER_APP = 20
EMAIL_DOMAIN = "sandbox.invalid"
AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "authorization_details",
)


class SandboxConsumerIn(BaseModel):
    """A new sandbox consumer: a label for you, and optionally its gestures (else a TV shopper's week)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=100)
    gestures: list[dict[str, Any]] | None = Field(default=None, max_length=200)


class SandboxGesturesIn(BaseModel):
    """More gestures for a sandbox consumer (else a few more steps towards buying the TV)."""

    model_config = ConfigDict(extra="forbid")

    gestures: list[dict[str, Any]] | None = Field(default=None, max_length=200)


class Narrowing(BaseModel):
    """What the sandbox consumer leaves out when approving, as a person can on the consent screen."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = Field(default=None, max_length=100)
    fields: list[str] | None = Field(default=None, max_length=20)
    min_stage: str | None = None


class SandboxConsentIn(BaseModel):
    """An authorization request to decide, as the authorization URL your client built or as its parameters."""

    model_config = ConfigDict(extra="forbid")

    authorization_url: str | None = Field(default=None, max_length=8000)
    response_type: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None
    scope: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    authorization_details: str | list[dict[str, Any]] | None = None
    decision: Literal["approve", "decline"] = "approve"
    narrow: Narrowing | None = None
    expires_days: int = Field(default=90, ge=1, le=365)

    def params(self) -> dict[str, str]:
        """The request's query parameters, one value each (a repeated parameter is refused, as at /authorize)."""
        import json

        if self.authorization_url is not None:
            if any(getattr(self, p) is not None for p in AUTHORIZE_PARAMS):
                raise ValidationFailed("send the authorization_url or its parameters, not both")
            pairs = parse_qsl(urlsplit(self.authorization_url).query, keep_blank_values=True)
            if len(pairs) != len(parse_qs(urlsplit(self.authorization_url).query, keep_blank_values=True)):
                raise ValidationFailed("a parameter of the authorization_url is repeated")
            return dict(pairs)
        out: dict[str, str] = {}
        for name in AUTHORIZE_PARAMS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, str) else json.dumps(value)
        return out


def default_gestures(now: datetime | None = None) -> list[dict[str, Any]]:
    """A week of a made-up consumer looking at 65-inch TVs (views and a comparison) and glancing at headphones;
    :func:`more_gestures` moves it on towards buying."""
    now = now or datetime.now(UTC)

    def ev(type_: str, hours: float, name: str, brand: str, price: float, **extra: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "type": type_,
            "ts": (now - timedelta(hours=hours)).isoformat(),
            "origin": "https://sandbox-shop.example",
            "path": "/p/{id}",
            "product": {"name": name, "brand": brand, "price": price, "currency": "EUR"},
            **extra,
        }

    tv = ("Samsung 65 inch QLED 4K Smart TV", "Samsung", 899.0)
    oled = ("LG 65 inch OLED TV", "LG", 1099.0)
    phones = ("Sony noise cancelling headphones", "Sony", 299.0)
    events = [ev("product_view", 150 - 10 * i, *tv, dwell_ms=30_000) for i in range(3)]
    events += [ev("compare", 40, *oled)]
    events += [ev("product_view", 10 - i, *phones) for i in range(3)]
    return events


def more_gestures(now: datetime | None = None) -> list[dict[str, Any]]:
    """A made-up consumer coming back to the TV they compared: views, a review and a cart add, just now."""
    now = now or datetime.now(UTC)
    oled = {"name": "LG 65 inch OLED TV", "brand": "LG", "price": 1099.0, "currency": "EUR"}

    def ev(type_: str, minutes: float, **extra: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "type": type_,
            "ts": (now - timedelta(minutes=minutes)).isoformat(),
            "origin": "https://sandbox-shop.example",
            "path": "/p/{id}",
            "product": oled,
            **extra,
        }

    return [ev("product_view", 12, dwell_ms=80_000), ev("review_read", 8, dwell_ms=120_000), ev("cart_add", 2)]


def bound_vendor(*, session: Session, account_id: str) -> str | None:
    """The vendor app a sandbox consumer belongs to, or None for a real consumer."""
    row = session.get(SandboxConsumer, account_id)
    return row.vendor_id if row is not None else None


def is_sandbox(*, session: Session, account_id: str) -> bool:
    return session.get(SandboxConsumer, account_id) is not None


def check_may_grant(*, session: Session, account_id: str, client_id: str) -> None:
    """Raise Forbidden when a sandbox consumer would grant an app other than its own (least privilege)."""
    vendor = bound_vendor(session=session, account_id=account_id)
    if vendor is not None and vendor != client_id:
        raise Forbidden("a sandbox consumer can grant only the app that created it")


def view(ctx: VaultContext, row: SandboxConsumer, account: Account | None = None) -> dict[str, Any]:
    return {
        "id": row.account_id,
        "label": row.label,
        "sandbox": True,
        "subject": subject_for(ctx.ring, account_id=row.account_id, vendor_id=row.vendor_id),
        "email": f"sandbox-{row.account_id}@{EMAIL_DOMAIN}",
        "created_at": row.created_at.isoformat(),
    }


def create(
    *, session: Session, ctx: VaultContext, app: VendorApp, body: SandboxConsumerIn
) -> tuple[SandboxConsumer, dict[str, Any]]:
    """Create a sandbox consumer for ``app`` with seeded gestures (folded into signals); returns the row and the
    ingest counts. At most MAX_PER_APP live ones per app."""
    from vault_server.intents import service as intents

    count = len(list_for_vendor(session=session, vendor_id=app.id))
    if count >= MAX_PER_APP:
        raise Conflict(f"an app may have at most {MAX_PER_APP} sandbox consumers; delete one first")
    n = count + 1
    handle = secrets.token_hex(8)
    account = accounts.sign_up(
        session=session,
        ring=ctx.ring,
        hasher=ctx.hasher,
        email=f"sandbox-{handle}@{EMAIL_DOMAIN}",
        password=secrets.token_urlsafe(32),
        name=body.label or f"Sandbox consumer {n}",
        role=Role.consumer,
    )
    account.password_hash = None  # nobody logs in as a sandbox consumer
    session.add(account)
    row = SandboxConsumer(account_id=account.id, vendor_id=app.id, label=body.label or f"Sandbox consumer {n}")
    session.add(row)
    session.flush()
    result = intents.ingest(session=session, ctx=ctx, account_id=account.id, events=body.gestures or default_gestures())
    audit.record(
        session=session,
        ctx=ctx,
        kind="sandbox.consumer_created",
        actor=f"vendor:{app.id}",
        consumer_id=account.id,
        details={"vendor_id": app.id, "sandbox": True},
    )
    return row, {"accepted": result.accepted, "duplicate": result.duplicate, "rejected": result.rejected}


def list_for_vendor(*, session: Session, vendor_id: str) -> list[SandboxConsumer]:
    """The vendor's live sandbox consumers, oldest first."""
    query = (
        select(SandboxConsumer)
        .join(Account, col(Account.id) == col(SandboxConsumer.account_id))
        .where(SandboxConsumer.vendor_id == vendor_id, col(Account.deleted_at).is_(None))
        .order_by(col(SandboxConsumer.created_at))
    )
    return list(session.exec(query).all())


def get_for_vendor(*, session: Session, vendor_id: str, account_id: str) -> tuple[SandboxConsumer, Account]:
    """One of the vendor's live sandbox consumers; NotFound for anyone else's (or a real consumer)."""
    row = session.get(SandboxConsumer, account_id)
    account = session.get(Account, account_id) if row is not None else None
    if row is None or account is None or row.vendor_id != vendor_id or account.deleted_at is not None:
        raise NotFound("no such sandbox consumer")
    return row, account


def consent(
    *, session: Session, ctx: VaultContext, app: VendorApp, account_id: str, body: SandboxConsentIn
) -> dict[str, Any]:
    """Decide an authorization request for one of ``app``'s sandbox consumers through the consent screen's own
    path (oauth.authorize.validate, then oauth.flows.approve); returns where the browser would be redirected,
    with the code (or the error) and state taken out of it."""
    from vault_server.oauth import authorize, flows, rar
    from vault_server.oauth.errors import OAuthError

    get_for_vendor(session=session, vendor_id=app.id, account_id=account_id)
    params = body.params()
    if params.get("client_id") != app.id:
        raise Forbidden("a sandbox consumer can grant only the app that created it")
    try:
        valid = authorize.validate(ctx, session, params)
    except authorize.NoRedirect as exc:
        raise ValidationFailed(str(exc)) from None
    except OAuthError as exc:
        return _redirect(authorize.error_redirect(ctx, params["redirect_uri"], exc, params.get("state")))
    req = authorize.start(session=session, account_id=account_id, req=valid)
    req.decided_at = utcnow()
    session.add(req)
    session.flush()
    if body.decision == "decline":
        return _redirect(flows.decline(ctx=ctx, req=req))
    narrow = body.narrow or Narrowing()
    policy = rar.policy_for(ctx)
    form: list[tuple[str, Any]] = [("scope", s) for s in valid.scope]
    form += [("identity", s.split(":", 1)[1]) for s in valid.scope if s.startswith("identity:")]
    form.append(("expires_days", str(body.expires_days)))
    for i, detail in enumerate(valid.details):
        for cat in detail["categories"]:
            if policy.is_sensitive(cat):
                continue  # unticked on the consent screen until the consumer ticks it
            if narrow.categories is None or cat in narrow.categories:
                form.append((f"d{i}.cat", cat))
        form += [(f"d{i}.field", f) for f in detail["fields"] if narrow.fields is None or f in narrow.fields]
        form.append((f"d{i}.min_stage", narrow.min_stage or detail["min_stage"]))
    url = flows.approve(session=session, ctx=ctx, account_id=account_id, req=req, app=app, form=form)
    return _redirect(url)


def _redirect(url: str) -> dict[str, Any]:
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return {
        "redirect_to": url,
        "code": query.get("code"),
        "state": query.get("state"),
        "error": query.get("error"),
        "error_description": query.get("error_description"),
    }


def add_gestures(
    *, session: Session, ctx: VaultContext, app: VendorApp, account_id: str, body: SandboxGesturesIn
) -> dict[str, int]:
    """Record more gestures for one of ``app``'s sandbox consumers, through the ingest path the extension uses:
    its signals change, and you hear of it as you would of a person's (``signal.updated``, by feed and webhook,
    at the grant's frequency). Returns the ingest counts."""
    from vault_server.intents import service as intents

    get_for_vendor(session=session, vendor_id=app.id, account_id=account_id)
    result = intents.ingest(session=session, ctx=ctx, account_id=account_id, events=body.gestures or more_gestures())
    return {"accepted": result.accepted, "duplicate": result.duplicate, "rejected": result.rejected}


def revoke(*, session: Session, ctx: VaultContext, app: VendorApp, account_id: str) -> int:
    """The sandbox consumer revokes its grant to ``app`` as a person does on the grant page (you get
    ``grant.revoked``); returns how many grants ended (0 or 1)."""
    from vault_server.grants import service as grants

    get_for_vendor(session=session, vendor_id=app.id, account_id=account_id)
    live = [
        g
        for g in grants.list_for_account(session=session, account_id=account_id)
        if g.vendor_id == app.id and g.revoked_at is None and g.expires_at > utcnow()
    ]
    for grant in live:
        grants.revoke(session=session, ctx=ctx, grant=grant, actor="consumer")
    return len(live)


def delete(*, session: Session, ctx: VaultContext, app: VendorApp, account_id: str) -> None:
    """Delete a sandbox consumer as a consumer deletes their account (every room's data, the key shredded): the
    vendor receives the same ``subject.deleted`` tombstones, by feed and webhook."""
    from vault_server.accounts import flows as account_flows

    _, account = get_for_vendor(session=session, vendor_id=app.id, account_id=account_id)
    account_flows.delete_account(session=session, ctx=ctx, account=account, actor=f"vendor:{app.id}")
