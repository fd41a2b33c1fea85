"""HTTP surface of the reports room: consumers opt in, vendors ask for reports, auditors read the budget spent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from vault_server.audit.views import AUDITOR_ROLES
from vault_server.errors import Forbidden
from vault_server.feed.views import Vendor, consumer
from vault_server.reports import service
from vault_server.web.deps import Ctx, CurrentPrincipal

router = APIRouter(tags=["reports"])


class ParticipationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_in: bool


@router.get("/v1/me/reports", summary="Whether I am counted in anonymous demand statistics, and my privacy budget")
def my_status(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "account:read")
    with ctx.db.session() as s:
        return service.consumer_status(session=s, ctx=ctx, account_id=account_id)


@router.put("/v1/me/reports/participation", summary="Opt in to (or out of) anonymous demand statistics")
def put_participation(body: ParticipationIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "account:admin")
    with ctx.db.session() as s:
        service.set_participation(session=s, ctx=ctx, account_id=account_id, opted_in=body.opted_in)
        return service.consumer_status(session=s, ctx=ctx, account_id=account_id)


@router.post(
    "/v1/reports/demand",
    summary="A differentially private demand report for this month (cached: asking again costs nothing)",
)
def post_demand_report(body: service.ReportQueryIn, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    return service.request_report_retrying(ctx=ctx, vendor_id=vendor.id, body=body)


@router.get("/v1/reports/demand", summary="The demand reports this app received, newest first")
def list_demand_reports(vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return {"reports": service.reports_for_vendor(session=s, ctx=ctx, vendor_ids=[vendor.id])}


@router.get("/v1/reports/demand/{report_id}", summary="One demand report this app received")
def get_demand_report(report_id: str, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return service.get_report(session=s, ctx=ctx, vendor_id=vendor.id, report_id=report_id)


@router.get("/v1/audit/reports", summary="Privacy budget spent by demand reports, per period (auditors)")
def audit_budget(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    if principal.account.role not in AUDITOR_ROLES:
        raise Forbidden("the report budget view is for auditor and admin accounts")
    with ctx.db.session() as s:
        return {"periods": service.budget_summary(session=s, ctx=ctx)}
