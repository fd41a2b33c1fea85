"""Server-rendered pages that belong to no single room: home and the consumer dashboard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vault_server.accounts import service as accounts
from vault_server.context import VaultContext
from vault_server.web.deps import (
    TEMPLATES,
    Ctx,
    Principal,
    check_form_csrf,
    csrf_binding,
    form_csrf,
    resolve_principal,
)

router = APIRouter(include_in_schema=False)

NOTICES = {"intent-invalid": "That intent could not be saved: check the category, budget (with a currency) and days."}


def page_principal(request: Request, ctx: VaultContext, *roles: str) -> Principal | Response:
    """The signed-in principal for a page, or a redirect to the login form."""
    principal = resolve_principal(request, ctx)
    if principal is None or principal.via != "session":
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if roles:
        principal.require_role(*roles)
    return principal


def form_principal(request: Request, ctx: VaultContext, csrf_token: str, *roles: str) -> Principal | Response:
    """For a form POST: check its CSRF token, then return the signed-in principal or a redirect to log in."""
    check_form_csrf(request, ctx, csrf_token)
    return page_principal(request, ctx, *roles)


def render_page(
    request: Request, ctx: VaultContext, principal: Principal | None, template: str, **values: Any
) -> HTMLResponse:
    """Render a template for a signed-in account with its CSRF token and header label."""
    label = ""
    if principal is not None:
        with ctx.db.session() as s:
            prof = accounts.profile(session=s, ring=ctx.ring, account=principal.account)
        label = f"{prof['email']} ({principal.account.role})"
        values.setdefault("profile", prof)
    html = TEMPLATES.get_template(template).render(
        request=request,
        csrf_token=form_csrf(ctx, csrf_binding(request)),
        account=principal.account if principal else None,
        account_label=label,
        **values,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: Ctx) -> HTMLResponse:
    principal = resolve_principal(request, ctx)
    return render_page(request, ctx, principal, "home.html")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx)
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        tokens = accounts.list_tokens(session=s, account_id=principal.account.id)
    from vault_server.intents.pages import dashboard_context

    return render_page(
        request, ctx, principal, "dashboard.html", tokens=tokens,
        intents_view=dashboard_context(ctx, principal.account),
        errors=[NOTICES[n] for n in [request.query_params.get("notice", "")] if n in NOTICES],
    )


@router.post("/dashboard/tokens/{token_id}/revoke")
def dashboard_revoke_token(
    token_id: str, request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = form_principal(request, ctx, csrf_token)
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        accounts.revoke_token(session=s, account_id=principal.account.id, token_id=token_id)
    return RedirectResponse("/dashboard", status_code=303)
