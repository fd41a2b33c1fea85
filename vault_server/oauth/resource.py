"""The vault as resource server for OAuth tokens (RFC 6750 bearer use, RFC 9068 validation): every call
re-checks in the database that the token family and its grant are still live, so revocation acts at once.

Device tokens (the consumer's paired extension) become a consumer :class:`Principal` through
``oauth_bearer_resolver``. Vendor tokens never do: they act only on ``/v1/subjects/{sub}/...`` through
``vendor_access``, so a vendor token cannot read the consumer's own endpoints (profile, export).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session

from vault_server.accounts import service as accounts
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.errors import Forbidden, Unauthorized
from vault_server.grants.models import Grant
from vault_server.oauth import consent, rar, tokens
from vault_server.oauth.models import TokenFamily
from vault_server.web.deps import Ctx, Principal, request_session

router = APIRouter(tags=["vendor API"])


def oauth_bearer_resolver(request: Request, ctx: VaultContext, bearer: str) -> Principal | None:
    """Device access tokens -> the consumer's Principal (scopes from the token, token_id = family id)."""
    if bearer.count(".") != 2:
        return None
    with request_session(request, ctx) as s:
        live = tokens.live_access_token(session=s, ctx=ctx, token=bearer)
    if live is None or live.family.kind != "device":
        return None
    return Principal(
        account=live.account,
        via="token",
        scopes=frozenset(str(live.claims.get("scope", "")).split()),
        token_id=live.family.id,
        extra={"client_id": live.family.client_id, "device_name": live.family.device_name},
    )


@dataclass(frozen=True)
class VendorAccess:
    """A vendor calling with a live access token under a live grant."""

    client_id: str
    subject: str
    grant: Grant
    family: TokenFamily
    scopes: frozenset[str]


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def vendor_access(request: Request, ctx: Ctx) -> VendorAccess:
    """Dependency: the vendor behind a live OAuth access token; 401 otherwise (RFC 6750 §3)."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("send the vendor's access token as a Bearer token", headers={"WWW-Authenticate": "Bearer"})
    with ctx.db.session() as s:
        live = tokens.live_access_token(session=s, ctx=ctx, token=value.strip())
    if live is None or live.family.kind != "vendor" or live.grant is None:
        raise _invalid("the access token is invalid, expired or revoked, or its grant has ended")
    request.app.state.limiter.hit(live.family.id)
    return VendorAccess(
        client_id=live.family.client_id,
        subject=live.grant.subject,
        grant=live.grant,
        family=live.family,
        scopes=frozenset(str(live.claims.get("scope", "")).split()),
    )


VendorCaller = Annotated[VendorAccess, Depends(vendor_access)]


def _own_subject(access: VendorAccess, sub: str) -> None:
    if sub != access.subject:
        raise Forbidden("this token is not for that subject", extra={"required": "a grant from that subject"})


def _record(session: Session, ctx: VaultContext, access: VendorAccess, kind: str, details: dict[str, Any]) -> None:
    audit.record(
        session=session,
        ctx=ctx,
        kind=kind,
        actor=f"vendor:{access.client_id}",
        consumer_id=access.grant.account_id,
        details={"vendor_id": access.client_id, "grant_id": access.grant.id, "family_id": access.family.id, **details},
    )


@router.get("/v1/subjects/{sub}/signals", summary="The subject's signals, exactly as far as your grant allows")
def subject_signals(sub: str, access: VendorCaller, ctx: Ctx) -> dict[str, Any]:
    _own_subject(access, sub)
    details = access.grant.authorization_details  # the grant as it is now (narrowing acts at once)
    if not details:
        raise Forbidden("this grant includes no intent_signals authorization details")
    policy = rar.policy_for(ctx)
    with ctx.db.session() as s:
        signals = consent.consumer_signals(
            session=s, ctx=ctx, account_id=access.grant.account_id, categories=rar.categories_of(details)
        )
        shaped = rar.shape(signals, details, policy)
        _record(
            s,
            ctx,
            access,
            "vendor.read",
            {
                "resource": "signals",
                "categories": sorted({str(x["category"]) for x in shaped}),
                "fields": sorted({f for d in details for f in d["fields"]}),
                "count": len(shaped),
            },
        )
    return {"sub": sub, "grant_version": access.grant.version, "signals": shaped}


@router.get("/v1/subjects/{sub}/identity", summary="The subject's name and/or e-mail, only if they chose to reveal it")
def subject_identity(sub: str, access: VendorCaller, ctx: Ctx) -> dict[str, Any]:
    _own_subject(access, sub)
    fields = access.grant.identity_fields.split()
    if not fields:
        raise Forbidden("the consumer has not revealed their identity to you")
    with ctx.db.session() as s:
        account = accounts.get_account(session=s, account_id=access.grant.account_id)
        profile = accounts.profile(session=s, ring=ctx.ring, account=account)
        _record(s, ctx, access, "identity.read", {"fields": fields})
    return {"sub": sub, **{f: profile[f] for f in fields}}
