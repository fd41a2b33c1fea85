"""Pages of the reports room: the consumer's opt-in and budget, the vendor's reports as charts, the auditor's
budget view."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from vault_server.audit.views import AUDITOR_ROLES
from vault_server.errors import VaultError
from vault_server.reports import charts, service
from vault_server.vendors import service as vendors
from vault_server.web.deps import Ctx
from vault_server.web.pages import form_principal, page_principal, render_page

router = APIRouter(include_in_schema=False)


@router.get("/reports")
def consumer_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        status = service.consumer_status(session=s, ctx=ctx, account_id=principal.account.id)
    return render_page(request, ctx, principal, "reports_consumer.html", status=status)


@router.post("/reports/participation")
def consumer_toggle(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "", opted_in: Annotated[str, Form()] = ""
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        service.set_participation(session=s, ctx=ctx, account_id=principal.account.id, opted_in=opted_in == "on")
    return RedirectResponse("/reports", status_code=303)


def _vendor_view(ctx: Ctx, owner_id: str) -> tuple[list[Any], list[dict[str, Any]]]:
    with ctx.db.session() as s:
        apps = vendors.list_apps(session=s, owner_account_id=owner_id)
        reports = service.reports_for_vendor(session=s, ctx=ctx, vendor_ids=[a.id for a in apps])
    for report in reports:
        report["chart"] = charts.stage_bars(report)
    return apps, reports


@router.get("/vendor/reports")
def vendor_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "vendor")
    if isinstance(principal, Response):
        return principal
    apps, reports = _vendor_view(ctx, principal.account.id)
    return render_page(request, ctx, principal, "reports_vendor.html", apps=apps, reports=reports, form={})


@router.post("/vendor/reports")
def vendor_request(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    app_id: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "1",
    by_price_band: Annotated[str, Form()] = "",
    epsilon: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    form = {"app_id": app_id, "level": level, "by_price_band": by_price_band == "on", "epsilon": epsilon}
    errors: list[str] = []
    with ctx.db.session() as s:
        owned = {a.id for a in vendors.list_apps(session=s, owner_account_id=principal.account.id)}
    if app_id not in owned:
        errors.append("Choose one of your apps.")
    else:
        try:
            body = service.ReportQueryIn(
                level=int(level) if level.isdigit() else 0,
                by_price_band=by_price_band == "on",
                epsilon=float(epsilon) if epsilon.strip() else None,
            )
            service.request_report_retrying(ctx=ctx, vendor_id=app_id, body=body)
            return RedirectResponse("/vendor/reports", status_code=303)
        except ValidationError:
            errors.append("Level must be 1, 2 or 3 and epsilon a positive number (for example 0.5).")
        except ValueError:
            errors.append("Epsilon must be a number, for example 0.5.")
        except VaultError as exc:
            errors.append(exc.detail)
    apps, reports = _vendor_view(ctx, principal.account.id)
    return render_page(
        request, ctx, principal, "reports_vendor.html", apps=apps, reports=reports, form=form, errors=errors,
        status_code=422,
    )  # fmt: skip


@router.get("/auditor/reports")
def auditor_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        periods = service.budget_summary(session=s, ctx=ctx)
    return render_page(request, ctx, principal, "reports_auditor.html", periods=periods)
