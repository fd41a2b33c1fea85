"""The token endpoint (RFC 6749 §3.2, §4.1.3, §6; RFC 8628 §3.4): code exchange with PKCE, refresh with rotation
and reuse detection, and device-code polling. Errors that must leave a trace (a reused code or refresh token
revokes what it issued; a poll updates its timestamp) are raised as :class:`Persisting` so the view commits
before answering."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, SQLModel, col

from vault_server.accounts.security import token_hash
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.oauth import device, pkce, rar, tokens
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
