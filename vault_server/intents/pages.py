"""Dashboard sections of the intents room: signals with their explanation, recent gestures, intents, pause."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import NotFound, VaultError
from vault_server.intents import service
from vault_server.intents.schemas import IntentIn
from vault_server.intents.service import GestureFilter
from vault_server.signals.history import history_for
from vault_server.signals.service import signals_for
from vault_server.web.charts import line_chart
from vault_server.web.deps import Ctx, Principal
from vault_server.web.pages import NOTICE_PARAMS, form_principal, render_dashboard

router = APIRouter(include_in_schema=False)


HISTORY_LINES = 5  # the strongest categories drawn in "strength over time"
HISTORY_MIN_DAYS = 14


def strength_over_time(history: dict[str, list[dict[str, Any]]], signals: list[dict[str, Any]]) -> dict[str, Any]:
    """The line chart of the strongest categories' daily points, ending with today's (decayed) strength."""
    today = utcnow().date()
    series: dict[str, list[tuple[date, float]]] = {}
    for signal in signals[:HISTORY_LINES]:
        points = {p["day"]: p["score"] for p in history.get(signal["category"], [])}
        points[today] = float(signal["score"])
        series[signal["category_name"]] = sorted(points.items())
    first = min((pts[0][0] for pts in series.values()), default=today)
    start = min(first, today - timedelta(days=HISTORY_MIN_DAYS - 1))
    return line_chart(series, start=start, end=today, percent=True)


def dashboard_context(ctx: VaultContext, account: Account) -> dict[str, Any]:
    """What the dashboard shows of this room: signals (now and over time), the 20 newest gestures, intents,
    leaf categories."""
    with ctx.db.session() as s:
        signals = signals_for(session=s, ctx=ctx, account_id=account.id)
        history = history_for(session=s, ctx=ctx, account_id=account.id)
        gestures, _ = service.list_gestures(
            session=s, ctx=ctx, account_id=account.id, flt=GestureFilter(), limit=20, cursor=None
        )
        intents = service.list_intents(session=s, ctx=ctx, account_id=account.id)
    leaves = [(c, ctx.policy.nodes[c].name) for c in ctx.policy.leaves if not ctx.policy.is_sensitive(c)]
    return {
        "signals": signals,
        "strength_chart": strength_over_time(history, signals) if signals else None,
        "gestures": gestures,
        "intents": intents,
        "leaf_categories": leaves,
    }


def _signed_in(request: Request, ctx: VaultContext, csrf_token: str) -> Principal | Response:
    return form_principal(request, ctx, csrf_token, "consumer")


def _back(notice: str | None = None) -> RedirectResponse:
    return RedirectResponse("/dashboard" + ("?notice=" + notice if notice else ""), status_code=303)


@router.post("/dashboard/recording")
def toggle_recording(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    paused: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/dashboard",
) -> Response:
    from vault_server.web.pages import safe_next

    principal = _signed_in(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        service.update_settings(session=s, ctx=ctx, account=principal.account, paused=paused == "1", opt_ins=None)
    return RedirectResponse(safe_next(back) or "/dashboard", status_code=303)


@router.post("/dashboard/gestures/{event_id}/delete")
def delete_gesture(
    event_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/dashboard",
) -> Response:
    from vault_server.web.pages import confirm_page, safe_next

    principal = _signed_in(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    back = safe_next(back) or "/dashboard"
    if confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question="Delete this recorded gesture?",
            consequence="It is removed from your vault and your signals are recomputed without it. You can undo "
            "this for 5 minutes; after that it is final.",
            yes="Delete it",
            back=back,
            fields={"back": back},
        )
    batch = str(uuid.uuid4())
    with ctx.db.session() as s:
        deleted, _ = service.delete_gestures(
            session=s,
            ctx=ctx,
            account_id=principal.account.id,
            flt=GestureFilter(),
            event_id=event_id,
            undo_batch=batch,
        )
    return RedirectResponse(_with_query(back, deleted=str(deleted), undo=batch), status_code=303)


def _with_query(path: str, **params: str) -> str:
    """``path`` with ``params`` added to (or replacing those of) its query string."""
    base, _, query = path.partition("?")
    values = {k: v for k, v in parse_qsl(query) if k not in params and k not in NOTICE_PARAMS}
    return base + "?" + urlencode({**values, **params})


@router.post("/gestures/undo")
def undo_delete(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    batch: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/gestures",
) -> Response:
    """Put back the gestures of a deletion made less than 5 minutes ago (the "Undo" of the deletion notice)."""
    from vault_server.web.pages import safe_next

    principal = _signed_in(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    back = safe_next(back) or "/gestures"
    try:
        with ctx.db.session() as s:
            restored = service.undo_delete(session=s, ctx=ctx, account_id=principal.account.id, batch_id=batch[:36])
    except NotFound:
        return RedirectResponse(_with_query(back, undo_late="1"), status_code=303)
    return RedirectResponse(_with_query(back, restored=str(restored)), status_code=303)


INTENT_FIELDS = ("category", "text", "budget_max", "currency", "timeframe_days")


def intent_form_errors(ctx: VaultContext, form: dict[str, str]) -> dict[str, str]:
    """Per-field problems of the declare-intent form, in plain words; empty when it can be saved."""
    errors: dict[str, str] = {}
    leaves = {c for c in ctx.policy.leaves if not ctx.policy.is_sensitive(c)}
    if not form["category"]:
        errors["category"] = "Choose what you are looking for."
    elif form["category"] not in leaves:
        errors["category"] = "Choose a category from the list."
    if len(form["text"]) > 500:
        errors["text"] = "Keep it to 500 characters or fewer."
    if form["budget_max"]:
        try:
            budget = float(form["budget_max"].replace(",", ""))
            if not 0 <= budget <= 1e9:
                errors["budget_max"] = "Enter a budget between 0 and 1,000,000,000."
        except ValueError:
            errors["budget_max"] = "Enter the budget as a number, like 900."
        if not form["currency"]:
            errors["currency"] = "Add the currency of your budget, like EUR."
    if form["currency"] and not re.fullmatch(r"[A-Za-z]{3}", form["currency"]):
        errors["currency"] = "Use a three-letter currency code, like EUR or USD."
    if form["timeframe_days"]:
        days = form["timeframe_days"]
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            errors["timeframe_days"] = "Enter a whole number of days from 1 to 3650."
    return errors


@router.post("/dashboard/intents")
def add_intent(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    budget_max: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "",
    timeframe_days: Annotated[str, Form()] = "",
) -> Response:
    principal = _signed_in(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    form = {
        "category": category.strip(),
        "text": text.strip(),
        "budget_max": budget_max.strip(),
        "currency": currency.strip().upper(),
        "timeframe_days": timeframe_days.strip(),
    }
    errors = intent_form_errors(ctx, form)
    if not errors:
        try:
            body = IntentIn(
                category=form["category"],
                text=form["text"],
                budget_max=float(form["budget_max"].replace(",", "")) if form["budget_max"] else None,
                currency=form["currency"] or None,
                timeframe_days=int(form["timeframe_days"]) if form["timeframe_days"] else None,
            )
            with ctx.db.session() as s:
                service.create_intent(session=s, ctx=ctx, account_id=principal.account.id, body=body)
        except (ValidationError, VaultError):
            errors["form"] = "That intent could not be saved; check the values and try again."
    if errors:
        return render_dashboard(request, ctx, principal, intent_form=form, intent_errors=errors, status_code=422)
    return _back()


@router.post("/dashboard/intents/{intent_id}/delete")
def remove_intent(
    intent_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    from vault_server.web.pages import confirm_page

    principal = _signed_in(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    if confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question="Delete this intent?",
            consequence="Vendors you share with stop seeing it as a signal. This cannot be undone.",
            yes="Delete the intent",
            back="/dashboard",
        )
    with ctx.db.session() as s:
        service.delete_intent(session=s, ctx=ctx, account_id=principal.account.id, intent_id=intent_id)
    return _back()


# ---- the gestures timeline --------------------------------------------------------------------------------------
TIMELINE_PAGE = 50


def _timeline_filter(ctx: VaultContext, values: dict[str, str]) -> tuple[GestureFilter, dict[str, str]]:
    """The timeline's filter from its form fields, and per-field problems in plain words."""
    errors: dict[str, str] = {}
    category = values.get("category", "").strip()
    kind = values.get("type", "").strip()
    if category and category not in ctx.policy.nodes:
        errors["category"] = "Choose a category from the list."
    if kind and kind not in ctx.policy.gesture_rules:
        errors["type"] = "Choose a kind of gesture from the list."
    days: dict[str, datetime | None] = {}
    for key in ("since", "until"):
        raw = values.get(key, "").strip()
        days[key] = None
        if raw:
            try:
                day = date.fromisoformat(raw)
                days[key] = datetime(day.year, day.month, day.day, tzinfo=UTC)
            except ValueError:
                errors[key] = "Enter a date like 2026-11-25."
    until = days["until"] + timedelta(days=1) if days["until"] else None
    flt = GestureFilter(
        category=category if category and "category" not in errors else None,
        type=kind if kind and "type" not in errors else None,
        since=days["since"],
        until=until,
    )
    return flt, errors


