"""Rules of the reports room: opting in and out, per-person privacy budgets, releasing and caching reports.

Accounting. Each person has a budget of ``reports_epsilon_per_period`` per calendar month (UTC). A new report
spends its epsilon from every participant whose remaining budget covers it, in one conditional UPDATE
(``spent + e <= budget``), and counts exactly those people; anyone whose budget is used up is left out of later
reports that month. Concurrent reports serialise on the budget rows, so no person can ever be charged past the
budget, whatever the sequence of queries. Asking for a report already released this period (same query) is
served from the cache and spends nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import Forbidden, NotFound, RateLimited, ValidationFailed
from vault_server.reports import mechanism
from vault_server.reports.models import DemandReport, ReportBudget, ReportDelivery, ReportParticipant

MICRO = 1_000_000
#: participants whose signals are read per batch while a report is built
BATCH = 500
MAX_LEVEL = 3


class ReportQueryIn(BaseModel):
    """A vendor's report request."""

    model_config = ConfigDict(extra="forbid")

    level: int = Field(default=1, ge=1, le=MAX_LEVEL, description="taxonomy depth to count at (1 = top level)")
    by_price_band: bool = Field(default=False, description="also split counts by price band")
    epsilon: float | None = Field(
        default=None, gt=0, le=10, description="privacy loss this report may cost each participant"
    )


def current_period(now: datetime | None = None) -> str:
    """The budget period of ``now``: its calendar month in UTC, ``YYYY-MM``."""
    return (now or utcnow()).astimezone(UTC).strftime("%Y-%m")


def period_start(period: str) -> datetime:
    return datetime.strptime(period + "-01", "%Y-%m-%d").replace(tzinfo=UTC)


def budget_micro(ctx: VaultContext) -> int:
    return round(ctx.settings.reports_epsilon_per_period * MICRO)


# ---- consumers ---------------------------------------------------------------------------------------------------
def is_participant(*, session: Session, account_id: str) -> bool:
    """Returns whether the account opted in to anonymous demand statistics."""
    return session.get(ReportParticipant, account_id) is not None


def set_participation(*, session: Session, ctx: VaultContext, account_id: str, opted_in: bool) -> bool:
    """Opts the account in or out; returns the new state. Both changes go to the audit log. A vendor's sandbox
    consumer (made-up data) never takes part."""
    from vault_server.vendors import sandbox

    if opted_in and sandbox.is_sandbox(session=session, account_id=account_id):
        raise Forbidden("a sandbox consumer is test data: it never takes part in demand statistics")
    row = session.get(ReportParticipant, account_id)
    if opted_in and row is None:
        session.add(ReportParticipant(account_id=account_id))
    elif not opted_in and row is not None:
        session.delete(row)
    else:
        return opted_in
    session.flush()
    audit.record(
        session=session,
        ctx=ctx,
        kind="reports.opted_in" if opted_in else "reports.opted_out",
        actor="consumer",
        consumer_id=account_id,
        details={},
    )
    return opted_in


def reports_counted(*, session: Session, account_id: str) -> int:
    """Returns in how many anonymous reports the account was counted, over all periods."""
    total = session.exec(
        select(func.coalesce(func.sum(ReportBudget.reports), 0)).where(ReportBudget.account_id == account_id)
    ).one()
    return int(total)


def consumer_status(*, session: Session, ctx: VaultContext, account_id: str) -> dict[str, Any]:
    """What the consumer's dashboard shows: opted in, this period's budget and spend, reports counted in."""
    period = current_period()
    row = session.get(ReportBudget, (account_id, period))
    budget = budget_micro(ctx)
    spent = row.spent_micro if row else 0
    return {
        "opted_in": is_participant(session=session, account_id=account_id),
        "period": period,
        "epsilon_budget": mechanism.format_epsilon(budget),
        "epsilon_spent": mechanism.format_epsilon(spent),
        "budget_used_percent": round(100 * spent / budget) if budget else 0,
        "reports_this_period": row.reports if row else 0,
        "reports_counted": reports_counted(session=session, account_id=account_id),
        "max_cells": ctx.settings.reports_max_cells,
        "threshold": ctx.settings.reports_threshold,
    }


# ---- vendors -----------------------------------------------------------------------------------------------------
def make_query(ctx: VaultContext, body: ReportQueryIn, period: str) -> mechanism.Query:
    """Validates a request against the settings; returns the canonical query."""
    epsilon = body.epsilon if body.epsilon is not None else ctx.settings.reports_default_epsilon
    if epsilon < ctx.settings.reports_min_epsilon:
        raise ValidationFailed(
            f"epsilon must be at least {ctx.settings.reports_min_epsilon}: smaller values give counts of pure noise"
        )
    if epsilon > ctx.settings.reports_epsilon_per_period:
        raise ValidationFailed(
            f"epsilon may not exceed the per-person budget of {ctx.settings.reports_epsilon_per_period} per month"
        )
    return mechanism.Query(
        period=period, level=body.level, by_price_band=body.by_price_band, epsilon_micro=round(epsilon * MICRO)
    )


