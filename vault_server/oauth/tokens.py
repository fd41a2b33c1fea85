"""Tokens: JWT access tokens per RFC 9068 (``typ: at+jwt``, §2.2 claims, EdDSA with the vault key set, 10
minutes), opaque refresh tokens rotated on every use with reuse detection (OAuth 2.0 Security BCP, RFC 9700
§4.14.2), and token families that revocation ends at once."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.errors import JoseError
from sqlalchemy import insert, update
from sqlmodel import Session, SQLModel, col, select

from vault_server.accounts.models import Account
from vault_server.accounts.security import token_hash
from vault_server.context import VaultContext
from vault_server.crypto.signing import ALG
from vault_server.db import utcnow
from vault_server.grants.models import Grant
from vault_server.oauth.models import RefreshToken, TokenFamily
from vault_server.vendors.models import VendorApp, VendorStatus

ACCESS_TTL = timedelta(minutes=10)
VENDOR_REFRESH_TTL = timedelta(days=30)
DEVICE_REFRESH_TTL = timedelta(days=180)
AT_TYP = "at+jwt"


@dataclass(frozen=True)
class LiveToken:
    """A verified access token whose family (and grant, for vendor tokens) is live right now."""

    claims: dict[str, Any]
    family: TokenFamily
    grant: Grant | None
    account: Account


def issuer(ctx: VaultContext) -> str:
    return ctx.settings.base_url


def audience(ctx: VaultContext) -> str:
    """The resource server the access tokens are for: the vault's own API."""
    return ctx.settings.base_url + "/v1"


@dataclass(frozen=True, slots=True)
class Family:
    """What issuing and auditing need of a token family (a row of ``oauth_token_family``)."""

    id: str
    kind: str
    client_id: str
    account_id: str
    grant_id: str | None
    scope: str
    authorization_details: list[dict[str, Any]]

    @classmethod
    def of(cls, row: Any) -> Family:
        """From a ``TokenFamily`` or a Core row carrying its columns."""
        return cls(
            id=row.id,
            kind=row.kind,
            client_id=row.client_id,
            account_id=row.account_id,
            grant_id=row.grant_id,
            scope=row.scope,
            authorization_details=list(row.authorization_details),
        )


# Core statements on the token path, built once (SQLAlchemy caches their compiled form): the ORM's per-object
# bookkeeping cost more than the statements themselves on this path (issue 12)
FAMILY_TABLE = SQLModel.metadata.tables["oauth_token_family"]
REFRESH_TABLE = SQLModel.metadata.tables["oauth_refresh_token"]
_INSERT_FAMILY = insert(FAMILY_TABLE)
_INSERT_REFRESH = insert(REFRESH_TABLE)


def new_family(
    *,
    session: Session,
    kind: str,
    client_id: str,
    account_id: str,
    grant_id: str | None,
    scope: str,
    authorization_details: list[dict[str, Any]],
    device_name: str | None = None,
    family_id: str | None = None,
) -> Family:
    family = Family(
        id=family_id or str(uuid.uuid4()),
        kind=kind,
        client_id=client_id,
        account_id=account_id,
        grant_id=grant_id,
        scope=scope,
        authorization_details=authorization_details,
    )
    session.connection().execute(
        _INSERT_FAMILY,
        {
            "id": family.id,
            "kind": kind,
            "client_id": client_id,
            "account_id": account_id,
            "grant_id": grant_id,
            "scope": scope,
            "authorization_details": authorization_details,
            "device_name": device_name,
            "created_at": utcnow(),
            "last_used_at": None,
            "revoked_at": None,
            "revoked_reason": None,
        },
    )
    return family


def _access_token(ctx: VaultContext, family: Family, *, subject: str, scope: str, details: list[dict[str, Any]]) -> str:
    now = utcnow()
    claims: dict[str, Any] = {
        "iss": issuer(ctx),
        "aud": audience(ctx),
        "sub": subject,
        "client_id": family.client_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ACCESS_TTL).timestamp()),
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
        "fid": family.id,
    }
    if details:
        claims["authorization_details"] = details
    if family.grant_id:
        claims["gid"] = family.grant_id
    return sign_access_token(ctx, claims)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADERS: dict[str, bytes] = {}  # kid -> the encoded protected header (a handful of kids over a vault's life)


def sign_access_token(ctx: VaultContext, claims: dict[str, Any]) -> str:
    """The compact JWS of an RFC 9068 access token (``typ: at+jwt``, EdDSA, RFC 8037), signed with the key set's
    signing key of this moment (its ``kid`` in the header, so rotation works as for every other signature).

    Signed with ``cryptography``'s Ed25519 directly on a header encoded once per key: joserfc's registry checks cost
    as much as the signature (issue 12). Anything that verifies JWS (joserfc, authlib, the published JWKS) reads it
    as it read ``KeySet.encode_jwt``'s."""
    kid, key = ctx.keyset.active_ed25519()
    header = _HEADERS.get(kid)
    if header is None:
        header = _HEADERS[kid] = _b64(json.dumps({"alg": ALG, "kid": kid, "typ": AT_TYP}).encode())
    signing_input = header + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    return (signing_input + b"." + _b64(key.sign(signing_input))).decode()


