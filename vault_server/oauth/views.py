"""OAuth HTTP surface: authorize + consent, token, revoke, introspect, device authorization and the /device
page, dynamic registration, and the RFC 8414 metadata document. Thin: rules live in the spec modules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vault_server.accounts import service as accounts
from vault_server.accounts.service import Window
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import RateLimited, VaultError
from vault_server.oauth import (
    authorize,
    batch,
    consent,
    device,
    flows,
    introspection,
    metadata,
    registration,
    revocation,
    token,
)
from vault_server.oauth.clientauth import authenticate_client
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.scopes import SCOPE_LABELS
from vault_server.terms import service as terms
from vault_server.vendors import service as vendors
from vault_server.web.deps import Ctx, Principal, check_form_csrf, get_ctx, resolve_principal
from vault_server.web.pages import page_principal, render_page

router = APIRouter(tags=["oauth"])
T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
USER_CODE_WINDOW = Window(10, 900)


def _single(items: list[tuple[str, Any]], repeatable: frozenset[str] = frozenset()) -> dict[str, str]:
    """RFC 6749 §3.1/§3.2: parameters must not repeat (except the consent form's checkboxes)."""
    out: dict[str, str] = {}
    for key, value in items:
        if key in out and key not in repeatable:
            raise OAuthError("invalid_request", f"parameter {key} is repeated")
        out[key] = str(value)
    return out


async def _form(request: Request) -> FormData:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "send the parameters as application/x-www-form-urlencoded")
    return await request.form()


def _error_page(
    request: Request, ctx: VaultContext, principal: Principal | None, message: str, status: int
) -> Response:
    response = render_page(request, ctx, principal, "consent_error.html", message=message)
    response.status_code = status
    return response


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


# ---- authorization endpoint + consent ------------------------------------------------------------
@router.get("/oauth/authorize", response_class=HTMLResponse, include_in_schema=False)
def authorize_get(request: Request, ctx: Ctx) -> Response:
    """RFC 9700 §2.1/§4.1: the whole request (client, exact redirect URI, PKCE S256, scopes, RAR) is validated
    before anyone is asked to log in; only a valid request reaches the login page or the consent screen."""
    principal = resolve_principal(request, ctx)
    try:
        params = _single(list(request.query_params.multi_items()))
    except OAuthError as exc:
        return _error_page(request, ctx, principal, exc.description, 400)
    with ctx.db.session() as s:
        try:
            _, redirect_uri = authorize.check_client(s, params)
        except authorize.NoRedirect as exc:
            return _error_page(request, ctx, principal, str(exc), 400)
        try:
            valid = authorize.validate(ctx, s, params)
        except OAuthError as exc:
            url = authorize.error_redirect(ctx, redirect_uri, exc, params.get("state"))
            return RedirectResponse(url, status_code=303)
        if principal is None or principal.via != "session":
            return _login_redirect(request)
        if principal.account.role != "consumer":
            return _error_page(request, ctx, principal, "Sign in with a consumer account to share your signals.", 403)
        req = authorize.start(session=s, account_id=principal.account.id, req=valid)
        model = consent.view_model(session=s, ctx=ctx, req=req, app=valid.app)
        model["terms"] = terms.resolution_for(session=s, ctx=ctx, account_id=principal.account.id, app=valid.app)
    return render_page(request, ctx, principal, "consent.html", **model)


@router.post("/oauth/authorize", include_in_schema=False)
async def authorize_post(request: Request) -> Response:
    ctx = get_ctx(request)
    form = await request.form()
    items = list(form.multi_items())
    return await run_in_threadpool(_decide, request, ctx, items)


def _decide(request: Request, ctx: VaultContext, items: list[tuple[str, Any]]) -> Response:
    values = {k: str(v) for k, v in items}
    check_form_csrf(request, ctx, values.get("csrf_token"))
    principal = resolve_principal(request, ctx)
    if principal is None or principal.via != "session":
        return _error_page(request, ctx, None, "Your session ended; start again from the vendor's site.", 401)
    with ctx.db.session() as s:
        req = authorize.pending(session=s, request_id=values.get("request_id", ""), account_id=principal.account.id)
        if req is None:
            return _error_page(request, ctx, principal, "This request expired or was already answered.", 400)
        if values.get("decision") == "preview":  # no script: the same screen, its preview following the choices
            app = vendors.get(session=s, client_id=req.client_id)
            if app is None or app.status != "approved":
                return _error_page(request, ctx, principal, "This app is no longer approved.", 400)
            model = consent.view_model(session=s, ctx=ctx, req=req, app=app, chosen=consent.choices(items))
            model["terms"] = terms.resolution_for(session=s, ctx=ctx, account_id=principal.account.id, app=app)
            return render_page(request, ctx, principal, "consent.html", **model)
        req.decided_at = utcnow()
        s.add(req)
        app = vendors.get(session=s, client_id=req.client_id)
        if app is None or app.status != "approved":
            return _error_page(request, ctx, principal, "This app is no longer approved.", 400)
        if values.get("decision") != "approve":
            return RedirectResponse(flows.decline(ctx=ctx, req=req), status_code=303)
        url = flows.approve(session=s, ctx=ctx, account_id=principal.account.id, req=req, app=app, form=items)
    return RedirectResponse(url, status_code=303)


