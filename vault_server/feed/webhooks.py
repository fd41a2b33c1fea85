"""Webhooks per the Standard Webhooks spec: endpoints, signing, payloads built at send time, delivery.

Headers: ``webhook-id`` (the outbox message id, stable across retries), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` = ``v1,<base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))>``, where the secret is
the base64 part of the endpoint's ``whsec_…`` secret. Payload: ``{"type", "timestamp", "data"}``.

Payloads hold no stored copy of consumer data: they are built from references when sent, narrowed to the grant
as it is then (a revoked grant sends nothing), and every payload that carries consumer data is audited in a
committed transaction *before* the request is made.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import NotFound, ValidationFailed
from vault_server.feed import events, ssrf
from vault_server.feed.models import WebhookDelivery, WebhookEndpoint
from vault_server.feed.outbox import Outcome
from vault_server.feed.service import grant_is_live, json_safe, narrowed_to, read_details, shaped_for_grants
from vault_server.grants.models import Grant

EVENT_TYPES = (
    "signal.updated",
    "grant.created",
    "grant.revoked",
    "grant.narrowed",
    "intent.declared",
    "offer.accepted",
    "question.answered",
)
SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
TOLERANCE_SECONDS = 300
MAX_ENDPOINTS = 10
TIMEOUT = aiohttp.ClientTimeout(total=10.0, connect=5.0)
USER_AGENT = "IntentVault-Webhooks/1"


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=1000)
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field(default="", max_length=200)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=200)


# ---- signing (Standard Webhooks) ---------------------------------------------------------------------------------
def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when one of the ``webhook-signature`` values matches (constant time) and the timestamp is fresh."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        return False
    try:
        stamp = int(ts)
    except ValueError:
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    expected = sign(secret, msg_id, stamp, body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in sigs.split() if s.startswith("v1,"))


# ---- secrets at rest --------------------------------------------------------------------------------------------
def _aead(ctx: VaultContext) -> AESGCM:
    return AESGCM(ctx.ring.derive("webhook-secret"))


def seal_secret(ctx: VaultContext, endpoint_id: str, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead(ctx).encrypt(nonce, secret.encode(), f"webhook_endpoint|{endpoint_id}".encode())


def open_secret(ctx: VaultContext, endpoint: WebhookEndpoint) -> str:
    blob = endpoint.secret_enc
    return _aead(ctx).decrypt(blob[:12], blob[12:], f"webhook_endpoint|{endpoint.id}".encode()).decode()


# ---- endpoints ---------------------------------------------------------------------------------------------------
def _check_events(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return [e for e in EVENT_TYPES if e in set(names)]


def create_endpoint(
    *, session: Session, ctx: VaultContext, vendor_id: str, body: EndpointIn
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (its URL is checked against the SSRF rules now and on every send); returns it and the
    ``whsec_`` secret, shown once."""
    ssrf.resolve(body.url, allow_private=ctx.settings.allow_private_webhooks)
    count = len(list(session.exec(select(WebhookEndpoint.id).where(WebhookEndpoint.vendor_id == vendor_id))))
    if count >= MAX_ENDPOINTS:
        raise ValidationFailed(f"at most {MAX_ENDPOINTS} webhook endpoints per vendor")
    endpoint_id = str(uuid.uuid4())
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        vendor_id=vendor_id,
        url=body.url,
        events=_check_events(body.events),
        description=body.description,
        secret_enc=seal_secret(ctx, endpoint_id, secret),
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def get_endpoint(*, session: Session, vendor_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.vendor_id != vendor_id:
        raise NotFound("no such webhook endpoint")
    return endpoint


def list_endpoints(*, session: Session, vendor_id: str) -> list[WebhookEndpoint]:
    return list(
        session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.vendor_id == vendor_id)
            .order_by(col(WebhookEndpoint.created_at))
        ).all()
    )