def issue(
    *,
    session: Session,
    ctx: VaultContext,
    family: Family,
    subject: str,
    scope: str | None = None,
    details: list[dict[str, Any]] | None = None,
    refresh_expires: datetime | None = None,
) -> dict[str, Any]:
    """Returns an RFC 6749 §5.1 token response (plus RFC 9396 §7 ``authorization_details``) for the family."""
    scope = family.scope if scope is None else scope
    details = list(family.authorization_details) if details is None else details
    refresh = "ivr_" + secrets.token_urlsafe(32)
    ttl = DEVICE_REFRESH_TTL if family.kind == "device" else VENDOR_REFRESH_TTL
    expires = utcnow() + ttl
    if refresh_expires is not None and refresh_expires < expires:
        expires = refresh_expires
    session.connection().execute(
        _INSERT_REFRESH,
        {
            "token_hash": token_hash(refresh),
            "family_id": family.id,
            "created_at": utcnow(),
            "expires_at": expires,
            "used_at": None,
        },
    )
    body: dict[str, Any] = {
        "access_token": _access_token(ctx, family, subject=subject, scope=scope, details=details),
        "token_type": "Bearer",
        "expires_in": int(ACCESS_TTL.total_seconds()),
        "refresh_token": refresh,
        "scope": scope,
    }
    if details:
        body["authorization_details"] = details
    return body


def consume_refresh(*, session: Session, token: str) -> tuple[RefreshToken | None, bool]:
    """Atomically marks a refresh token used. Returns (row, True) for the first use, (row, False) for a reuse,
    (None, False) when unknown. Concurrent callers cannot both win: the UPDATE is conditional on ``used_at``."""
    digest = token_hash(token)
    row = session.get(RefreshToken, digest)
    if row is None:
        return None, False
    result = session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.token_hash) == digest, col(RefreshToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    won = getattr(result, "rowcount", 0) == 1
    session.refresh(row)
    return row, won


def revoke_family(*, session: Session, family_id: str, reason: str) -> bool:
    """End every token of the family. True if it was live."""
    family = session.get(TokenFamily, family_id)
    if family is None or family.revoked_at is not None:
        return False
    family.revoked_at = utcnow()
    family.revoked_reason = reason
    session.add(family)
    return True


def revoke_families_of_grant(*, session: Session, grant_id: str, reason: str) -> int:
    """End every token issued under a grant; returns how many families were live."""
    families = session.exec(
        select(TokenFamily).where(TokenFamily.grant_id == grant_id, col(TokenFamily.revoked_at).is_(None))
    ).all()
    for family in families:
        revoke_family(session=session, family_id=family.id, reason=reason)
    return len(families)


def decode_access(ctx: VaultContext, token: str) -> dict[str, Any] | None:
    """The claims of a signature-valid, unexpired RFC 9068 access token issued by this vault for its API."""
    if token.count(".") != 2:
        return None
    try:
        decoded = ctx.keyset.decode_jwt(token)
    except (JoseError, ValueError, TypeError):
        return None
    if str(decoded.header.get("typ", "")).lower() not in (AT_TYP, "application/at+jwt"):
        return None
    claims = dict(decoded.claims)
    now = utcnow().timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now:
        return None
    if claims.get("iss") != issuer(ctx) or claims.get("aud") != audience(ctx):
        return None
    if not isinstance(claims.get("fid"), str) or not isinstance(claims.get("sub"), str):
        return None
    return claims


def grant_is_live(grant: Grant | None) -> bool:
    return grant is not None and grant.revoked_at is None and grant.expires_at > utcnow()


def live_family(session: Session, family_id: str) -> tuple[TokenFamily, Grant | None, Account] | None:
    """The family, its grant and account when all are live right now (checked on every API call)."""
    family = session.get(TokenFamily, family_id)
    if family is None or family.revoked_at is not None:
        return None
    grant = session.get(Grant, family.grant_id) if family.grant_id else None
    if family.kind == "vendor" and not grant_is_live(grant):
        return None
    account = session.get(Account, family.account_id)
    if account is None or account.deleted_at is not None:
        return None
    client = session.get(VendorApp, family.client_id)
    if client is None or client.status != VendorStatus.approved:
        return None
    return family, grant, account


def live_access_token(*, session: Session, ctx: VaultContext, token: str) -> LiveToken | None:
    """Verify signature, exp, iss and aud, then that the family and grant are still live in the database."""
    claims = decode_access(ctx, token)
    if claims is None:
        return None
    found = live_family(session, claims["fid"])
    if found is None:
        return None
    family, grant, account = found
    if claims.get("client_id") != family.client_id:
        return None
    now = utcnow()
    if family.last_used_at is None or now - family.last_used_at > timedelta(minutes=1):
        family.last_used_at = now
        session.add(family)
    return LiveToken(claims=claims, family=family, grant=grant, account=account)
