"""Pages of the feed room: the consumer's inbox (offers, questions, intentcasts, vendor switches) and the vendor's
webhook console (endpoints, deliveries, replay)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from vault_server.context import VaultContext
from vault_server.errors import NotFound, VaultError
from vault_server.feed import offers, outbox, questions, service, webhooks
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
    from vault_server.web.pages import vendor_names

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
        vendor_names=vendor_names(ctx, [p.vendor_id for p in prefs]),
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
DELIVERY_STATUSES = ("pending", "delivered", "dead", "skipped")


def _webhook_apps(ctx: VaultContext, owner_id: str, status: str | None = None) -> list[dict[str, Any]]:
    apps = []
    with ctx.db.session() as s:
        for app in vendors.list_apps(session=s, owner_account_id=owner_id):
            endpoints = webhooks.list_endpoints(session=s, vendor_id=app.id)
            urls = {e.id: e.url for e in endpoints}
            deliveries = []
            for d in outbox.list_for_vendor(s, vendor_id=app.id, status=status, limit=50):
                view = webhooks.delivery_view(d)
                view["created"] = d.created_at
                view["endpoint_url"] = urls.get(d.endpoint_id, "(removed)")
                deliveries.append(view)
            apps.append(
                {"app": app, "endpoints": [webhooks.endpoint_view(e) for e in endpoints], "deliveries": deliveries}
            )
    return apps


WEBHOOK_NOTICES = {
    "replayed": "The message is queued again.",
    "test-queued": "A test message is queued: it appears in the delivery log below with its outcome.",
    "endpoint-removed": "The endpoint was removed with its pending messages.",
}


@router.get("/vendor/webhooks")
def webhooks_page(request: Request, ctx: Ctx, notice: str = "", status: str = "") -> Response:
    """The webhook console; ``status`` shows only the deliveries in that state (anything else: all of them)."""
    principal = _principal(request, ctx, "vendor")
    if isinstance(principal, Response):
        return principal
    shown = status if status in DELIVERY_STATUSES else ""
    return _render(
        request,
        ctx,
        principal,
        "webhooks.html",
        apps=_webhook_apps(ctx, principal.account.id, shown or None),
        notice=WEBHOOK_NOTICES.get(notice, ""),
        event_types=webhooks.EVENT_TYPES,
        form={},
        delivery_status=shown,
        delivery_statuses=DELIVERY_STATUSES,
    )


def _own_app(s: Any, client_id: str, owner_id: str) -> Any:
    app = vendors.get_or_raise(session=s, client_id=client_id)
    if app.owner_account_id != owner_id:
        raise NotFound("no such vendor app")
    return app


@router.post("/vendor/webhooks/{client_id}/endpoints")
async def webhooks_add(client_id: str, request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    from vault_server.web.deps import get_ctx

    form = await request.form()
    values = {
        "url": str(form.get("url", "")).strip(),
        "description": str(form.get("description", "")).strip(),
        "events": [str(v) for v in form.getlist("events")],
    }
    return await run_in_threadpool(
        _webhooks_add, request, get_ctx(request), client_id, str(form.get("csrf_token", "")), values
    )


def _webhooks_add(
    request: Request, ctx: VaultContext, client_id: str, csrf_token: str, values: dict[str, Any]
) -> Response:
    from vault_server.web.pages import plain_form_errors

    principal = _form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        vendor_id = _own_app(s, client_id, principal.account.id).id  # another vendor's app is a 404, not a form error
    errors: list[str] = []
    created = None
    try:
        body = webhooks.EndpointIn(url=values["url"], events=values["events"], description=values["description"])
        with ctx.db.session() as s:
            endpoint, secret = webhooks.create_endpoint(session=s, ctx=ctx, vendor_id=vendor_id, body=body)
            created = webhooks.endpoint_view(endpoint, secret)
    except ValidationError as exc:
        errors = plain_form_errors(exc, {"url": "URL", "events": "Events", "description": "Description"})
    except VaultError as exc:
        errors = [exc.detail[:1].upper() + exc.detail[1:]]
    response = _render(
        request,
        ctx,
        principal,
        "webhooks.html",
        apps=_webhook_apps(ctx, principal.account.id),
        event_types=webhooks.EVENT_TYPES,
        created=created,
        errors=errors,
        form={} if created else {**values, "client_id": client_id},
    )
    if errors:
        response.status_code = 422
    return response


@router.post("/vendor/webhooks/{client_id}/endpoints/{endpoint_id}/test")
def webhooks_test(
    client_id: str, endpoint_id: str, request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = _form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        app = _own_app(s, client_id, principal.account.id)
        webhooks.get_endpoint(session=s, vendor_id=app.id, endpoint_id=endpoint_id)
        outbox.enqueue_test(s, vendor_id=app.id, endpoint_id=endpoint_id)
    return RedirectResponse("/vendor/webhooks?notice=test-queued", status_code=303)


@router.post("/vendor/webhooks/{client_id}/endpoints/{endpoint_id}/delete")
def webhooks_delete(
    client_id: str,
    endpoint_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    from vault_server.web.pages import confirm_page

    principal = _form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        app = _own_app(s, client_id, principal.account.id)
        endpoint = webhooks.get_endpoint(session=s, vendor_id=app.id, endpoint_id=endpoint_id)
        if confirmed != "yes":
            url = endpoint.url
        else:
            webhooks.delete_endpoint(session=s, vendor_id=app.id, endpoint_id=endpoint_id)
            return RedirectResponse("/vendor/webhooks?notice=endpoint-removed", status_code=303)
    return confirm_page(
        request,
        ctx,
        principal,
        question="Remove this webhook endpoint?",
        consequence=f"{url} gets no more messages, and its pending messages are dropped.",
        yes="Remove the endpoint",
        back="/vendor/webhooks",
    )


@router.post("/vendor/webhooks/{client_id}/deliveries/{message_id}/replay")
def webhooks_replay(
    client_id: str, message_id: str, request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = _form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        app = _own_app(s, client_id, principal.account.id)
        webhooks.replay(session=s, ctx=ctx, vendor_id=app.id, message_id=message_id, via="portal")
    return RedirectResponse("/vendor/webhooks?notice=replayed", status_code=303)


# ---- vendor feed explorer and intentcasts ------------------------------------------------------------------------
@router.get("/vendor/feed")
def feed_explorer(request: Request, ctx: Ctx, app: str = "") -> Response:
    """The feed explorer of one of the vendor's apps (the first unless ``app`` names another): every read is
    audited in the same transaction as the feed's own (feed/explorer.py), before the page is rendered."""
    from vault_server.feed import explorer
    from vault_server.vendors import sandbox

    principal = _principal(request, ctx, "vendor")
    if isinstance(principal, Response):
        return principal
    service.stamp_now(ctx)
    with ctx.db.session() as s:
        apps = vendors.list_apps(session=s, owner_account_id=principal.account.id)
        selected = next((a for a in apps if a.id == app), None) if app else (apps[0] if apps else None)
        if app and selected is None:
            raise NotFound("no such vendor app")
        view: dict[str, Any] = {}
        if selected is not None:
            sandboxed = {
                str(sandbox.view(ctx, row)["subject"])
                for row in sandbox.list_for_vendor(session=s, vendor_id=selected.id)
            }
            view = explorer.explore(session=s, ctx=ctx, vendor_id=selected.id, sandbox_subjects=sandboxed)
    # the audit entries are committed: only now is anything rendered
    return _render(
        request,
        ctx,
        principal,
        "vendor_feed.html",
        apps=apps,
        selected=selected,
        view=view,
        subjects_cap=explorer.SUBJECTS_CAP,
    )


@router.get("/vendor/intentcasts")
def vendor_intentcasts(request: Request, ctx: Ctx) -> Response:
    """Open intentcasts each app received (each read audited, as through the API), its offers and their outcome,
    and its questions with their aggregate answers."""
    principal = _principal(request, ctx, "vendor")
    if isinstance(principal, Response):
        return principal
    apps = []
    with ctx.db.session() as s:
        for app in vendors.list_apps(session=s, owner_account_id=principal.account.id):
            asked = [
                questions.results(session=s, ctx=ctx, vendor_id=app.id, question_id=q["id"])
                for q in questions.list_for_vendor(session=s, vendor_id=app.id, limit=20)
            ]
            apps.append(
                {
                    "app": app,
                    "casts": offers.open_casts_for_vendor(session=s, ctx=ctx, vendor_id=app.id, limit=50),
                    "offers": offers.vendor_offers(session=s, ctx=ctx, vendor_id=app.id, limit=50),
                    "questions": asked,
                }
            )
    return _render(request, ctx, principal, "vendor_intentcasts.html", apps=apps)
