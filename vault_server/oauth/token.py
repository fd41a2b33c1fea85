"""The token endpoint (RFC 6749 §3.2, §4.1.3, §6; RFC 8628 §3.4): code exchange with PKCE, refresh with rotation
and reuse detection, and device-code polling. Errors that must leave a trace (a reused code or refresh token
revokes what it issued; a poll updates its timestamp) are raised as :class:`Persisting` so the view commits
before answering."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, SQLModel, col
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vault_server.accounts import service as accounts
from vault_server.accounts.security import token_hash
from vault_server.accounts.service import Window
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import RateLimited
from vault_server.oauth import batch, device, pkce, rar, tokens
from vault_server.oauth.clientauth import authenticate_client
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.models import AuthorizationCode, DeviceCode, TokenFamily
from vault_server.oauth.pairwise import subject_for
from vault_server.oauth.scopes import DEVICE_SCOPES, VENDOR_SCOPES, parse_scope
from vault_server.vendors.models import VendorApp


class Persisting(OAuthError):
    """An OAuth error whose side effects (revocations, poll times) must be committed before it is returned."""


def _grant_error(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def _audit_token(out: list[audit.AuditSpec], kind: str, family: tokens.Family, actor: str, **extra: Any) -> None:
    """Queue the audit entry of a token event; the caller appends the queue (``audit.record_many``) in the same
    transaction before it commits (the token endpoint appends a whole batch of requests' entries at once)."""
    details: dict[str, Any] = {
        "family_id": family.id,
        "vendor_id": family.client_id,
        "grant_id": family.grant_id,
        "token_kind": family.kind,
        "scope": family.scope,
        **extra,
    }
    out.append(audit.AuditSpec(kind=kind, actor=actor, consumer_id=family.account_id, details=details))


def _subject(ctx: VaultContext, family: tokens.Family) -> str:
    if family.kind == "device":
        return family.account_id
    return subject_for(ctx.ring, account_id=family.account_id, vendor_id=family.client_id)


def _revoke(session: Session, audit_out: list[audit.AuditSpec], family_id: str, reason: str) -> None:
    """End a family after a reuse, with its audit entry (when it was still live)."""
    if tokens.revoke_family(session=session, family_id=family_id, reason=reason):
        family = session.get(TokenFamily, family_id)
        if family is not None:
            _audit_token(audit_out, "token.revoked", tokens.Family.of(family), "system", reason=reason)


# Core statements of the two hot grants, built once (see tokens.py)
_CODE = SQLModel.metadata.tables["oauth_code"]
_GRANT = SQLModel.metadata.tables["consent_grant"]
_ACCOUNT = SQLModel.metadata.tables["account"]
_FAMILY = tokens.FAMILY_TABLE
_REFRESH = tokens.REFRESH_TABLE
_SELECT_CODE = select(
    _CODE.c.code_hash,
    _CODE.c.client_id,
    _CODE.c.account_id,
    _CODE.c.grant_id,
    _CODE.c.redirect_uri,
    _CODE.c.code_challenge,
    _CODE.c.expires_at,
    _CODE.c.used_at,
    _CODE.c.family_id,
).where(_CODE.c.code_hash == bindparam("h"))
_SELECT_GRANT = select(
    _GRANT.c.id,
    _GRANT.c.subject,
    _GRANT.c.scope,
    _GRANT.c.authorization_details,
    _GRANT.c.expires_at,
    _GRANT.c.revoked_at,
).where(_GRANT.c.id == bindparam("id"))
_CONSUME_CODE = (
    update(_CODE)
    .where(_CODE.c.code_hash == bindparam("h"), _CODE.c.used_at.is_(None))
    .values(used_at=bindparam("now"), family_id=bindparam("fid"))
)
_SELECT_REFRESH = (
    select(
        _REFRESH.c.expires_at,
        _REFRESH.c.used_at,
        _FAMILY.c.id,
        _FAMILY.c.kind,
        _FAMILY.c.client_id,
        _FAMILY.c.account_id,
        _FAMILY.c.grant_id,
        _FAMILY.c.scope,
        _FAMILY.c.authorization_details,
        _FAMILY.c.revoked_at,
        _ACCOUNT.c.deleted_at,
        _GRANT.c.subject,
        _GRANT.c.expires_at.label("grant_expires_at"),
        _GRANT.c.revoked_at.label("grant_revoked_at"),
    )
    .select_from(
        _REFRESH.join(_FAMILY, _FAMILY.c.id == _REFRESH.c.family_id)
        .join(_ACCOUNT, _ACCOUNT.c.id == _FAMILY.c.account_id)
        .outerjoin(_GRANT, _GRANT.c.id == _FAMILY.c.grant_id)
    )
    .where(_REFRESH.c.token_hash == bindparam("h"))
)
_ROTATE = (
    update(_REFRESH)
    .where(_REFRESH.c.token_hash == bindparam("h"), _REFRESH.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
)


def exchange_code(
    *, session: Session, ctx: VaultContext, client: VendorApp, form: Mapping[str, str], audit_out: list[audit.AuditSpec]
) -> dict[str, Any]:
    """RFC 6749 §4.1.3 + RFC 7636 §4.5-4.6: returns the token response or raises. Checks first, writes after: a
    refused request has written nothing (the token batch relies on it), except what :class:`Persisting` keeps."""
    code = form.get("code", "")
    conn = session.connection()
    row = conn.execute(_SELECT_CODE, {"h": token_hash(code)}).first() if code else None
    if row is None or row.client_id != client.id:
        raise _grant_error("the authorization code is unknown or was issued to another client")
    if row.used_at is not None:
        # §4.1.2: a code used twice is refused, and what it issued is revoked.
        if row.family_id:
            _revoke(session, audit_out, row.family_id, "code_reuse")
        raise Persisting("invalid_grant", "the authorization code was already used; its tokens are now revoked")
    now = utcnow()
    if row.expires_at <= now:
        raise _grant_error("the authorization code has expired")
    if form.get("redirect_uri") != row.redirect_uri:
        raise _grant_error("redirect_uri does not match the one of the authorization request")
    if not pkce.verify(form.get("code_verifier"), row.code_challenge):
        session.execute(
            update(AuthorizationCode).where(col(AuthorizationCode.code_hash) == row.code_hash).values(used_at=now)
        )
        raise Persisting("invalid_grant", "code_verifier does not match the code_challenge (PKCE S256)")
    grant = conn.execute(_SELECT_GRANT, {"id": row.grant_id}).first()
    if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
        raise _grant_error("the consent behind this code has ended")
    family_id = str(uuid.uuid4())
    won = conn.execute(_CONSUME_CODE, {"h": row.code_hash, "now": now, "fid": family_id})
    if won.rowcount != 1:
        # a redemption racing this one won (PostgreSQL: its UPDATE committed while ours waited on the row): what it
        # issued is revoked as for any reuse — before, 8 parallel redemptions left the winner's tokens alive
        fresh = conn.execute(_SELECT_CODE, {"h": row.code_hash}).first()
        if fresh is not None and fresh.family_id:
            _revoke(session, audit_out, fresh.family_id, "code_reuse")
        raise Persisting("invalid_grant", "the authorization code was already used; its tokens are now revoked")
    family = tokens.new_family(
        session=session,
        family_id=family_id,
        kind="vendor",
        client_id=client.id,
        account_id=row.account_id,
        grant_id=grant.id,
        scope=grant.scope,
        authorization_details=list(grant.authorization_details),
    )
    body = tokens.issue(
        session=session, ctx=ctx, family=family, subject=grant.subject, refresh_expires=grant.expires_at
    )
    _audit_token(audit_out, "token.issued", family, f"vendor:{client.id}", grant_type="authorization_code")
    return body


def refresh(
    *, session: Session, ctx: VaultContext, client: VendorApp, form: Mapping[str, str], audit_out: list[audit.AuditSpec]
) -> dict[str, Any]:
    """RFC 6749 §6 with rotation: a used refresh token presented again revokes its whole family."""
    presented = form.get("refresh_token", "")
    digest = token_hash(presented)
    conn = session.connection()
    row = conn.execute(_SELECT_REFRESH, {"h": digest}).first() if presented else None
    if row is None or row.client_id != client.id:
        raise _grant_error("the refresh token is unknown or was issued to another client")
    family = tokens.Family.of(row)
    if row.used_at is not None:
        _revoke(session, audit_out, family.id, "refresh_reuse")
        raise Persisting("invalid_grant", "this refresh token was already used; every token of its family is revoked")
    now = utcnow()
    if row.expires_at <= now:
        raise _grant_error("the refresh token has expired")
    # live: the family, its account and (vendor tokens) its grant; the client is the authenticated, approved one
    grant_live = row.subject is not None and row.grant_revoked_at is None and row.grant_expires_at > now
    if row.revoked_at is not None or row.deleted_at is not None or (family.kind == "vendor" and not grant_live):
        raise _grant_error("the refresh token was revoked or its grant has ended")
    allowed = DEVICE_SCOPES if family.kind == "device" else VENDOR_SCOPES
    scope = family.scope
    if form.get("scope"):
        asked = parse_scope(form.get("scope"), allowed)
        if not set(asked) <= set(family.scope.split()):
            raise OAuthError("invalid_scope", "a refresh cannot ask for more than was granted (RFC 6749 §6)")
        scope = " ".join(asked)
    details = list(family.authorization_details)
    if form.get("authorization_details"):
        asked_details = rar.parse(form.get("authorization_details"), rar.policy_for(ctx))
        if not rar.is_within(asked_details, family.authorization_details):
            raise OAuthError("invalid_authorization_details", "a refresh cannot ask for more than was granted")
        details = asked_details
    rotated = conn.execute(_ROTATE, {"h": digest, "now": now})
    if rotated.rowcount != 1:
        _revoke(session, audit_out, family.id, "refresh_reuse")
        raise Persisting("invalid_grant", "this refresh token was already used; every token of its family is revoked")
    has_grant = row.subject is not None
    body = tokens.issue(
        session=session,
        ctx=ctx,
        family=family,
        subject=row.subject if has_grant else _subject(ctx, family),
        scope=scope,
        details=details,
        refresh_expires=row.grant_expires_at if has_grant else None,
    )
    actor = "device" if family.kind == "device" else f"vendor:{client.id}"
    _audit_token(audit_out, "token.refreshed", family, actor)
    return body


def poll_device(
    *, session: Session, ctx: VaultContext, client: VendorApp, form: Mapping[str, str], audit_out: list[audit.AuditSpec]
) -> dict[str, Any]:
    """RFC 8628 §3.4-§3.5: the device's poll; tokens once the consumer approved."""
    presented = form.get("device_code", "")
    row = session.get(DeviceCode, token_hash(presented)) if presented else None
    if row is None or row.client_id != client.id:
        raise _grant_error("the device code is unknown or was issued to another client")
    now = utcnow()
    if row.status == "used":
        raise _grant_error("this device code was already exchanged")
    if row.expires_at <= now:
        raise OAuthError("expired_token", "the device code expired; start pairing again")
    if row.status == "denied":
        raise OAuthError("access_denied", "the consumer declined this device")
    if row.status == "pending":
        too_fast = row.last_polled_at is not None and now - row.last_polled_at < timedelta(seconds=row.interval)
        row.last_polled_at = now
        if too_fast:
            row.interval += 5  # §3.5: slow_down raises the interval by 5 seconds
            session.add(row)
            raise Persisting("slow_down", f"poll at most every {row.interval} seconds")
        session.add(row)
        raise Persisting("authorization_pending", "waiting for the consumer to approve the code")
    if row.account_id is None or not device.claim_approved(session=session, row=row):
        raise _grant_error("this device code was already exchanged")
    family = tokens.new_family(
        session=session,
        kind="device",
        client_id=client.id,
        account_id=row.account_id,
        grant_id=None,
        scope=row.scope,
        authorization_details=[],
        device_name=row.device_name,
    )
    row.family_id = family.id
    session.add(row)
    body = tokens.issue(session=session, ctx=ctx, family=family, subject=row.account_id)
    _audit_token(audit_out, "token.issued", family, "device", grant_type="device_code")
    return body


# ---- the endpoint ----------------------------------------------------------------------------------------------
#: refusals that count as a guess against the brute-force limit (a wrong secret, code, refresh or device code)
GUESSES = frozenset({"invalid_client", "invalid_grant"})
GRANTS = {"authorization_code": exchange_code, "refresh_token": refresh, device.GRANT_TYPE: poll_device}


def _slow_down(exc: RateLimited) -> OAuthError:
    return OAuthError(
        "slow_down",
        "too many failed attempts from this address; wait before retrying",
        status=429,
        headers={"Retry-After": exc.headers["Retry-After"]},
    )


_UNREAD = object()


def _check_throttle(s: Session, key: str, window: Window) -> None:
    """Raise ``slow_down`` (429, Retry-After) when ``key`` has used up its window of failures.

    Read-only, and read once per batch: the window's state is kept in the batch's session (``s.info``) and
    replaced by what each counted failure returns (``accounts.throttle_hit``, atomic), so the jobs of a batch, which
    run one after another, see each other's failures exactly. The guarantee, as documented in docs/THREAT_MODEL.md:
    failures counted elsewhere while a batch is open (another server process's batch, the revocation and
    introspection endpoints) are seen at the batch's next failure, so each open batch — one per process — may let
    one guess past the limit; taking an attempt before the work (``throttle_take``) had no overrun but cost two
    writes per request. For secrets of 256 bits (client secrets, codes, refresh tokens) a handful of guesses more
    per window is no advantage.
    """
    seen: dict[str, Any] = s.info.setdefault("token_throttle", {})
    state = seen.get(key, _UNREAD)
    if state is _UNREAD:
        state = seen[key] = accounts.throttle_peek(session=s, key=key)
    if state is None:
        return
    count, started = state
    elapsed = int((utcnow() - started).total_seconds())
    if elapsed < window.seconds and count >= window.limit:
        raise _slow_down(RateLimited("too many attempts; try again later", retry_after=window.seconds - elapsed))


def _count_failure(s: Session, key: str, window: Window) -> None:
    s.info.setdefault("token_throttle", {})[key] = accounts.throttle_hit(session=s, key=key, window=window)


def job(request: Request, ctx: VaultContext, form: Mapping[str, str]) -> batch.Job:
    """The token request as a job of the token batch (``oauth/batch.py``): the brute-force check (read-only,
    :func:`_check_throttle`), then client authentication and the grant's rules inside a savepoint. A refusal rolls
    back to the savepoint, so what the job leaves is exactly what must stay: a failed guess counted against the
    address (failed client authentications and grants; a success costs the throttle nothing), and what a
    :class:`Persisting` keeps."""
    grant_type = form.get("grant_type")
    handler = GRANTS.get(grant_type or "")
    key = "oauth:ip:" + (request.client.host if request.client else "unknown")
    window = Window(ctx.settings.oauth_max_failures, ctx.settings.oauth_window_seconds)

    def run(s: Session, audit_out: list[audit.AuditSpec]) -> dict[str, Any]:
        if handler is None:
            raise OAuthError("unsupported_grant_type", f"grant_type must be one of: {', '.join(GRANTS)}")
        client = authenticate_client(request=request, form=form, session=s, ctx=ctx, allow_public=True)
        s.info.setdefault("token_clients", {})[client.id] = client  # the identity map is weak: keep it for the batch
        if client.first_party and grant_type == "authorization_code":
            raise OAuthError("unauthorized_client", "this client may only use the device grant")
        if not client.first_party and grant_type == device.GRANT_TYPE:
            raise OAuthError("unauthorized_client", "the device grant is only for the vault's browser extension")
        return handler(session=s, ctx=ctx, client=client, form=form, audit_out=audit_out)

    def work(s: Session, audit_out: list[audit.AuditSpec]) -> dict[str, Any]:
        _check_throttle(s, key, window)
        specs: list[audit.AuditSpec] = []
        deferred: Persisting | None = None
        try:
            with s.begin_nested():
                try:
                    body = run(s, specs)
                except Persisting as exc:  # its writes stay: leave the savepoint normally
                    deferred = exc
        except OAuthError as exc:
            if exc.error in GUESSES:
                _count_failure(s, key, window)
            raise
        audit_out.extend(specs)
        if deferred is not None:
            if deferred.error in GUESSES:
                _count_failure(s, key, window)
            raise deferred
        return body

    return work


PATH = "/oauth/token"
MAX_FIELDS = 1000  # as Starlette's form parser
_JSON = (b"content-type", b"application/json")
_NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
Handler = Callable[[Request, Any], Response | Awaitable[Response]]
ExceptionHandlers = Mapping[Any, Handler]


class TokenEndpoint:
    """``POST /oauth/token`` as a pure ASGI handler in front of the router (issue 12: routing, dependency
    resolution and form parsing were a fifth of the endpoint's CPU). It reads the urlencoded body (within the
    body limit), refuses repeated parameters (RFC 6749 §3.2), hands the request to the token batch and answers the
    batch's response as JSON with ``Cache-Control: no-store`` — the same answers as the route in ``views.py``,
    which stays declared for the OpenAPI document. Errors go through the app's own exception handlers (``OAuthError``
    as RFC 6749 §5.2 JSON, database outages as 503 problems); what has no handler reaches the server-error
    middleware as from any route. It runs inside the request-id, access-log and body-limit middleware."""

    def __init__(self, app: ASGIApp, ctx: VaultContext, handlers: ExceptionHandlers, max_bytes: int):
        self.app = app
        self.ctx = ctx
        self.handlers = handlers  # the app's dict: filled by create_app before the first request
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            form = await self._form(scope, receive)
            if form is None:
                return  # the client left (or the body limit answered 413 already)
            body = await batch.batcher_for(self.ctx).answer(job(request, self.ctx, form))
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)
            return
        payload = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        headers = [(b"content-length", str(len(payload)).encode()), _JSON, *_NO_STORE]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _form(self, scope: Scope, receive: Receive) -> dict[str, str] | None:
        """The parameters, decoded as Starlette decodes a urlencoded form; None when the client is gone."""
        ctype = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value
                break
        if not ctype.startswith(b"application/x-www-form-urlencoded"):
            raise OAuthError("invalid_request", "send the parameters as application/x-www-form-urlencoded")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:  # the body-limit middleware outside answers first; this is a backstop
                raise HTTPException(413, f"the limit is {self.max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            items = parse_qsl(b"".join(chunks).decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:
            raise HTTPException(400, f"Too many fields. Maximum number of fields is {MAX_FIELDS}.") from None
        form: dict[str, str] = {}
        for key, value in items:
            if key in form:
                raise OAuthError("invalid_request", f"parameter {key} is repeated")
            form[key] = value
        return form

    def _handler(self, exc: Exception) -> Handler | None:
        """The app's handler for this exception, found as Starlette's exception middleware finds it (the catch-all
        ``Exception`` handler belongs to the server-error middleware, which sees the exception re-raised)."""
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in self.handlers:
                return self.handlers[cls]
        return None
