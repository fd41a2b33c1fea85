"""Accounts HTTP surface: JSON API under /v1 and the sign-up / login / logout forms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from vault_server.accounts import flows
from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.accounts.schemas import (
    DeleteAccount,
    Login,
    Me,
    SignUp,
    TokenCreate,
    TokenCreated,
    TokenInfo,
)
from vault_server.accounts.security import csrf_token
from vault_server.accounts.service import InvalidCredentials, Window
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.errors import Forbidden, ValidationFailed, VaultError
from vault_server.web.deps import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    TEMPLATES,
    Ctx,
    CurrentPrincipal,
    check_form_csrf,
    csrf_key,
    ensure_presession,
    form_csrf,
    resolve_principal,
    set_cookie,
)
from vault_server.web.pages import plain_form_errors, role_home, safe_next

router = APIRouter(tags=["accounts"])
SIGNUP_LABELS = {"email": "E-mail", "password": "Password", "name": "Name"}


# ---- shared login logic ------------------------------------------------------------------------
def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login(ctx: VaultContext, request: Request, email: str, password: str) -> tuple[Account, str]:
    """Throttled password check; on success starts a new session (fresh token: no fixation). Returns it.

    Each try is taken from three windows before the password is checked, atomically in the database (so parallel
    bursts, from any number of processes, get no more tries through than the limits): this account from this
    address (``login_max_failures``: an attacker's wrong tries do not lock the owner out on their own device), this
    account from everywhere (``login_account_max_failures``, against distributed guessing) and this address for
    every account (``login_address_max_failures``, against credential stuffing). A right password gives its try
    back and clears this address's count for the account.
    """
    settings = ctx.settings
    seconds = settings.login_window_seconds
    account_key = accounts.email_index(ctx.ring, email)[:40]
    address = _client_ip(request)[:64]
    source_key = f"login:src:{account_key}:{address}"
    taken = (
        (source_key, Window(settings.login_max_failures, seconds)),
        ("login:ip:" + address, Window(settings.login_address_max_failures, seconds)),
        ("login:acct:" + account_key, Window(settings.login_account_max_failures, seconds)),
    )
    with ctx.db.session() as s:  # one transaction: a refusal by a later window rolls back the earlier takes
        for key, window in taken:
            accounts.throttle_take(session=s, key=key, window=window)
    with ctx.db.session() as s:
        account = accounts.authenticate(session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=password)
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            accounts.end_session(session=s, token=old)
        token = accounts.create_session(session=s, account_id=account.id, ttl_seconds=settings.session_ttl_seconds)
        accounts.throttle_clear(session=s, key=source_key)
        for key, _window in taken[1:]:
            accounts.throttle_release(session=s, key=key)
    return account, token


def _start_session(response: Response, ctx: VaultContext, token: str) -> None:
    set_cookie(response, ctx, SESSION_COOKIE, token, max_age=ctx.settings.session_ttl_seconds)
    response.delete_cookie(PRESESSION_COOKIE, path="/")


# ---- JSON API ----------------------------------------------------------------------------------
@router.post("/v1/accounts", status_code=201, response_model=Me, summary="Sign up as a consumer")
def api_sign_up(body: SignUp, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        account = accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email=body.email, password=body.password, name=body.name
        )
        return accounts.profile(session=s, ring=ctx.ring, account=account)


@router.post("/v1/sessions", summary="Log in; sets the session cookie and returns the CSRF token")
def api_login(body: Login, request: Request, ctx: Ctx) -> JSONResponse:
    account, token = _login(ctx, request, body.email, body.password)
    response = JSONResponse(
        {"account_id": account.id, "role": account.role, "csrf_token": csrf_token(csrf_key(ctx), token)}
    )
    _start_session(response, ctx, token)
    return response


@router.delete("/v1/sessions/current", status_code=204, summary="Log out")
def api_logout(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    if principal.session_token:
        with ctx.db.session() as s:
            accounts.end_session(session=s, token=principal.session_token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/v1/me", response_model=Me, summary="The signed-in account")
def api_me(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return accounts.profile(session=s, ring=ctx.ring, account=principal.account)


@router.get("/v1/me/csrf", summary="CSRF token for cookie-authenticated writes (X-CSRF-Token header)")
def api_csrf(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, str]:
    if principal.session_token is None:
        raise Forbidden("CSRF tokens are for cookie sessions; bearer tokens need none")
    return {"csrf_token": csrf_token(csrf_key(ctx), principal.session_token)}


@router.get("/v1/me/export", summary="Everything the vault holds about you, as JSON")
def api_export(principal: CurrentPrincipal, ctx: Ctx) -> JSONResponse:
    principal.require("account:read")
    with ctx.db.session() as s:
        doc = flows.export_account(session=s, ctx=ctx, account=principal.account)
        audit.record(
            session=s,
            ctx=ctx,
            kind="consumer.export",
            actor="consumer",
            consumer_id=principal.account.id,
            details={"via": principal.via, "sections": sorted(doc)},
        )
    return JSONResponse(
        doc,
        headers={"Content-Disposition": 'attachment; filename="intent-vault-export.json"', "Cache-Control": "no-store"},
    )


@router.delete("/v1/me", status_code=204, summary="Delete the account; its data becomes unreadable (crypto-shredding)")
def api_delete_me(body: DeleteAccount, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    if body.confirm != flows.DELETE_PHRASE:
        raise ValidationFailed(f'confirm must be exactly "{flows.DELETE_PHRASE}"')
    if principal.via != "session":
        raise Forbidden("account deletion needs a signed-in session, not a token")
    with ctx.db.session() as s:
        flows.delete_own_account(
            session=s, ctx=ctx, account_id=principal.account.id, password=body.password, confirm=body.confirm
        )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/v1/me/tokens", status_code=201, response_model=TokenCreated, summary="Create a personal API token")
def api_create_token(body: TokenCreate, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    if principal.via != "session":
        raise Forbidden("tokens are created from a signed-in session")
    with ctx.db.session() as s:
        secret, row = accounts.issue_api_token(
            session=s, account_id=principal.account.id, name=body.name, scopes=body.scopes
        )
        return {"id": row.id, "name": row.name, "scopes": row.scopes.split(), "token": secret}


@router.get("/v1/me/tokens", response_model=list[TokenInfo], summary="Your API and device tokens")
def api_list_tokens(principal: CurrentPrincipal, ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        return [
            {**t.model_dump(exclude={"token_hash", "account_id", "scopes"}), "scopes": t.scopes.split()}
            for t in accounts.list_tokens(session=s, account_id=principal.account.id)
        ]


@router.delete("/v1/me/tokens/{token_id}", status_code=204, summary="Revoke a token")
def api_revoke_token(token_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    with ctx.db.session() as s:
        accounts.revoke_token(session=s, account_id=principal.account.id, token_id=token_id)
    return Response(status_code=204)


# ---- HTML forms --------------------------------------------------------------------------------
def _render(request: Request, ctx: VaultContext, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    response = HTMLResponse("")
    binding = ensure_presession(request, response, ctx)
    page = TEMPLATES.get_template(template).render(request=request, csrf_token=form_csrf(ctx, binding), **values)
    final = HTMLResponse(page, status_code=status)
    for key, value in response.headers.items():
        if key == "set-cookie":
            final.headers.append(key, value)
    return final


@router.get("/signup", response_class=HTMLResponse, include_in_schema=False)
def signup_page(request: Request, ctx: Ctx) -> HTMLResponse:
    return _render(request, ctx, "signup.html")


@router.post("/signup", include_in_schema=False)
def signup_submit(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(request, ctx, csrf_token)
    try:
        body = SignUp(email=email, password=password, name=name)
        with ctx.db.session() as s:
            accounts.sign_up(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=body.email, password=body.password, name=body.name
            )
    except ValidationError as exc:
        errors = plain_form_errors(exc, SIGNUP_LABELS)
        return _render(request, ctx, "signup.html", status=422, errors=errors, email=email, name=name)
    except VaultError as exc:
        return _render(request, ctx, "signup.html", status=exc.status, errors=[exc.detail], email=email, name=name)
    _, token = _login(ctx, request, email, password)
    response = RedirectResponse("/dashboard", status_code=303)
    _start_session(response, ctx, token)
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, ctx: Ctx) -> HTMLResponse:
    return _render(request, ctx, "login.html")


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(request, ctx, csrf_token)
    try:
        account, token = _login(ctx, request, email, password)
    except InvalidCredentials:
        return _render(
            request, ctx, "login.html", status=401, errors=["That e-mail and password do not match."], email=email
        )
    home = role_home(account.role)
    target = safe_next(next) or home
    if target in ("/", "/dashboard"):  # the generic landing pages: each role goes to its own home
        target = home
    response = RedirectResponse(target, status_code=303)
    _start_session(response, ctx, token)
    return response


@router.post("/logout", include_in_schema=False)
def logout_submit(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, ctx, csrf_token)
    principal = resolve_principal(request, ctx)
    if principal is not None and principal.session_token:
        with ctx.db.session() as s:
            accounts.end_session(session=s, token=principal.session_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