# ---- token, revocation, introspection ------------------------------------------------------------
GUESSES = token.GUESSES


def _throttled(request: Request, ctx: VaultContext, call: Callable[[], T]) -> T:
    """Brute force at the client-authenticating endpoints: failed client authentications and failed grants (a
    guessed secret, code, refresh or device code) count per source address; past the limit the address gets 429
    with Retry-After, as ``slow_down`` (RFC 8628 §3.5: the client must wait). Each attempt takes from the window
    atomically before the work (parallel guesses stay bounded) and is given back unless it was a failed guess.
    Secrets are compared in constant time (``vendors.secret_matches``, ``pkce.verify``) and stored hashed, so the
    count is the only oracle left."""
    key = "oauth:ip:" + (request.client.host if request.client else "unknown")
    window = Window(ctx.settings.oauth_max_failures, ctx.settings.oauth_window_seconds)
    try:
        with ctx.db.session() as s:
            accounts.throttle_take(session=s, key=key, window=window)
    except RateLimited as exc:
        raise OAuthError(
            "slow_down",
            "too many failed attempts from this address; wait before retrying",
            status=429,
            headers={"Retry-After": exc.headers["Retry-After"]},
        ) from None
    counted = False
    try:
        result = call()
    except OAuthError as exc:
        counted = exc.error in GUESSES
        raise
    finally:
        if not counted:
            with ctx.db.session() as s:
                accounts.throttle_release(session=s, key=key)
    return result


@router.post("/oauth/token", summary="Token endpoint (RFC 6749 §3.2, RFC 7636, RFC 8628 §3.4)")
async def token_endpoint(request: Request) -> JSONResponse:
    """Documents the endpoint; ``create_app`` serves it with ``token.TokenEndpoint`` before the router (a request
    reaches this route only in an app built without that handler)."""
    ctx = get_ctx(request)
    form = _single(list((await _form(request)).multi_items()))
    body = await asyncio.wrap_future(batch.batcher_for(ctx).submit(token.job(request, ctx, form)))
    return JSONResponse(body, headers=NO_STORE)


def _revoke(request: Request, ctx: VaultContext, form: dict[str, str]) -> None:
    with ctx.db.session() as s:
        client = authenticate_client(request=request, form=form, session=s, ctx=ctx, allow_public=True)
        if "token" not in form:
            raise OAuthError("invalid_request", "token is required")
        revocation.revoke(session=s, ctx=ctx, client=client, token=form["token"], hint=form.get("token_type_hint"))


@router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
async def revoke_endpoint(request: Request) -> Response:
    ctx = get_ctx(request)
    form = _single(list((await _form(request)).multi_items()))
    await run_in_threadpool(_throttled, request, ctx, lambda: _revoke(request, ctx, form))
    return Response(status_code=200, headers=NO_STORE)


def _introspect(request: Request, ctx: VaultContext, form: dict[str, str]) -> dict[str, Any]:
    with ctx.db.session() as s:
        client = authenticate_client(request=request, form=form, session=s, ctx=ctx)
        if "token" not in form:
            raise OAuthError("invalid_request", "token is required")
        return introspection.introspect(
            session=s, ctx=ctx, client=client, token=form["token"], hint=form.get("token_type_hint")
        )


