"""Server-rendered pages that belong to no single room: home and the consumer dashboard."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.errors import Forbidden
from vault_server.oauth.rar import STAGE_LABELS
from vault_server.policy.models import STAGES
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

# Where each role lands after login, and the navigation bar of its pages (only pages that exist).
ROLE_HOMES = {"consumer": "/dashboard", "vendor": "/vendor", "auditor": "/auditor", "admin": "/admin/vendors"}
ROLE_NAMES = {"consumer": "consumer", "vendor": "vendor", "auditor": "auditor", "admin": "administrator"}
NAV: dict[str, list[tuple[str, str]]] = {
    "consumer": [
        ("/dashboard", "Dashboard"),
        ("/gestures", "Recorded"),
        ("/inbox", "Inbox"),
        ("/grants", "Vendor access"),
        ("/access-log", "Access log"),
        ("/reports", "Demand reports"),
        ("/device", "Pair a device"),
        ("/settings", "Settings"),
    ],
    "vendor": [
        ("/vendor", "Apps"),
        ("/vendor/feed", "Feed explorer"),
        ("/vendor/intentcasts", "Intentcasts"),
        ("/vendor/webhooks", "Webhooks"),
        ("/vendor/reports", "Demand reports"),
    ],
    "auditor": [
        ("/auditor", "Audit log"),
        ("/auditor/heads", "Signed heads"),
        ("/auditor/volume", "Volume"),
        ("/auditor/reports", "Report budgets"),
    ],
    "admin": [
        ("/admin/vendors", "Vendor apps"),
        ("/auditor", "Audit log"),
        ("/auditor/heads", "Signed heads"),
        ("/auditor/volume", "Volume"),
        ("/auditor/reports", "Report budgets"),
    ],
}
# A strict policy for every server-rendered page: no inline script or style, nothing from another origin.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}


def localtime(value: datetime | str | None, style: str = "full") -> Markup:
    """An instant as ``<time>``: UTC text that /static/vault.js rewrites into the reader's locale and time zone."""
    if value is None or value == "":
        return Markup("")
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return Markup("{}").format(value)  # not an instant: shown as it is, escaped
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%d") if style == "date" else when.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-local="{}">{}</time>').format(when.isoformat(), style, text)


def money(amount: float | int | str | None, currency: str | None = None) -> str:
    """A price for people: "1,000 EUR", "899.50 EUR" (no "1000.0")."""
    if amount is None or amount == "":
        return ""
    value = float(amount)
    text = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def from_ms(value: int | None) -> datetime | None:
    """Milliseconds since the epoch as an aware datetime (for the ``localtime`` filter)."""
    return datetime.fromtimestamp(value / 1000, UTC) if value is not None else None


TEMPLATES.env.filters["localtime"] = localtime
TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["from_ms"] = from_ms


def vendor_names(ctx: VaultContext, ids: Iterable[str | None]) -> dict[str, str]:
    """Display names of vendor apps by client id (for pages that would otherwise show ``ivc_…`` ids)."""
    from vault_server.vendors import service as vendors

    wanted = sorted({i for i in ids if i})
    with ctx.db.session() as s:
        apps = {i: vendors.get(session=s, client_id=i) for i in wanted}
    return {i: app.name for i, app in apps.items() if app is not None}


def role_home(role: str | None) -> str:
    """The page a role lands on; the public home page for the anonymous."""
    return ROLE_HOMES.get(role or "", "/")


def current_nav(nav: list[tuple[str, str]], path: str) -> str:
    """The navigation entry a page belongs to: its own address, else the longest one it lies under."""
    under = [href for href, _ in nav if path == href or path.startswith(href.rstrip("/") + "/")]
    return max(under, key=len, default="")


