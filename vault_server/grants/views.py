"""Grants HTTP surface: the consumer's API and pages to list, narrow, reveal/withdraw identity and revoke
grants, paired devices, and signed consent receipts for both sides (the vendor authenticates as its client)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from vault_server.grants import service as grants
from vault_server.grants.models import Grant
from vault_server.oauth import rar, tokens
from vault_server.oauth.clientauth import authenticate_client
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.models import TokenFamily
from vault_server.vendors.models import VendorApp
from vault_server.web.deps import Ctx, CurrentPrincipal, Principal, check_form_csrf, get_ctx
from vault_server.web.pages import confirm_page, form_principal, page_principal, render_page

router = APIRouter(tags=["grants"])
JOSE = "application/jose"


class GrantChange(BaseModel):
    """Narrow a grant: any of a smaller set of details, fewer scopes, an earlier expiry."""

    model_config = ConfigDict(extra="forbid")

    authorization_details: list[dict[str, Any]] | None = None
    scope: list[str] | None = None
    expires_at: datetime | None = None


class IdentityChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[str] = Field(min_length=1, max_length=2)


def _consumer(principal: Principal, *, write: bool) -> str:
    principal.require_role("consumer")
    if write and principal.via != "session":
        raise Forbidden("grants are changed from a signed-in session")
    if not write and principal.via != "session":
        principal.require("account:read")
    return principal.account.id


def _apps(session: Session, ids: set[str]) -> dict[str, VendorApp]:
    if not ids:
        return {}
    rows = session.exec(select(VendorApp).where(col(VendorApp.id).in_(ids))).all()
    return {a.id: a for a in rows}


def _view(session: Session, grant: Grant) -> dict[str, Any]:
    return grants.view(grant, session.get(VendorApp, grant.vendor_id))


# ---- consumer API --------------------------------------------------------------------------------
@router.get("/v1/grants", summary="Your grants to vendors (live and ended)")
def api_list(principal: CurrentPrincipal, ctx: Ctx) -> list[dict[str, Any]]:
    account_id = _consumer(principal, write=False)
    with ctx.db.session() as s:
        rows = grants.list_for_account(session=s, account_id=account_id)
        apps = _apps(s, {g.vendor_id for g in rows})
        return [grants.view(g, apps.get(g.vendor_id)) for g in rows]


@router.get("/v1/grants/{grant_id}", summary="One grant")
def api_get(grant_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = _consumer(principal, write=False)
    with ctx.db.session() as s:
        return _view(s, grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id))


@router.patch("/v1/grants/{grant_id}", summary="Narrow a grant further (never wider)")
def api_narrow(grant_id: str, body: GrantChange, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = _consumer(principal, write=True)
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id)
        details = grant.authorization_details
        if body.authorization_details is not None:
            try:
                details = (
                    rar.parse(body.authorization_details, rar.policy_for(ctx)) if body.authorization_details else []
                )
            except OAuthError as exc:
                raise ValidationFailed(exc.description) from None
        grants.narrow(session=s, ctx=ctx, grant=grant, details=details, scope=body.scope, expires_at=body.expires_at)
        return _view(s, grant)


@router.delete("/v1/grants/{grant_id}", summary="Revoke a grant: the vendor's next call fails")
def api_revoke(grant_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = _consumer(principal, write=True)
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id)
        grants.revoke(session=s, ctx=ctx, grant=grant)
        return _view(s, grant)


@router.post("/v1/grants/{grant_id}/identity", summary="Reveal your name and/or e-mail to this vendor")
def api_reveal(grant_id: str, body: IdentityChange, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = _consumer(principal, write=True)
    if not set(body.fields) <= set(grants.IDENTITY_FIELDS):
        raise ValidationFailed("fields may be name and/or email")
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id)
        grants.reveal_identity(session=s, ctx=ctx, grant=grant, fields=body.fields)
        return _view(s, grant)


@router.delete("/v1/grants/{grant_id}/identity", summary="Stop revealing your identity to this vendor")
def api_withdraw_identity(grant_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = _consumer(principal, write=True)
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id)
        grants.withdraw_identity(session=s, ctx=ctx, grant=grant)
        return _view(s, grant)


def _receipt_list(session: Session, grant_id: str) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "version": r.version, "event": r.event, "created_at": r.created_at.isoformat(), "jws": r.jws}
        for r in grants.receipts_of(session=session, grant_id=grant_id)
    ]


@router.get("/v1/grants/{grant_id}/receipts", summary="Signed consent receipts of a grant (compact JWS)")
def api_receipts(grant_id: str, principal: CurrentPrincipal, ctx: Ctx) -> list[dict[str, Any]]:
    account_id = _consumer(principal, write=False)
    with ctx.db.session() as s:
        grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id)
        return _receipt_list(s, grant_id)


@router.get("/v1/grants/{grant_id}/receipts/{receipt_id}", summary="Download one receipt (application/jose)")
def api_receipt(grant_id: str, receipt_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    account_id = _consumer(principal, write=False)
    with ctx.db.session() as s:
        grants.get_for_account(session=s, account_id=account_id, grant_id=grant_id)
        for r in grants.receipts_of(session=s, grant_id=grant_id):
            if r.id == receipt_id:
                return Response(
                    r.jws,
                    media_type=JOSE,
                    headers={"Content-Disposition": f'attachment; filename="consent-receipt-{r.id}.jws"'},
                )
    raise NotFound("no such receipt")


# ---- devices (the consumer's paired extensions) ---------------------------------------------------
def _devices(session: Session, account_id: str) -> list[TokenFamily]:
    return list(
        session.exec(
            select(TokenFamily)
            .where(TokenFamily.account_id == account_id, TokenFamily.kind == "device")
            .order_by(col(TokenFamily.created_at).desc())
        ).all()
    )


def _device_view(f: TokenFamily) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.device_name,
        "client_id": f.client_id,
        "scopes": f.scope.split(),
        "created_at": f.created_at.isoformat(),
        "last_used_at": f.last_used_at.isoformat() if f.last_used_at else None,
        "revoked_at": f.revoked_at.isoformat() if f.revoked_at else None,
    }


@router.get("/v1/me/devices", summary="Paired devices (the extension's OAuth tokens), one row per device")
def api_devices(principal: CurrentPrincipal, ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        return [_device_view(f) for f in _devices(s, principal.account.id)]


def _revoke_device(session: Session, ctx: VaultContext, account_id: str, family_id: str) -> None:
    family = session.get(TokenFamily, family_id)
    if family is None or family.account_id != account_id or family.kind != "device":
        raise NotFound("no such device")
    if tokens.revoke_family(session=session, family_id=family_id, reason="revoked_by_consumer"):
        audit.record(
            session=session,
            ctx=ctx,
            kind="token.revoked",
            actor="consumer",
            consumer_id=account_id,
            details={"family_id": family_id, "vendor_id": family.client_id, "reason": "consumer"},
        )


@router.delete("/v1/me/devices/{family_id}", status_code=204, summary="Unpair a device: its tokens stop at once")
def api_revoke_device(family_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    if principal.via != "session":
        raise Forbidden("devices are unpaired from a signed-in session")
    with ctx.db.session() as s:
        _revoke_device(s, ctx, principal.account.id, family_id)
    return Response(status_code=204)


# ---- vendor side: receipts -------------------------------------------------------------------------
def _vendor_receipts(request: Request, ctx: VaultContext, sub: str) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        try:
            client = authenticate_client(request=request, form={}, session=s, ctx=ctx)
        except OAuthError as exc:
            raise Unauthorized(
                f"authenticate as your client with HTTP Basic ({exc.description})",
                headers={"WWW-Authenticate": 'Basic realm="vault"'},
            ) from None
        rows = s.exec(
            select(Grant).where(Grant.vendor_id == client.id, Grant.subject == sub).order_by(col(Grant.created_at))
        ).all()
        return [{"grant_id": g.id, "receipts": _receipt_list(s, g.id)} for g in rows]


@router.get(
    "/v1/vendor/subjects/{sub}/receipts",
    summary="Your consent receipts for a subject (authenticate as the client: HTTP Basic)",
)
async def vendor_receipts(sub: str, request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    return JSONResponse(await run_in_threadpool(_vendor_receipts, request, ctx, sub))


# ---- pages -------------------------------------------------------------------------------------------
@router.get("/grants", response_class=HTMLResponse, include_in_schema=False)
def grants_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        rows = grants.list_for_account(session=s, account_id=principal.account.id)
        apps = _apps(s, {g.vendor_id for g in rows})
        views = [grants.view(g, apps.get(g.vendor_id)) for g in rows]
        devices = [_device_view(f) for f in _devices(s, principal.account.id)]
    return render_page(request, ctx, principal, "grants.html", grants=views, devices=devices)


@router.get("/grants/{grant_id}", response_class=HTMLResponse, include_in_schema=False)
def grant_page(grant_id: str, request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    policy = rar.policy_for(ctx)
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=principal.account.id, grant_id=grant_id)
        view = _view(s, grant)
        receipts = _receipt_list(s, grant_id)
    names = {
        c: (policy.nodes[c].name if c in policy.nodes else c) for c in rar.categories_of(grant.authorization_details)
    }
    return render_page(
        request,
        ctx,
        principal,
        "grants_detail.html",
        grant=view,
        names=names,
        field_labels=rar.FIELD_LABELS,
        stage_labels=rar.STAGE_LABELS,
        receipts=receipts,
    )


@router.post("/grants/{grant_id}/narrow", include_in_schema=False)
async def grant_narrow_form(grant_id: str, request: Request) -> Response:
    ctx = get_ctx(request)
    items = [(k, str(v)) for k, v in (await request.form()).multi_items()]
    return await run_in_threadpool(_narrow_form, request, ctx, grant_id, items)


def _narrow_form(request: Request, ctx: VaultContext, grant_id: str, items: list[tuple[str, str]]) -> Response:
    check_form_csrf(request, ctx, dict(items).get("csrf_token"))
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=principal.account.id, grant_id=grant_id)
        cats: dict[int, set[str]] = {}
        flds: dict[int, set[str]] = {}
        for key, value in items:
            head, _, what = key.partition(".")
            if head.startswith("d") and head[1:].isdigit():
                target = cats if what == "cat" else flds if what == "field" else None
                if target is not None:
                    target.setdefault(int(head[1:]), set()).add(value)
        details = rar.narrow(grant.authorization_details, categories=cats, fields=flds, min_stage={})
        grants.narrow(session=s, ctx=ctx, grant=grant, details=details)
    return RedirectResponse(f"/grants/{grant_id}", status_code=303)


@router.post("/grants/{grant_id}/revoke", include_in_schema=False)
def grant_revoke_form(
    grant_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=principal.account.id, grant_id=grant_id)
        if confirmed != "yes":
            name = _view(s, grant)["vendor"]["name"]
            return confirm_page(
                request,
                ctx,
                principal,
                question=f"Stop sharing with {name}?",
                consequence=f"{name} loses access at once and is told to delete what it received. To share again "
                "it has to ask you anew.",
                yes="Revoke access",
                back=f"/grants/{grant_id}",
            )
        grants.revoke(session=s, ctx=ctx, grant=grant)
    return RedirectResponse("/grants", status_code=303)


@router.post("/grants/{grant_id}/identity", include_in_schema=False)
def grant_identity_form(
    grant_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "withdraw",
    fields: Annotated[list[str] | None, Form()] = None,
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        grant = grants.get_for_account(session=s, account_id=principal.account.id, grant_id=grant_id)
        if action == "reveal":
            chosen = [f for f in fields or [] if f in grants.IDENTITY_FIELDS]
            if chosen:
                grants.reveal_identity(session=s, ctx=ctx, grant=grant, fields=chosen)
        else:
            grants.withdraw_identity(session=s, ctx=ctx, grant=grant)
    return RedirectResponse(f"/grants/{grant_id}", status_code=303)


@router.post("/devices/{family_id}/revoke", include_in_schema=False)
def device_revoke_form(
    family_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    if confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question="Unpair this device?",
            consequence="The browser extension on it stops sending to your vault at once. You can pair it again.",
            yes="Unpair",
            back="/grants",
        )
    with ctx.db.session() as s:
        _revoke_device(s, ctx, principal.account.id, family_id)
    return RedirectResponse("/grants", status_code=303)