@router.post("/oauth/introspect", summary="Token introspection (RFC 7662)")
async def introspect_endpoint(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    form = _single(list((await _form(request)).multi_items()))
    body = await run_in_threadpool(_throttled, request, ctx, lambda: _introspect(request, ctx, form))
    return JSONResponse(body, headers=NO_STORE)


# ---- device authorization (RFC 8628) -------------------------------------------------------------
def _device_authorization(request: Request, ctx: VaultContext, form: dict[str, str]) -> dict[str, Any]:
    with ctx.db.session() as s:
        client = authenticate_client(request=request, form=form, session=s, ctx=ctx, allow_public=True)
        return device.authorize_device(session=s, ctx=ctx, app=client, scope=form.get("scope"))


@router.post("/oauth/device_authorization", summary="Device authorization (RFC 8628 §3.1)")
async def device_authorization_endpoint(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    form = _single(list((await _form(request)).multi_items()))
    body = await run_in_threadpool(_throttled, request, ctx, lambda: _device_authorization(request, ctx, form))
    return JSONResponse(body, headers=NO_STORE)


@router.get("/device", response_class=HTMLResponse, include_in_schema=False)
def device_page(request: Request, ctx: Ctx, user_code: str = "") -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    found = None
    if user_code:
        with ctx.db.session() as s:
            found = _lookup_user_code(s, principal, user_code)
    return _device_render(request, ctx, principal, user_code, found)


def _lookup_user_code(s: Any, principal: Principal, user_code: str) -> Any:
    key = "device-code:" + principal.account.id
    accounts.throttle_take(session=s, key=key, window=USER_CODE_WINDOW)  # atomic: parallel guesses stay bounded
    found = device.find_pending(session=s, user_code=user_code)
    if found is not None:
        accounts.throttle_release(session=s, key=key)  # only wrong codes count
    return found


def _device_render(
    request: Request, ctx: VaultContext, principal: Principal, user_code: str, found: Any, **extra: Any
) -> Response:
    scopes = [{"id": s, "label": SCOPE_LABELS.get(s, s)} for s in (found.scope.split() if found else [])]
    error = None
    if "errors" in extra:
        error = extra.pop("errors")[0]
    elif user_code and found is None and "notice" not in extra:
        error = "That code is unknown or expired. Check the code your extension shows."
    return render_page(
        request,
        ctx,
        principal,
        "device.html",
        user_code=device.format_user_code(found.user_code) if found else user_code,
        found=found,
        scopes=scopes,
        errors=[error] if error else None,
        **extra,
    )


@router.post("/device", include_in_schema=False)
async def device_submit(request: Request) -> Response:
    ctx = get_ctx(request)
    values = {k: str(v) for k, v in (await request.form()).multi_items()}
    return await run_in_threadpool(_device_decide, request, ctx, values)


def _device_decide(request: Request, ctx: VaultContext, values: Mapping[str, str]) -> Response:
    check_form_csrf(request, ctx, values.get("csrf_token"))
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    user_code = values.get("user_code", "").strip()
    if not user_code:
        response = _device_render(request, ctx, principal, "", None, errors=["Enter the code your extension shows."])
        response.status_code = 400
        return response
    action = values.get("action", "lookup")
    try:
        with ctx.db.session() as s:
            found = _lookup_user_code(s, principal, user_code)
            if found is None or action == "lookup":
                response = _device_render(request, ctx, principal, user_code, found)
                if found is None:
                    response.status_code = 400
                return response
            approve = action == "approve"
            device.decide(
                session=s,
                row=found,
                account_id=principal.account.id,
                approve=approve,
                device_name=values.get("device_name", ""),
            )
    except RateLimited:
        return _error_page(request, ctx, principal, "Too many wrong codes; wait a few minutes and try again.", 429)
    notice = (
        "Device paired: your extension will connect in a few seconds."
        if approve
        else "Pairing declined: the device gets no access."
    )
    return _device_render(request, ctx, principal, "", None, notice=notice)


# ---- registration and metadata -------------------------------------------------------------------
REGISTRATION_WINDOW = Window(20, 3600)


def _register(ctx: VaultContext, body: Any, client_ip: str) -> dict[str, Any]:
    key = "register:ip:" + client_ip
    with ctx.db.session() as s:
        try:
            accounts.throttle_take(session=s, key=key, window=REGISTRATION_WINDOW)
        except RateLimited as exc:
            raise OAuthError("invalid_request", "too many registrations from this address; try later", status=429,
                             headers=exc.headers) from None  # fmt: skip
    with ctx.db.session() as s:
        out = registration.register(session=s, metadata=body)
        accepted = body.get("accepted_agreements") if isinstance(body, dict) else None
        if accepted is not None:  # IEEE 7012: the roster agreements this client accepts (docs/TERMS.md)
            if not isinstance(accepted, list) or not all(isinstance(a, str) for a in accepted) or len(accepted) > 20:
                raise OAuthError("invalid_client_metadata", "accepted_agreements must be an array of roster ids")
            try:
                out["accepted_agreements"] = terms.set_vendor_terms(
                    session=s, ctx=ctx, vendor_id=out["client_id"], accepted=accepted
                )
            except VaultError as exc:
                raise OAuthError("invalid_client_metadata", exc.detail) from None
        return out


@router.post("/oauth/register", status_code=201, summary="Dynamic client registration (RFC 7591)")
async def register_endpoint(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise OAuthError("invalid_client_metadata", "send the client metadata as application/json")
    try:
        body = await request.json()
    except ValueError:
        raise OAuthError("invalid_client_metadata", "the body is not valid JSON") from None
    except RecursionError:  # json.loads on "[[[[…" thousands deep, without logging in
        raise OAuthError("invalid_client_metadata", "the JSON body is nested too deeply") from None
    if not isinstance(body, dict):
        raise OAuthError("invalid_client_metadata", "the client metadata must be a JSON object")
    client_ip = request.client.host if request.client else "unknown"
    out = await run_in_threadpool(_register, ctx, body, client_ip)
    return JSONResponse(out, status_code=201, headers=NO_STORE)


@router.get("/.well-known/oauth-authorization-server", summary="Authorization server metadata (RFC 8414)")
def metadata_endpoint(ctx: Ctx) -> dict[str, Any]:
    return metadata.server_metadata(ctx)