def _timeline_query(values: dict[str, str]) -> str:
    return urlencode({k: values[k] for k in ("category", "type", "since", "until") if values.get(k)})


@router.get("/gestures")
def timeline(request: Request, ctx: Ctx) -> Response:
    from vault_server.web.pages import page_principal, render_page

    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    values = {k: request.query_params.get(k, "") for k in ("category", "type", "since", "until", "cursor")}
    flt, errors = _timeline_filter(ctx, values)
    items: list[dict[str, Any]] = []
    next_cursor = None
    if not errors:
        try:
            with ctx.db.session() as s:
                items, next_cursor = service.list_gestures(
                    session=s,
                    ctx=ctx,
                    account_id=principal.account.id,
                    flt=flt,
                    limit=TIMELINE_PAGE,
                    cursor=values["cursor"] or None,
                )
        except VaultError:
            errors["cursor"] = "That page of the list no longer exists; start again from the newest."
    categories = sorted(
        ((c, n.name) for c, n in ctx.policy.nodes.items() if not ctx.policy.is_sensitive(c)), key=lambda t: t[1]
    )
    query = _timeline_query(values)
    return render_page(
        request,
        ctx,
        principal,
        "gestures.html",
        status_code=422 if errors else 200,
        items=items,
        filters=values,
        field_errors=errors,
        filtered=bool(query),
        query=query,
        next_url=f"/gestures?{query + '&' if query else ''}cursor={next_cursor}" if next_cursor else None,
        first_url=f"/gestures?{query}" if values["cursor"] else None,
        categories=categories,
        gesture_types=sorted(ctx.policy.gesture_rules),
    )