def query_key(query: mechanism.Query) -> str:
    raw = json.dumps(query.canonical(), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def _new_reports_by(session: Session, vendor_id: str, period: str) -> int:
    return int(
        session.exec(
            select(func.count()).where(
                ReportDelivery.vendor_id == vendor_id, ReportDelivery.period == period, col(ReportDelivery.spent)
            )
        ).one()
    )


def _spend(session: Session, ctx: VaultContext, period: str, epsilon_micro: int) -> list[str]:
    """Charge every participant who can afford ``epsilon_micro`` this period; returns who was charged."""
    session.execute(
        text(
            "INSERT INTO report_budget (account_id, period, spent_micro, reports) "
            "SELECT account_id, :period, 0, 0 FROM report_participant WHERE true "
            "ON CONFLICT (account_id, period) DO NOTHING"
        ),
        {"period": period},
    )
    rows = session.execute(
        text(
            "UPDATE report_budget SET spent_micro = spent_micro + :e, reports = reports + 1 "
            "WHERE period = :period AND spent_micro + :e <= :budget "
            "AND account_id IN (SELECT account_id FROM report_participant) RETURNING account_id"
        ),
        {"e": epsilon_micro, "period": period, "budget": budget_micro(ctx)},
    ).all()
    return sorted(str(r[0]) for r in rows)


def _signals_of(session: Session, ctx: VaultContext, account_ids: Sequence[str]) -> Iterable[list[dict[str, Any]]]:
    from vault_server.signals.service import signals_for_many

    return signals_for_many(session=session, ctx=ctx, wanted=dict.fromkeys(account_ids)).values()


def _cells_of_people(
    session: Session, ctx: VaultContext, query: mechanism.Query, people: Sequence[str]
) -> Iterable[list[mechanism.Cell]]:
    since = period_start(query.period)
    currencies = ctx.settings.reports_currencies
    for start in range(0, len(people), BATCH):
        for signals in _signals_of(session, ctx, people[start : start + BATCH]):
            recent = [s for s in signals if s.get("last_seen") is not None and s["last_seen"] >= since]
            yield mechanism.person_cells(ctx.policy, query, recent, currencies, ctx.settings.reports_max_cells)


def report_view(row: DemandReport, *, policy_names: dict[str, str] | None = None) -> dict[str, Any]:
    """The report as a vendor receives it: noisy counts and how they were made (never the exact participants)."""
    names = policy_names or {}
    return {
        "id": row.id,
        "period": row.period,
        "query": row.query,
        "cells": [
            {"category": c, "category_name": names.get(c, c), "stage": s, "price_band": b, "count": n}
            for c, s, b, n in row.cells
        ],
        "suppressed_cells": row.suppressed,
        "privacy": {
            "mechanism": "discrete Laplace (OpenDP make_laplace on integer counts)",
            "epsilon": mechanism.format_epsilon(row.epsilon_micro),
            "noise_scale": row.scale,
            "error_95": mechanism.error_bound(row.scale),
            "max_cells_per_person": row.max_cells,
            "threshold": row.threshold,
            "guarantee": (
                f"epsilon-differential privacy per person (epsilon {mechanism.format_epsilon(row.epsilon_micro)}): "
                "the report is almost equally likely with or without any one person"
            ),
        },
        "released_at": row.created_at.isoformat(),
    }


def _names(ctx: VaultContext) -> dict[str, str]:
    return {node_id: node.name for node_id, node in ctx.policy.nodes.items()}


def request_report(*, session: Session, ctx: VaultContext, vendor_id: str, body: ReportQueryIn) -> dict[str, Any]:
    """Returns this period's report for the query: from the cache (spends nothing) or newly released.

    Raises RateLimited when the vendor already asked for its monthly number of new reports. Call from a fresh
    session; on a concurrent release of the same query the caller retries once (IntegrityError).
    """
    period = current_period()
    query = make_query(ctx, body, period)
    key = query_key(query)
    cached = session.exec(
        select(DemandReport).where(DemandReport.period == period, DemandReport.query_key == key)
    ).first()
    if cached is not None:
        _deliver(session, ctx, cached, vendor_id, spent=False)
        return report_view(cached, policy_names=_names(ctx))
    limit = ctx.settings.reports_per_vendor_per_period
    if _new_reports_by(session, vendor_id, period) >= limit:
        raise RateLimited(
            f"this app already asked for {limit} new reports this month; reports already released are free to fetch",
            retry_after=_seconds_to_next_period(period),
        )
    people = _spend(session, ctx, period, query.epsilon_micro)
    domain = mechanism.cell_domain(ctx.policy, query, ctx.settings.reports_currencies)
    counts = mechanism.true_counts(domain, _cells_of_people(session, ctx, query, people))
    scale = mechanism.noise_scale(query.epsilon_micro, ctx.settings.reports_max_cells)
    threshold = mechanism.release_threshold(ctx.settings.reports_threshold, scale, len(domain))
    kept, dropped = mechanism.suppress(domain, mechanism.release(counts, scale), threshold)
    row = DemandReport(
        id=str(uuid.uuid4()),
        period=period,
        query_key=key,
        query=query.canonical(),
        epsilon_micro=query.epsilon_micro,
        max_cells=ctx.settings.reports_max_cells,
        scale=scale,
        threshold=threshold,
        participants=len(people),
        cells=[[c, s, b, n] for (c, s, b), n in kept],
        suppressed=dropped,
        requested_by=vendor_id,
    )
    session.add(row)
    session.flush()  # IntegrityError here when the same query was released concurrently
    _deliver(session, ctx, row, vendor_id, spent=True)
    return report_view(row, policy_names=_names(ctx))


def _seconds_to_next_period(period: str) -> int:
    start = period_start(period)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return max(1, int((nxt - utcnow()).total_seconds()))


def _deliver(session: Session, ctx: VaultContext, row: DemandReport, vendor_id: str, *, spent: bool) -> None:
    session.add(ReportDelivery(report_id=row.id, vendor_id=vendor_id, period=row.period, spent=spent))
    audit.record(
        session=session,
        ctx=ctx,
        kind="report.released" if spent else "report.served",
        actor=f"vendor:{vendor_id}",
        consumer_id=None,
        details={
            "vendor_id": vendor_id,
            "report_id": row.id,
            "period": row.period,
            "query": row.query,
            "epsilon_spent": mechanism.format_epsilon(row.epsilon_micro if spent else 0),
            "cells_released": len(row.cells),
        },
    )


def request_report_retrying(*, ctx: VaultContext, vendor_id: str, body: ReportQueryIn) -> dict[str, Any]:
    """:func:`request_report` in its own unit of work; a concurrent release of the same query is served cached."""
    try:
        with ctx.db.session() as s:
            return request_report(session=s, ctx=ctx, vendor_id=vendor_id, body=body)
    except IntegrityError:
        with ctx.db.session() as s:
            return request_report(session=s, ctx=ctx, vendor_id=vendor_id, body=body)


def reports_for_vendor(*, session: Session, ctx: VaultContext, vendor_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Reports these vendor apps received, newest first (each once)."""
    if not vendor_ids:
        return []
    rows = session.exec(
        select(DemandReport)
        .join(ReportDelivery, col(ReportDelivery.report_id) == col(DemandReport.id))
        .where(col(ReportDelivery.vendor_id).in_(list(vendor_ids)))
        .order_by(col(DemandReport.created_at).desc())
    ).all()
    names = _names(ctx)
    seen: set[str] = set()
    out = []
    for row in rows:
        if row.id not in seen:
            seen.add(row.id)
            out.append(report_view(row, policy_names=names))
    return out


def get_report(*, session: Session, ctx: VaultContext, vendor_id: str, report_id: str) -> dict[str, Any]:
    """A report the vendor received before; NotFound otherwise."""
    delivered = session.exec(
        select(ReportDelivery).where(ReportDelivery.report_id == report_id, ReportDelivery.vendor_id == vendor_id)
    ).first()
    row = session.get(DemandReport, report_id) if delivered is not None else None
    if row is None:
        raise NotFound("no report with this id was released to this app")
    return report_view(row, policy_names=_names(ctx))


# ---- auditors ----------------------------------------------------------------------------------------------------
def budget_summary(*, session: Session, ctx: VaultContext) -> list[dict[str, Any]]:
    """Per period: reports released, epsilon they charged, the most any one person spent, against the budget."""
    released = session.execute(
        select(
            col(DemandReport.period),
            func.count(),
            func.coalesce(func.sum(DemandReport.epsilon_micro), 0),
            func.coalesce(func.max(DemandReport.participants), 0),
        ).group_by(col(DemandReport.period))
    ).all()
    spent = dict(
        session.execute(
            select(col(ReportBudget.period), func.max(ReportBudget.spent_micro)).group_by(col(ReportBudget.period))
        ).all()
    )
    budget = budget_micro(ctx)
    out = []
    for period, count, eps_sum, participants in sorted(released, reverse=True):
        top = int(spent.get(period) or 0)
        out.append(
            {
                "period": period,
                "reports": int(count),
                "epsilon_released": mechanism.format_epsilon(int(eps_sum)),
                "max_spent_by_one_person": mechanism.format_epsilon(top),
                "budget": mechanism.format_epsilon(budget),
                "within_budget": top <= budget,
                "largest_report_participants": int(participants),
            }
        )
    return out