def safe_next(target: str) -> str | None:
    """A same-site path to go back to after login, or None for anything that could leave the site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def plain_form_errors(exc: ValidationError, labels: dict[str, str]) -> list[str]:
    """A form's validation errors in plain words, one per field, named by the form's own labels
    ("Password must have at least 10 characters."), never in validator wording."""
    messages: dict[str, str] = {}
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        label = labels.get(field, field.replace("_", " ").capitalize() or "A value")
        limits = e.get("ctx") or {}
        kind = e["type"]
        if kind in ("missing", "too_short") or (kind == "string_too_short" and limits.get("min_length") == 1):
            text = f"{label} is required." if kind != "too_short" else f"{label}: add at least one."
        elif kind == "string_too_short":
            text = f"{label} must have at least {limits.get('min_length')} characters."
        elif kind == "string_too_long":
            text = f"{label} must have at most {limits.get('max_length')} characters."
        elif kind == "too_long":
            text = f"{label}: at most {limits.get('max_length')}."
        elif field == "email" or "email" in str(e.get("msg", "")):
            text = f"{label}: enter an address like name@example.com."
        elif kind == "value_error":
            reason = str(e.get("msg", "")).removeprefix("Value error, ")
            text = f"{label}: {reason[:1].lower() + reason[1:]}" + ("" if reason.endswith(".") else ".")
        else:
            text = f"{label} is not valid."
        messages.setdefault(field, text)
    return list(messages.values())


# A room's part of the dashboard: (template variable, builder). Rooms' builders are registered by create_app on
# ``app.state.dashboard_sections``, so this shell never imports a room's pages.
DashboardSection = tuple[str, Callable[[VaultContext, Account], dict[str, Any]]]


def page_principal(request: Request, ctx: VaultContext, *roles: str) -> Principal | Response:
    """The signed-in principal for a page, or a redirect to the login form."""
    principal = resolve_principal(request, ctx)
    if principal is None or principal.via != "session":
        target = request.url.path + ("?" + request.url.query if request.url.query and request.method == "GET" else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
    if roles and principal.account.role not in roles:
        wanted = " or ".join(ROLE_NAMES.get(r, r) for r in roles)
        raise Forbidden(
            f"You are signed in as {_article(ROLE_NAMES.get(principal.account.role, principal.account.role))}; "
            f"this page is for {wanted} accounts."
        )
    return principal


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def form_principal(request: Request, ctx: VaultContext, csrf_token: str, *roles: str) -> Principal | Response:
    """For a form POST: check its CSRF token, then return the signed-in principal or a redirect to log in."""
    check_form_csrf(request, ctx, csrf_token)
    return page_principal(request, ctx, *roles)


def render_page(
    request: Request, ctx: VaultContext, principal: Principal | None, template: str, **values: Any
) -> HTMLResponse:
    """Render a template for a signed-in account with its CSRF token and header label."""
    label = ""
    role = principal.account.role if principal is not None else None
    if principal is not None:
        with ctx.db.session() as s:
            prof = accounts.profile(session=s, ring=ctx.ring, account=principal.account)
        label = f"{prof['name']} ({prof['email']})" if prof["name"] else prof["email"]
        values.setdefault("profile", prof)
    status = int(values.pop("status_code", 200))
    context: dict[str, Any] = {  # a page's own values win over these defaults
        "category_name": lambda c: ctx.policy.nodes[c].name if c in ctx.policy.nodes else c,
        "stages": STAGES,
        "stage_labels": STAGE_LABELS,
        "vendor_names": {},
        **values,
    }
    html = TEMPLATES.get_template(template).render(
        request=request,
        csrf_token=form_csrf(ctx, csrf_binding(request)),
        account=principal.account if principal else None,
        account_label=label,
        role_label=ROLE_NAMES.get(role or "", ""),
        nav=NAV.get(role or "", []),
        current_nav=current_nav(NAV.get(role or "", []), request.url.path),
        home_url=role_home(role),
        current_path=request.url.path,
        current_url=_page_url(request),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


NOTICE_PARAMS = frozenset({"deleted", "undo", "restored", "undo_late"})


def _page_url(request: Request) -> str:
    """The page's own path and query without one-time notice parameters: where a form on it comes back to, with
    the person's filters kept."""
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in NOTICE_PARAMS])
    return request.url.path + (f"?{query}" if query else "")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: Ctx) -> HTMLResponse:
    principal = resolve_principal(request, ctx)
    if principal is not None and principal.via != "session":
        principal = None
    return render_page(request, ctx, principal, "home.html")


def render_dashboard(request: Request, ctx: VaultContext, principal: Principal, **values: Any) -> HTMLResponse:
    """The consumer dashboard, optionally with the declare-intent form's values and per-field errors."""
    sections: list[DashboardSection] = request.app.state.dashboard_sections
    values.setdefault("intent_form", {})
    values.setdefault("intent_errors", {})
    with ctx.db.session() as s:
        values.setdefault("tokens", accounts.list_tokens(session=s, account_id=principal.account.id))
    return render_page(
        request,
        ctx,
        principal,
        "dashboard.html",
        **{name: build(ctx, principal.account) for name, build in sections},
        **values,
    )


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    return render_dashboard(request, ctx, principal)


@router.post("/dashboard/tokens/{token_id}/revoke")
def dashboard_revoke_token(
    token_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/dashboard",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "consumer")
    if isinstance(principal, Response):
        return principal
    back = safe_next(back) or "/dashboard"
    if confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question="Revoke this token?",
            consequence="Anything using it loses access at once. This cannot be undone; you can create a new token.",
            yes="Revoke the token",
            back=back,
            fields={"back": back},
        )
    with ctx.db.session() as s:
        accounts.revoke_token(session=s, account_id=principal.account.id, token_id=token_id)
    return RedirectResponse(back, status_code=303)


def confirm_page(
    request: Request,
    ctx: VaultContext,
    principal: Principal,
    *,
    question: str,
    consequence: str,
    yes: str,
    back: str,
    fields: dict[str, str] | None = None,
) -> HTMLResponse:
    """The confirmation step of a destructive action: the same form again with ``confirmed=yes``, shown as a
    destructive button beside a way back. Works without JavaScript."""
    return render_page(
        request,
        ctx,
        principal,
        "confirm.html",
        question=question,
        consequence=consequence,
        yes=yes,
        back=back,
        action=request.url.path,
        fields=fields or {},
    )
