"""HTTP surface of the terms room: the public roster, the consumer's choice and records, the vendor's accepted
list, record download and countersignature."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from vault_server.errors import VaultError
from vault_server.feed.views import Vendor, consumer
from vault_server.terms import service
from vault_server.vendors import service as vendors
from vault_server.web.deps import Ctx, CurrentPrincipal, Principal
from vault_server.web.pages import form_principal, page_principal, render_page

router = APIRouter(tags=["terms"])


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement_id: str | None = Field(max_length=64, description="a roster id; null removes a per-vendor choice")
    vendor_id: str | None = Field(default=None, max_length=64, description="omit to set your default")


class AcceptedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted_agreements: list[str] = Field(min_length=1, max_length=20)
    counter: bool = Field(default=True, description="counter a proffer you do not accept with your first one")


class CountersignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jws: str = Field(min_length=10, max_length=20_000, description="compact JWS over the record, by your key")


@router.get("/v1/terms/roster", summary="The IEEE 7012 agreements this vault proffers (public)")
def get_roster(ctx: Ctx) -> dict[str, Any]:
    return service.roster_view(ctx)


def _choices_view(s: Session, ctx: Ctx, account_id: str) -> dict[str, Any]:
    """The consumer's choices plus the vendor apps one may choose for (id and name), as the terms page lists them."""
    apps = vendors.list_apps(session=s, status="approved")
    return {
        **service.choices(session=s, ctx=ctx, account_id=account_id),
        "vendor_apps": [{"id": a.id, "name": a.name} for a in apps],
    }


@router.get("/v1/me/terms", summary="The agreement you proffer by default and per vendor")
def get_choices(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "terms:self", "account:read")
    with ctx.db.session() as s:
        return _choices_view(s, ctx, account_id)


@router.put("/v1/me/terms", summary="Choose the agreement you proffer (default, or for one vendor)")
def put_choice(body: ChoiceIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "terms:self", "account:admin")
    with ctx.db.session() as s:
        service.choose(
            session=s, ctx=ctx, account_id=account_id, agreement_id=body.agreement_id, vendor_id=body.vendor_id
        )
        return _choices_view(s, ctx, account_id)


@router.get("/v1/me/agreements", summary="Your signed agreement records")
def my_records(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "account:read")
    with ctx.db.session() as s:
        rows = service.records_for_account(session=s, account_id=account_id)
        return {"records": [service.download(session=s, ctx=ctx, row=r) for r in rows]}


@router.get("/v1/me/agreements/{record_id}", summary="One agreement record, with both signatures and their keys")
def my_record(record_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "account:read")
    with ctx.db.session() as s:
        row = service.get_record(session=s, record_id=record_id, account_id=account_id)
        return service.download(session=s, ctx=ctx, row=row)


@router.put("/v1/terms/accepted", summary="The roster agreements your app accepts, preferred first")
def put_accepted(body: AcceptedIn, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        accepted = service.set_vendor_terms(
            session=s, ctx=ctx, vendor_id=vendor.id, accepted=body.accepted_agreements, counter=body.counter
        )
    return {"accepted_agreements": accepted, "counter": body.counter}


@router.get("/v1/terms/records", summary="Your agreement records, newest first (?pending=true: not countersigned)")
def vendor_records(vendor: Vendor, ctx: Ctx, pending: bool = False) -> dict[str, Any]:
    with ctx.db.session() as s:
        rows = service.records_for_vendor(session=s, vendor_id=vendor.id, pending_only=pending)
        return {"records": [service.download(session=s, ctx=ctx, row=r) for r in rows]}


@router.get("/v1/terms/records/{record_id}", summary="An agreement record with one of your consumers")
def vendor_record(record_id: str, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        row = service.get_record(session=s, record_id=record_id, vendor_id=vendor.id)
        return service.download(session=s, ctx=ctx, row=row)


@router.post("/v1/terms/records/{record_id}/countersign", summary="Countersign an agreement record with your key")
def post_countersign(record_id: str, body: CountersignIn, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        row = service.countersign(session=s, ctx=ctx, app=vendor, record_id=record_id, token=body.jws)
        return service.download(session=s, ctx=ctx, row=row)


# ---- the consumer's page ----------------------------------------------------------------------------------------
@router.get("/terms", include_in_schema=False)
def terms_page(request: Request, ctx: Ctx, notice: str = "") -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    return _render(request, ctx, principal, notice="Saved." if notice == "saved" else "")


def _render(request: Request, ctx: Ctx, principal: Principal, status_code: int = 200, **values: Any) -> Response:
    """The terms page: the roster, the consumer's choices and records, the vendors one may choose for."""
    with ctx.db.session() as s:
        return render_page(
            request,
            ctx,
            principal,
            "terms.html",
            status_code=status_code,
            roster=service.roster_view(ctx),
            chosen=service.choices(session=s, ctx=ctx, account_id=principal.account.id),
            records=service.records_for_account(session=s, account_id=principal.account.id),
            names={a.id: a.name for a in vendors.list_apps(session=s, status="approved")},
            **values,
        )


@router.post("/terms", include_in_schema=False)
def terms_choose(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    agreement_id: Annotated[str, Form()] = "",
    vendor_id: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    try:
        with ctx.db.session() as s:
            service.choose(
                session=s,
                ctx=ctx,
                account_id=principal.account.id,
                agreement_id=agreement_id or None,
                vendor_id=vendor_id or None,
            )
    except VaultError as exc:
        return _render(request, ctx, principal, status_code=exc.status, errors=[exc.detail])
    return RedirectResponse("/terms?notice=saved", status_code=303)
