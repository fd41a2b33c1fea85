"""The consumer's settings page: name, password, recording, sensitive-category opt-ins, personal tokens, export and
account deletion. Every form is CSRF-checked; a new token is shown once, on the response that creates it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vault_server.accounts import flows
from vault_server.accounts import service as accounts
from vault_server.accounts.service import KNOWN_SCOPES, InvalidCredentials
from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.errors import VaultError
from vault_server.intents import service as intents
from vault_server.oauth.scopes import SCOPE_LABELS
from vault_server.web.deps import SESSION_COOKIE, Ctx, Principal
from vault_server.web.pages import form_principal, page_principal, render_page

router = APIRouter(include_in_schema=False)

NOTICES = {
    "name": "Your name was saved.",
    "password": "Your password was changed. Other browsers signed in to your vault were logged out.",
    "sensitive": "Your choices for sensitive categories were saved.",
}
TOKEN_SCOPES = sorted(KNOWN_SCOPES)
TOKEN_SCOPE_LABELS = {
    **SCOPE_LABELS,
    "intents:write": "declare intents",
    "account:read": "read and export your account",
}


def _render(
    request: Request, ctx: VaultContext, principal: Principal, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    with ctx.db.session() as s:
        cipher = cipher_for(session=s, ring=ctx.ring, account_id=principal.account.id)
        opt_ins = set(intents.get_opt_ins(session=s, cipher=cipher))
        tokens = [t for t in accounts.list_tokens(session=s, account_id=principal.account.id) if t.kind == "personal"]
        from vault_server.reports.service import is_participant
        from vault_server.terms.service import choices, roster

        counted = is_participant(session=s, account_id=principal.account.id)
        terms = choices(session=s, ctx=ctx, account_id=principal.account.id) if roster(ctx) is not None else None
    sensitive = [
        {"id": c, "name": ctx.policy.nodes[c].name if c in ctx.policy.nodes else c, "on": c in opt_ins}
        for c in sorted(ctx.policy.sensitive_ids)
    ]
    values.setdefault("field_errors", {})
    values.setdefault("notice", NOTICES.get(request.query_params.get("saved", ""), ""))
    return render_page(
        request,
        ctx,
        principal,
        "settings.html",
        status_code=status_code,
        sensitive=sensitive,
        tokens=tokens,
        token_scopes=[(s, TOKEN_SCOPE_LABELS.get(s, s)) for s in TOKEN_SCOPES],
        token_labels=TOKEN_SCOPE_LABELS,
        delete_phrase=flows.DELETE_PHRASE,
        reports_opted_in=counted,
        terms=terms,
        agreement_titles={a.id: a.title for a in ctx.policy.agreements.agreements} if ctx.policy.agreements else {},
        **values,
    )


def _saved(what: str) -> RedirectResponse:
    return RedirectResponse(f"/settings?saved={what}", status_code=303)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    return _render(request, ctx, principal)


@router.post("/settings/name")
def settings_name(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "", name: Annotated[str, Form()] = ""
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    if len(name.strip()) > 200:
        return _render(
            request, ctx, principal, status_code=422, field_errors={"name": "Keep your name to 200 characters."}
        )
    with ctx.db.session() as s:
        account = accounts.get_account(session=s, account_id=principal.account.id)
        accounts.set_name(session=s, ring=ctx.ring, account=account, name=name)
    return _saved("name")


@router.post("/settings/password")
def settings_password(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = "Enter your current password."
    if len(new) < 10:
        errors["new"] = "Choose a new password of 10 characters or more."
    elif len(new) > 256:
        errors["new"] = "Choose a new password of at most 256 characters."
    elif new != repeat:
        errors["repeat"] = "The two new passwords differ; type the same one twice."
    if not errors:
        try:
            with ctx.db.session() as s:
                account = accounts.get_account(session=s, account_id=principal.account.id)
                accounts.change_password(
                    session=s,
                    hasher=ctx.hasher,
                    account=account,
                    current=current,
                    new=new,
                    keep_session=principal.session_token,
                )
        except InvalidCredentials:
            errors["current"] = "That is not your current password."
    if errors:
        return _render(request, ctx, principal, status_code=422, field_errors=errors)
    return _saved("password")


@router.post("/settings/sensitive")
async def settings_sensitive(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    from vault_server.web.deps import get_ctx

    ctx = get_ctx(request)
    form = await request.form()
    chosen = [str(v) for v in form.getlist("opt_in")]
    return await run_in_threadpool(_save_sensitive, request, ctx, str(form.get("csrf_token", "")), chosen)


def _save_sensitive(request: Request, ctx: VaultContext, csrf_token: str, chosen: list[str]) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    allowed = [c for c in chosen if c in ctx.policy.sensitive_ids]
    with ctx.db.session() as s:
        intents.update_settings(session=s, ctx=ctx, account=principal.account, paused=None, opt_ins=allowed)
    return _saved("sensitive")


@router.post("/settings/tokens")
async def settings_create_token(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    from vault_server.web.deps import get_ctx

    ctx = get_ctx(request)
    form = await request.form()
    scopes = [str(v) for v in form.getlist("scope")]
    return await run_in_threadpool(
        _create_token, request, ctx, str(form.get("csrf_token", "")), str(form.get("name", "")), scopes
    )


def _create_token(request: Request, ctx: VaultContext, csrf_token: str, name: str, scopes: list[str]) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    errors: dict[str, str] = {}
    if not name.strip():
        errors["label"] = "Give the token a name, so you know later what uses it."
    elif len(name.strip()) > 100:
        errors["label"] = "Keep the name to 100 characters."
    if not scopes:
        errors["scopes"] = "Tick at least one thing the token may do."
    elif not set(scopes) <= KNOWN_SCOPES:
        errors["scopes"] = "Choose from the listed permissions."
    if errors:
        form = {"label": name, "scopes": scopes}
        return _render(request, ctx, principal, status_code=422, field_errors=errors, token_form=form)
    with ctx.db.session() as s:
        secret, row = accounts.issue_api_token(
            session=s, account_id=principal.account.id, name=name.strip(), scopes=scopes
        )
        created = {"name": row.name, "token": secret}
    return _render(request, ctx, principal, created_token=created)


@router.post("/settings/delete")
def settings_delete(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    errors: dict[str, str] = {}
    if confirm.strip().lower() != flows.DELETE_PHRASE:
        errors["confirm"] = f"Type “{flows.DELETE_PHRASE}” exactly to confirm."
    if not password:
        errors["delete_current"] = "Enter your password."
    if not errors:
        try:
            with ctx.db.session() as s:
                flows.delete_own_account(
                    session=s, ctx=ctx, account_id=principal.account.id, password=password, confirm=confirm
                )
        except InvalidCredentials:
            errors["delete_current"] = "That is not your password. Nothing was deleted."
        except VaultError as exc:
            errors["confirm"] = exc.detail
    if errors:
        return _render(request, ctx, principal, status_code=422, field_errors=errors)
    response = render_page(request, ctx, None, "deleted.html")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