@router.post("/gestures/delete")
def timeline_delete(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    """Delete every gesture matching the filter (all of them without one), after a confirmation step."""
    from vault_server.web.pages import confirm_page

    principal = _signed_in(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    values = {"category": category, "type": type, "since": since, "until": until}
    flt, errors = _timeline_filter(ctx, values)
    query = _timeline_query(values)
    if errors:
        return RedirectResponse(f"/gestures?{query}", status_code=303)
    if confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question="Delete these recorded gestures?" if query else "Delete everything recorded?",
            consequence=(
                "Every gesture that matches the filter is removed and your signals are recomputed without them."
                if query
                else "Every gesture in your vault is removed and your signals are recomputed. Declared intents stay."
            )
            + " You can undo this for 5 minutes; after that it is final.",
            yes="Delete them" if query else "Delete everything recorded",
            back=f"/gestures?{query}" if query else "/gestures",
            fields={k: v for k, v in values.items() if v},
        )
    batch = str(uuid.uuid4())
    with ctx.db.session() as s:
        deleted, _ = service.delete_gestures(
            session=s, ctx=ctx, account_id=principal.account.id, flt=flt, undo_batch=batch
        )
    # back to the same filtered view, where the notice offers the undo
    return RedirectResponse(_with_query(f"/gestures?{query}", deleted=str(deleted), undo=batch), status_code=303)
