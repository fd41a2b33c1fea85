"""Token revocation (RFC 7009): §2.1 the client authenticates and may only revoke its own tokens; §2.2 the
answer is 200 whether or not the token was known; revoking either token of a family ends the whole family."""

from __future__ import annotations

from sqlmodel import Session

from vault_server.accounts.security import token_hash
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.oauth import tokens
from vault_server.oauth.models import RefreshToken, TokenFamily
from vault_server.vendors.models import VendorApp


def family_of(*, session: Session, ctx: VaultContext, token: str, hint: str | None) -> TokenFamily | None:
    """The family a refresh or access token belongs to (signature-checked for JWTs), or None."""
    order = ("access_token", "refresh_token") if hint == "access_token" else ("refresh_token", "access_token")
    for kind in order:
        if kind == "refresh_token":
            row = session.get(RefreshToken, token_hash(token))
            if row is not None:
                return session.get(TokenFamily, row.family_id)
        else:
            claims = tokens.decode_access(ctx, token)
            if claims is not None:
                return session.get(TokenFamily, claims["fid"])
    return None


def revoke(*, session: Session, ctx: VaultContext, client: VendorApp, token: str, hint: str | None) -> None:
    """Revoke the token's family if it belongs to ``client``; silently nothing otherwise (§2.2)."""
    family = family_of(session=session, ctx=ctx, token=token, hint=hint)
    if family is None or family.client_id != client.id:
        return
    if tokens.revoke_family(session=session, family_id=family.id, reason="revoked_by_client"):
        audit.record(
            session=session,
            ctx=ctx,
            kind="token.revoked",
            actor="device" if family.kind == "device" else f"vendor:{client.id}",
            consumer_id=family.account_id,
            details={"family_id": family.id, "vendor_id": client.id, "grant_id": family.grant_id, "reason": "rfc7009"},
        )
