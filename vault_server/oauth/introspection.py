"""Token introspection (RFC 7662): §2.1 the caller authenticates as a client; §2.2 ``active`` is false for
unknown, expired, revoked tokens, for tokens whose grant ended, and for other clients' tokens."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from vault_server.accounts.security import token_hash
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.oauth import tokens
from vault_server.oauth.models import RefreshToken
from vault_server.vendors.models import VendorApp

INACTIVE: dict[str, Any] = {"active": False}


def introspect(
    *, session: Session, ctx: VaultContext, client: VendorApp, token: str, hint: str | None
) -> dict[str, Any]:
    """Returns the RFC 7662 §2.2 response for ``token`` as seen by ``client``."""
    if hint != "refresh_token":
        claims = tokens.decode_access(ctx, token)
        if claims is not None:
            live = tokens.live_family(session, claims["fid"])
            if live is None or live[0].client_id != client.id:
                return dict(INACTIVE)
            out: dict[str, Any] = {
                k: claims[k] for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti") if k in claims
            }
            if "authorization_details" in claims:
                out["authorization_details"] = claims["authorization_details"]
            return {"active": True, "token_type": "Bearer", **out}
    row = session.get(RefreshToken, token_hash(token))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return dict(INACTIVE)
    live = tokens.live_family(session, row.family_id)
    if live is None or live[0].client_id != client.id:
        return dict(INACTIVE)
    family, grant, _ = live
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": family.scope,
        "client_id": family.client_id,
        "sub": grant.subject if grant is not None else family.account_id,
        "iss": tokens.issuer(ctx),
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
    }