def update_endpoint(*, session: Session, vendor_id: str, endpoint_id: str, patch: EndpointPatch) -> WebhookEndpoint:
    endpoint = get_endpoint(session=session, vendor_id=vendor_id, endpoint_id=endpoint_id)
    if patch.events is not None:
        endpoint.events = _check_events(patch.events)
    if patch.enabled is not None:
        endpoint.enabled = patch.enabled
    if patch.description is not None:
        endpoint.description = patch.description
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    return endpoint


def delete_endpoint(*, session: Session, vendor_id: str, endpoint_id: str) -> None:
    session.delete(get_endpoint(session=session, vendor_id=vendor_id, endpoint_id=endpoint_id))


def replay(*, session: Session, ctx: VaultContext, vendor_id: str, message_id: str, via: str) -> WebhookDelivery:
    """Queue a message again as a new attempt, now (outbox.replay); the worker rebuilds its payload as of then and
    signs it with a fresh timestamp. The replay is written to the audit log with what the message had been through
    (``via``: "api" or "portal"). Returns the message."""
    from vault_server.feed import outbox

    before = session.get(WebhookDelivery, message_id)
    previous = (before.status, before.attempts, before.last_status) if before is not None else (None, 0, None)
    row = outbox.replay(session, vendor_id=vendor_id, message_id=message_id)
    audit.record(
        session=session,
        ctx=ctx,
        kind="webhook.replayed",
        actor=f"vendor:{vendor_id}",
        consumer_id=None,
        details={
            "vendor_id": vendor_id,
            "message_id": row.id,
            "endpoint_id": row.endpoint_id,
            "event_type": row.event_type,
            "previous_status": previous[0],
            "previous_attempts": previous[1],
            "previous_http_status": previous[2],
            "via": via,
        },
    )
    return row


def replay_dead(*, session: Session, ctx: VaultContext, vendor_id: str, endpoint_id: str | None) -> int:
    """Queue every dead message again (of one endpoint, or all); audited as one entry. Returns how many."""
    from vault_server.feed import outbox

    count = outbox.replay_dead(session, vendor_id=vendor_id, endpoint_id=endpoint_id)
    if count:
        audit.record(
            session=session,
            ctx=ctx,
            kind="webhook.replayed",
            actor=f"vendor:{vendor_id}",
            consumer_id=None,
            details={"vendor_id": vendor_id, "endpoint_id": endpoint_id, "dead_messages": count, "via": "api"},
        )
    return count


def endpoint_view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at.isoformat(),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def delivery_view(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "endpoint_id": row.endpoint_id,
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
    }


# ---- payloads and sending -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    message_id: str
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class Skip:
    """Nothing (left) to send: the grant ended, the object is gone or the endpoint was disabled."""

    reason: str = "nothing to send (grant ended or object gone)"


@dataclass(frozen=True)
class Failed:
    """This message could not be built; the others of its batch go on."""

    error: str


Built = Prepared | Skip | Failed


