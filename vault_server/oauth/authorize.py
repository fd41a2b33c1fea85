"""The authorization endpoint (RFC 6749 §4.1.1-§4.1.2): client and exact redirect URI checked before anything
is sent back to that URI (§3.1.2.4), PKCE S256 required, RAR validated, ``state`` echoed, ``iss`` added
(RFC 9207); single-use, short-lived codes (§4.1.2, §10.5)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session

from vault_server.accounts.security import token_hash
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.oauth import pkce, rar
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.models import AuthorizationCode, AuthorizationRequest
from vault_server.oauth.scopes import VENDOR_SCOPES, parse_scope
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorApp, VendorStatus

CODE_TTL = timedelta(seconds=60)
REQUEST_TTL = timedelta(minutes=15)
DEFAULT_GRANT_DAYS = 90
MAX_GRANT_DAYS = 365


class NoRedirect(Exception):
    """An authorization request error that must not be sent to the redirect URI (unknown client, unregistered
    redirect URI, unapproved vendor): shown to the consumer instead."""


@dataclass
class ValidRequest:
    app: VendorApp
    redirect_uri: str
    state: str | None
    scope: list[str]
    details: list[dict[str, Any]]
    challenge: str


def check_client(session: Session, params: Mapping[str, str]) -> tuple[VendorApp, str]:
    """Returns (app, redirect URI) when the client exists, is approved, and the redirect URI is registered
    (exact string comparison: no prefix, case or normalisation tricks)."""
    client_id = params.get("client_id", "")
    app = vendors.get(session=session, client_id=client_id) if client_id else None
    if app is None or app.first_party:
        raise NoRedirect("this app is not registered with the vault")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise NoRedirect("the request has no redirect_uri; registered apps must send one")
    if not any(secrets.compare_digest(redirect_uri.encode(), r.encode()) for r in app.redirect_uris):
        raise NoRedirect("the redirect_uri does not exactly match one registered for this app")
    if app.status != VendorStatus.approved:
        raise NoRedirect(f"{app.name} is {app.status}: an administrator has not approved it yet")
    return app, redirect_uri


def validate(ctx: VaultContext, session: Session, params: Mapping[str, str]) -> ValidRequest:
    """Validate an authorization request; NoRedirect or OAuthError (to be redirected back) on failure."""
    app, redirect_uri = check_client(session, params)
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    for key in ("request", "request_uri"):
        if key in params:
            raise OAuthError("request_not_supported", f"{key} is not supported; send the parameters directly")
    challenge = pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
    scope = parse_scope(params.get("scope"), VENDOR_SCOPES)
    details = rar.parse(params.get("authorization_details"), rar.policy_for(ctx))
    if not scope and not details:
        raise OAuthError("invalid_scope", "ask for at least one scope or authorization_details entry")
    if "signals:read" in scope and not details:
        raise OAuthError(
            "invalid_authorization_details", "signals:read needs authorization_details of type intent_signals"
        )
    state = params.get("state")
    if state is not None and len(state) > 1000:
        raise OAuthError("invalid_request", "state is too long")
    return ValidRequest(app, redirect_uri, state, scope, details, challenge)


def redirect_with(ctx: VaultContext, redirect_uri: str, values: dict[str, str | None]) -> str:
    """``redirect_uri`` with query parameters added (keeping its own query), including ``iss`` (RFC 9207)."""
    query = urlencode({k: v for k, v in {**values, "iss": ctx.settings.base_url}.items() if v is not None})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


def error_redirect(ctx: VaultContext, redirect_uri: str, error: OAuthError, state: str | None) -> str:
    return redirect_with(
        ctx, redirect_uri, {"error": error.error, "error_description": error.description, "state": state}
    )


def start(*, session: Session, account_id: str, req: ValidRequest) -> AuthorizationRequest:
    """Keep the validated request server-side until the consumer decides; the form carries only its id."""
    row = AuthorizationRequest(
        id=secrets.token_urlsafe(24),
        client_id=req.app.id,
        account_id=account_id,
        redirect_uri=req.redirect_uri,
        state=req.state,
        scope=" ".join(req.scope),
        authorization_details=req.details,
        code_challenge=req.challenge,
        expires_at=utcnow() + REQUEST_TTL,
    )
    session.add(row)
    return row


def pending(*, session: Session, request_id: str, account_id: str) -> AuthorizationRequest | None:
    """The consumer's undecided, unexpired authorization request, or None."""
    row = session.get(AuthorizationRequest, request_id)
    if row is None or row.account_id != account_id or row.decided_at is not None or row.expires_at <= utcnow():
        return None
    return row


def issue_code(*, session: Session, req: AuthorizationRequest, grant_id: str) -> str:
    """A fresh single-use code (256 bits; only its hash is stored), valid for CODE_TTL."""
    code = "ivac_" + secrets.token_urlsafe(32)
    session.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            client_id=req.client_id,
            account_id=req.account_id,
            grant_id=grant_id,
            redirect_uri=req.redirect_uri,
            code_challenge=req.code_challenge,
            expires_at=utcnow() + CODE_TTL,
        )
    )
    return code
