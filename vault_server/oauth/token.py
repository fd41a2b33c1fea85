"""The token endpoint (RFC 6749 §3.2, §4.1.3, §6; RFC 8628 §3.4): code exchange with PKCE, refresh with rotation
and reuse detection, and device-code polling. Errors that must leave a trace (a reused code or refresh token
revokes what it issued; a poll updates its timestamp) are raised as :class:`Persisting` so the view commits
before answering."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from vault_server.accounts.security import token_hash
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants.models import Grant
from vault_server.oauth import device, pkce, rar, tokens
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.models import AuthorizationCode, DeviceCode, RefreshToken, TokenFamily
from vault_server.oauth.pairwise import subject_for
from vault_server.oauth.scopes import DEVICE_SCOPES, VENDOR_SCOPES, parse_scope
from vault_server.vendors.models import VendorApp


class Persisting(OAuthError):
    """An OAuth error whose side effects (revocations, poll times) must be committed before it is returned."""


def _grant_error(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def _audit_token(session: Session, ctx: VaultContext, kind: str, family: TokenFamily, actor: str, **extra: Any) -> None:
    details: dict[str, Any] = {
        "family_id": family.id,
        "vendor_id": family.client_id,
        "grant_id": family.grant_id,
        "token_kind": family.kind,
        "scope": family.scope,
        **extra,
    }
    audit.record(session=session, ctx=ctx, kind=kind, actor=actor, consumer_id=family.account_id, details=details)


def _subject(ctx: VaultContext, family: TokenFamily) -> str:
    if family.kind == "device":
        return family.account_id
    return subject_for(ctx.ring, account_id=family.account_id, vendor_id=family.client_id)


def exchange_code(*, session: Session, ctx: VaultContext, client: VendorApp, form: Mapping[str, str]) -> dict[str, Any]:
    """RFC 6749 §4.1.3 + RFC 7636 §4.5-4.6: returns the token response or raises."""
    code = form.get("code", "")
    row = session.get(AuthorizationCode, token_hash(code)) if code else None
    if row is None or row.client_id != client.id:
        raise _grant_error("the authorization code is unknown or was issued to another client")
    if row.used_at is not None:
        # §4.1.2: a code used twice is refused, and what it issued is revoked.
        if row.family_id and tokens.revoke_family(session=session, family_id=row.family_id, reason="code_reuse"):
            family = session.get(TokenFamily, row.family_id)
            if family is not None:
                _audit_token(session, ctx, "token.revoked", family, "system", reason="code_reuse")
        raise Persisting("invalid_grant", "the authorization code was already used; its tokens are now revoked")
    if row.expires_at <= utcnow():
        raise _grant_error("the authorization code has expired")
    if form.get("redirect_uri") != row.redirect_uri:
        raise _grant_error("redirect_uri does not match the one of the authorization request")
    if not pkce.verify(form.get("code_verifier"), row.code_challenge):
        session.execute(
            update(AuthorizationCode).where(col(AuthorizationCode.code_hash) == row.code_hash).values(used_at=utcnow())
        )
        raise Persisting("invalid_grant", "code_verifier does not match the code_challenge (PKCE S256)")
    won = session.execute(
        update(AuthorizationCode)
        .where(col(AuthorizationCode.code_hash) == row.code_hash, col(AuthorizationCode.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if getattr(won, "rowcount", 0) != 1:
        raise _grant_error("the authorization code was already used")
    grant = session.get(Grant, row.grant_id)
    if grant is None or not tokens.grant_is_live(grant):
        raise _grant_error("the consent behind this code has ended")
    family = tokens.new_family(
        session=session,
        kind="vendor",
        client_id=client.id,
        account_id=row.account_id,
        grant_id=grant.id,
        scope=grant.scope,
        authorization_details=list(grant.authorization_details),
    )
    row.family_id = family.id
    session.add(row)
    body = tokens.issue(
        session=session, ctx=ctx, family=family, subject=grant.subject, refresh_expires=grant.expires_at
    )
    _audit_token(session, ctx, "token.issued", family, f"vendor:{client.id}", grant_type="authorization_code")
    return body


def refresh(*, session: Session, ctx: VaultContext, client: VendorApp, form: Mapping[str, str]) -> dict[str, Any]:
    """RFC 6749 §6 with rotation: a used refresh token presented again revokes its whole family."""
    presented = form.get("refresh_token", "")
    row = session.get(RefreshToken, token_hash(presented)) if presented else None
    family = session.get(TokenFamily, row.family_id) if row is not None else None
    if row is None or family is None or family.client_id != client.id:
        raise _grant_error("the refresh token is unknown or was issued to another client")
    if row.used_at is not None:
        if tokens.revoke_family(session=session, family_id=family.id, reason="refresh_reuse"):
            _audit_token(session, ctx, "token.revoked", family, "system", reason="refresh_reuse")
        raise Persisting("invalid_grant", "this refresh token was already used; every token of its family is revoked")
    if row.expires_at <= utcnow():
        raise _grant_error("the refresh token has expired")
    live = tokens.live_family(session, family.id)
    if live is None:
        raise _grant_error("the refresh token was revoked or its grant has ended")
    _, grant, _ = live
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
    rotated = session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.token_hash) == row.token_hash, col(RefreshToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if getattr(rotated, "rowcount", 0) != 1:
        if tokens.revoke_family(session=session, family_id=family.id, reason="refresh_reuse"):
            _audit_token(session, ctx, "token.revoked", family, "system", reason="refresh_reuse")
        raise Persisting("invalid_grant", "this refresh token was already used; every token of its family is revoked")
    body = tokens.issue(
        session=session,
        ctx=ctx,
        family=family,
        subject=grant.subject if grant is not None else _subject(ctx, family),
        scope=scope,
        details=details,
        refresh_expires=grant.expires_at if grant is not None else None,
    )
    actor = "device" if family.kind == "device" else f"vendor:{client.id}"
    _audit_token(session, ctx, "token.refreshed", family, actor)
    return body


def poll_device(*, session: Session, ctx: VaultContext, client: VendorApp, form: Mapping[str, str]) -> dict[str, Any]:
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
    _audit_token(session, ctx, "token.issued", family, "device", grant_type="device_code")
    return body