def payload_data(
    session: Session,
    ctx: VaultContext,
    msg: WebhookDelivery,
    *,
    grant: Grant | None,
    shaped: list[dict[str, Any]] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """``(data, audits)`` for a message as of now, or None when there is nothing (left) to send. ``grant`` is the
    message's grant (fetched for the whole batch), ``shaped`` its signals narrowed to that grant now (only needed
    for ``signal.updated``)."""
    if grant is not None and grant.vendor_id != msg.vendor_id:
        return None
    if msg.event_type == "webhook.test":  # a test from the vendor portal: no consumer data
        return {"test": True, "endpoint_id": msg.endpoint_id}, []
    base: dict[str, Any] = {"subject": msg.subject}
    if msg.grant_id:
        base["grant_id"] = msg.grant_id
    if msg.event_type == "grant.revoked":
        reason = {"grant.expired": "expired", "subject.deleted": "subject_deleted"}.get(msg.ref_id or "", "revoked")
        return {**base, "reason": reason, "forget": True}, []
    if msg.event_type == "grant.created":
        if grant is None:
            return None
        return {**base, "scope": grant.scope.split(), "authorization_details": grant.authorization_details}, []
    if msg.grant_id and not grant_is_live(grant):
        return None  # the grant ended after the change: its grant.revoked message follows
    if msg.event_type in ("signal.updated", "grant.narrowed"):
        narrowed = msg.event_type == "grant.narrowed"
        if grant is None:
            return None
        # an empty list is sent too, as on the feed: the consumer deleted what the vendor had (or it fell away)
        shaped = shaped or []
        data = {**base, "grant_version": grant.version, "signals": shaped}
        if narrowed:  # the vendor must delete what was withdrawn
            data.update(narrowed_to(grant))
        if not shaped and not narrowed:
            return data, []  # no consumer data in it: nothing to audit (as on the feed)
        audit_entry: dict[str, Any] = {
            "kind": "webhook.delivered",
            "consumer_id": grant.account_id,
            "details": {
                **read_details(msg.vendor_id, grant, shaped, endpoint="webhook"),
                "message_id": msg.id,
                "event": msg.event_type,
                "attempt": msg.attempts + 1,
                "status": None,  # recorded before sending (fail closed); the HTTP status is on the delivery row
            },
            "private": {"signals": shaped},
        }
        return data, [audit_entry]
    built = events.build(
        session=session, ctx=ctx, grant=grant, kind=msg.event_type, ref_id=msg.ref_id, vendor_id=msg.vendor_id
    )
    if built is None:
        return None
    data, event_audit = built
    if event_audit is None:
        return {**base, **data}, []
    event_audit["details"] = {**event_audit["details"], "message_id": msg.id, "attempt": msg.attempts + 1}
    return {**base, **data}, [event_audit]


def prepare_batch(*, session: Session, ctx: VaultContext, messages: Sequence[WebhookDelivery]) -> list[Built]:
    """Build the signed request bodies of claimed messages and write their audit entries in this transaction
    (the caller commits before sending: no audit entry, no data). One query each for the endpoints and the
    grants of the whole batch, one for the signals of all its consumers, one audit append (``record_many``).
    One result per message, in order. A message that cannot be built fails alone; a database error fails the
    batch (raised)."""
    endpoint_ids = sorted({m.endpoint_id for m in messages})
    endpoints = {
        e.id: e for e in session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))).all()
    }
    grant_ids = sorted({m.grant_id for m in messages if m.grant_id})
    grants = (
        {g.id: g for g in session.exec(select(Grant).where(col(Grant.id).in_(grant_ids))).all()} if grant_ids else {}
    )
    wanted = {
        m.grant_id: grants[m.grant_id]
        for m in messages
        if m.event_type in ("signal.updated", "grant.narrowed")
        and m.grant_id in grants
        and grant_is_live(grants[m.grant_id])
    }
    shaped = shaped_for_grants(session=session, ctx=ctx, grants=list(wanted.values()))
    secrets_of: dict[str, str] = {}
    results: list[Built] = []
    audits: list[audit.AuditSpec] = []
    stamp = utcnow().isoformat()
    for msg in messages:
        endpoint = endpoints.get(msg.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            results.append(Skip("the endpoint was disabled or removed"))
            continue
        grant = grants.get(msg.grant_id) if msg.grant_id else None
        try:
            built = payload_data(session, ctx, msg, grant=grant, shaped=shaped.get(msg.grant_id or ""))
            if built is None:
                results.append(Skip())
                continue
            if endpoint.id not in secrets_of:
                secrets_of[endpoint.id] = open_secret(ctx, endpoint)
        except DBAPIError:
            raise  # the transaction is gone: the whole batch is retried
        except Exception as exc:  # this message only; retried with backoff
            results.append(Failed(f"prepare failed: {type(exc).__name__}"))
            continue
        data, entries = built
        audits.extend(
            audit.AuditSpec(
                kind=e["kind"],
                actor=f"vendor:{msg.vendor_id}",
                consumer_id=e["consumer_id"],
                details=e["details"],
                private=json_safe(e["private"]) if e.get("private") is not None else None,
            )
            for e in entries
        )
        body = json.dumps(
            {"type": msg.event_type, "timestamp": stamp, "data": data}, separators=(",", ":"), default=str
        )
        results.append(
            Prepared(message_id=msg.id, url=endpoint.url, secret=secrets_of[endpoint.id], body=body.encode())
        )
    audit.record_many(session=session, ctx=ctx, entries=audits)  # one append for the whole batch
    return results


def prepare(*, session: Session, ctx: VaultContext, message_id: str) -> Prepared | None:
    """One message (see :func:`prepare_batch`); None when there is nothing to send."""
    msg = session.get(WebhookDelivery, message_id)
    if msg is None:
        return None
    [built] = prepare_batch(session=session, ctx=ctx, messages=[msg])
    if isinstance(built, Failed):
        raise RuntimeError(built.error)
    return built if isinstance(built, Prepared) else None


# ---- sending ------------------------------------------------------------------------------------------------------
def http_session(*, concurrency: int = 64) -> aiohttp.ClientSession:
    """The worker's HTTP client: a bounded connection pool (``concurrency`` sockets), no cookies, no redirects,
    keep-alive across batches. Create it inside the event loop that uses it."""
    connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=None, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=TIMEOUT,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding",),
    )


