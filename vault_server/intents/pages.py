"""Dashboard sections of the intents room: signals with their explanation, recent gestures, intents, pause."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.errors import VaultError
from vault_server.intents import service
from vault_server.intents.schemas import IntentIn
from vault_server.intents.service import GestureFilter
from vault_server.signals.service import signals_for
from vault_server.web.deps import Ctx

router = APIRouter(include_in_schema=False)


def dashboard_context(ctx: VaultContext, account: Account) -> dict[str, Any]:
    """What the dashboard shows of this room: signals, the 20 newest gestures, intents, leaf categories."""
    with ctx.db.session() as s:
        signals = signals_for(session=s, ctx=ctx, account_id=account.id)
        gestures, _ = service.list_gestures(
            session=s, ctx=ctx, account_id=account.id, flt=GestureFilter(), limit=20, cursor=None
        )
        intents = service.list_intents(session=s, ctx=ctx, account_id=account.id)
    leaves = [(c, ctx.policy.nodes[c].name) for c in ctx.policy.leaves if not ctx.policy.is_sensitive(c)]
    return {"signals": signals, "gestures": gestures, "intents": intents, "leaf_categories": leaves}


def _signed_in(request: Request, ctx: VaultContext, csrf_token: str) -> Account | Response:
    from vault_server.web.pages import form_principal

    principal = form_principal(request, ctx, csrf_token, "consumer")
    return principal if isinstance(principal, Response) else principal.account


def _back(notice: str | None = None) -> RedirectResponse:
    return RedirectResponse("/dashboard" + ("?notice=" + notice if notice else ""), status_code=303)


@router.post("/dashboard/recording")
def toggle_recording(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "", paused: Annotated[str, Form()] = ""
) -> Response:
    account = _signed_in(request, ctx, csrf_token)
    if isinstance(account, Response):
        return account
    with ctx.db.session() as s:
        service.update_settings(session=s, ctx=ctx, account=account, paused=paused == "1", opt_ins=None)
    return _back()


@router.post("/dashboard/gestures/{event_id}/delete")
def delete_gesture(event_id: str, request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    account = _signed_in(request, ctx, csrf_token)
    if isinstance(account, Response):
        return account
    with ctx.db.session() as s:
        service.delete_gestures(session=s, ctx=ctx, account_id=account.id, flt=GestureFilter(), event_id=event_id)
    return _back()


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
    account = _signed_in(request, ctx, csrf_token)
    if isinstance(account, Response):
        return account
    try:
        body = IntentIn(
            category=category,
            text=text,
            budget_max=float(budget_max) if budget_max else None,
            currency=currency.upper() or None,
            timeframe_days=int(timeframe_days) if timeframe_days else None,
        )
        with ctx.db.session() as s:
            service.create_intent(session=s, ctx=ctx, account_id=account.id, body=body)
    except (ValidationError, ValueError, VaultError):
        return _back("intent-invalid")
    return _back()


@router.post("/dashboard/intents/{intent_id}/delete")
def remove_intent(intent_id: str, request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    account = _signed_in(request, ctx, csrf_token)
    if isinstance(account, Response):
        return account
    with ctx.db.session() as s:
        service.delete_intent(session=s, ctx=ctx, account_id=account.id, intent_id=intent_id)
    return _back()
