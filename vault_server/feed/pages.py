"""Pages of the feed room: the consumer's inbox (offers, questions, intentcasts, vendor switches) and the vendor's
webhook console (endpoints, deliveries, replay)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from vault_server.context import VaultContext
from vault_server.errors import NotFound, VaultError
from vault_server.feed import offers, outbox, questions, webhooks
from vault_server.vendors import service as vendors
from vault_server.web.deps import Ctx, Principal

router = APIRouter(include_in_schema=False)


def _principal(request: Request, ctx: VaultContext, role: str) -> Principal | Response:
    from vault_server.web.pages import page_principal

    return page_principal(request, ctx, role)


def _form_principal(request: Request, ctx: VaultContext, csrf_token: str, role: str) -> Principal | Response:
    from vault_server.web.pages import form_principal

    return form_principal(request, ctx, csrf_token, role)


def _render(request: Request, ctx: VaultContext, principal: Principal, template: str, **values: Any) -> Response:
    from vault_server.web.pages import render_page

    return render_page(request, ctx, principal, template, **values)


# ---- consumer inbox -----------------------------------------------------------------------------------------------
@router.get("/inbox")
def inbox_page(request: Request, ctx: Ctx, notice: str = "") -> Response:
    principal = _principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    account_id = principal.account.id
    with ctx.db.session() as s:
        offer_list = offers.inbox(session=s, ctx=ctx, account_id=account_id)
        question_list = questions.inbox(session=s, account_id=account_id)
        casts = offers.list_casts(session=s, ctx=ctx, account_id=account_id)
        prefs = offers.preferences(session=s, account_id=account_id)
    return _render(
        request,
        ctx,
        principal,
        "inbox.html",
        offers=offer_list,
        questions=question_list,
        casts=casts,
        prefs=prefs,
        notice=notice,
    )


def _back(notice: str = "") -> RedirectResponse:
    return RedirectResponse("/inbox" + (f"?notice={notice}" if notice else ""), status_code=303)


@router.post("/inbox/offers/{offer_id}")
def inbox_decide(
    offer_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    reveal_name: Annotated[str, Form()] = "",
    reveal_email: Annotated[str, Form()] = "",
) -> Response:
    principal = _form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    reveal = [f for f, on in (("name", reveal_name), ("email", reveal_email)) if on]
    try:
        body = offers.DecisionIn.model_validate({"action": action, "reveal": reveal if action == "accept" else []})
        with ctx.db.session() as s:
            offers.decide(session=s, ctx=ctx, account_id=principal.account.id, offer_id=offer_id, body=body)
    except (ValidationError, VaultError):
        return _back("offer-unchanged")
    return _back(f"offer-{action}ed")


@router.post("/inbox/questions/{delivery_id}")
def inbox_answer(
    delivery_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "answer",
    choice: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    principal = _form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    try:
        with ctx.db.session() as s:
            if action == "ignore":
                questions.ignore(session=s, account_id=principal.account.id, delivery_id=delivery_id)
            else:
                body = questions.AnswerIn(choice=choice or None, text=text or None)
                questions.answer(
                    session=s, ctx=ctx, account_id=principal.account.id, delivery_id=delivery_id, body=body
                )
    except (ValidationError, VaultError):
        return _back("question-unchanged")
    return _back("question-" + ("ignored" if action == "ignore" else "answered"))


@router.post("/inbox/vendors/{vendor_id}")
def inbox_vendor_switch(
    vendor_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    switch: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "1",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    from vault_server.web.pages import confirm_page

    principal = _form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    on = value == "1"
    if switch == "block" and on and confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question="Block this vendor?",
            consequence="You will get no more offers or questions from it. You can undo this from your inbox.",
            yes="Block the vendor",
            back="/inbox",
            fields={"switch": "block", "value": "1"},
        )
    try:
        with ctx.db.session() as s:
            offers.set_preference(
                session=s,
                account_id=principal.account.id,
                vendor_id=vendor_id,
                blocked=on if switch == "block" else None,
                questions_off=on if switch == "questions" else None,
            )
    except NotFound:
        return _back("no-such-vendor")
    return _back("vendor-updated")


# ---- vendor webhook console ----------------------------------------------------------------------------------
@router.get("/vendor/webhooks")
def webhooks_page(request: Request, ctx: Ctx, notice: str = "") -> Response:
    principal = _principal(request, ctx, "vendor")
    if isinstance(principal, Response):
        return principal
    apps = []
    with ctx.db.session() as s:
        for app in vendors.list_apps(session=s, owner_account_id=principal.account.id):
            apps.append(
                {
                    "app": app,
                    "endpoints": [
                        webhooks.endpoint_view(e) for e in webhooks.list_endpoints(session=s, vendor_id=app.id)
                    ],
                    "deliveries": [
                        webhooks.delivery_view(d) for d in outbox.list_for_vendor(s, vendor_id=app.id, limit=50)
                    ],
                }
            )
    return _render(request, ctx, principal, "webhooks.html", apps=apps, notice=notice)


@router.post("/vendor/webhooks/{client_id}/deliveries/{message_id}/replay")
def webhooks_replay(
    client_id: str, message_id: str, request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = _form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        app = vendors.get_or_raise(session=s, client_id=client_id)
        if app.owner_account_id != principal.account.id:
            raise NotFound("no such vendor app")
        outbox.replay(s, vendor_id=app.id, message_id=message_id)
    return RedirectResponse("/vendor/webhooks?notice=replayed", status_code=303)