async def _targets(urls: Collection[str], *, allow_private: bool) -> dict[str, ssrf.Target | str]:
    """The SSRF check for every distinct URL of a batch (DNS in threads, all at once): a pinned target or why not."""

    async def check(url: str) -> ssrf.Target | str:
        try:
            return await asyncio.to_thread(ssrf.resolve, url, allow_private=allow_private)
        except ValidationFailed as exc:
            return f"refused: {exc.detail}"

    checked = await asyncio.gather(*(check(u) for u in urls))
    return dict(zip(urls, checked, strict=True))


async def _post(http: aiohttp.ClientSession, prepared: Prepared, target: ssrf.Target) -> Outcome:
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": target.host_header(),
        "webhook-id": prepared.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(prepared.secret, prepared.message_id, timestamp, prepared.body),
    }
    tls: dict[str, Any] = {"server_hostname": target.host} if target.scheme == "https" else {}
    try:
        # the body is never read: leaving the block closes a connection whose answer had one, so a receiver cannot
        # make the worker buffer a huge response
        async with http.post(
            target.pinned_url(), data=prepared.body, headers=headers, allow_redirects=False, **tls
        ) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Outcome(ok=False, error=type(exc).__name__)
    if 200 <= status < 300:
        return Outcome(ok=True, status=status)
    return Outcome(ok=False, status=status, error=f"HTTP {status}")


async def send_many(
    items: Sequence[Prepared],
    *,
    allow_private: bool,
    http: aiohttp.ClientSession,
    concurrency: int = 64,
    targets: dict[str, ssrf.Target | str] | None = None,
) -> list[Outcome]:
    """POST every message to its endpoint, at most ``concurrency`` at a time, each connecting only to the address
    the SSRF check approved for this batch. 2xx = delivered; redirects are not followed (a 3xx is a failure).
    One outcome per message, in order. (The worker calls it once per round, so that the messages of one subject
    are sent one after the other: tasks._send; ``targets`` carries the checks of a batch's earlier rounds.)"""
    targets = {} if targets is None else targets
    unchecked = sorted({p.url for p in items} - set(targets))
    if unchecked:
        targets.update(await _targets(unchecked, allow_private=allow_private))
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(prepared: Prepared) -> Outcome:
        target = targets[prepared.url]
        if isinstance(target, str):
            return Outcome(ok=False, error=target)
        async with gate:
            return await _post(http, prepared, target)

    return list(await asyncio.gather(*(one(p) for p in items)))


def send(prepared: Prepared, *, allow_private: bool) -> Outcome:
    """Send one message now (its own event loop and connection); the worker uses :func:`send_many`."""

    async def run() -> Outcome:
        async with http_session(concurrency=1) as http:
            [outcome] = await send_many([prepared], allow_private=allow_private, http=http)
            return outcome

    return asyncio.run(run())
