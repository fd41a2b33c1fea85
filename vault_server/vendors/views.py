"""Vendors HTTP surface: the vendor portal (register apps, see their status), its JSON API, and the admin's
approval page and API. Secrets are shown once, on the response that creates them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.errors import Forbidden, NotFound, VaultError
from vault_server.feed.views import NO_STORE, Vendor
from vault_server.terms import service as terms
from vault_server.vendors import sandbox
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppOut, AppRegistration
from vault_server.web.deps import Ctx, CurrentPrincipal, Principal
from vault_server.web.pages import confirm_page, form_principal, page_principal, plain_form_errors, render_page

router = APIRouter(tags=["vendors"])
REGISTRATION_LABELS = {
    "name": "Name",
    "homepage": "Homepage",
    "logo_uri": "Logo URL",
    "policy_uri": "Privacy policy URL",
    "redirect_uris": "Redirect URIs",
    "contacts": "Contact e-mail",
}


def _vendor(principal: Principal) -> str:
    principal.require_role("vendor")
    if principal.via != "session":
        raise Forbidden("vendor apps are managed from a signed-in session")
    return principal.account.id


def set_status(ctx: VaultContext, client_id: str, status: VendorStatus, by: str) -> dict[str, Any]:
    """Approve or suspend an app and record it in the audit log; returns its public view."""
    with ctx.db.session() as s:
        app = vendors.set_status(session=s, client_id=client_id, status=status, by=by)
        audit.record(
            session=s,
            ctx=ctx,
            kind="vendor.approved" if status == VendorStatus.approved else "vendor.suspended",
            actor=by,
            consumer_id=None,
            details={"vendor_id": app.id, "name": app.name},
        )
        return vendors.public_view(app)


# ---- JSON API ----------------------------------------------------------------------------------
@router.post("/v1/vendor/apps", status_code=201, response_model=AppOut, summary="Register an app (pending approval)")
def api_register(body: AppRegistration, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    owner = _vendor(principal)
    with ctx.db.session() as s:
        app, secret = vendors.register(session=s, body=body, owner_account_id=owner, via="portal")
        if body.accepted_agreements:
            terms.set_vendor_terms(session=s, ctx=ctx, vendor_id=app.id, accepted=body.accepted_agreements)
        return vendors.public_view(app, secret)


@router.get("/v1/vendor/apps", response_model=list[AppOut], summary="Your apps")
def api_apps(principal: CurrentPrincipal, ctx: Ctx) -> list[dict[str, Any]]:
    owner = _vendor(principal)
    with ctx.db.session() as s:
        return [vendors.public_view(a) for a in vendors.list_apps(session=s, owner_account_id=owner)]


@router.get("/v1/admin/vendors", response_model=list[AppOut], summary="Every vendor app (admin)")
def api_admin_list(principal: CurrentPrincipal, ctx: Ctx, status: str | None = None) -> list[dict[str, Any]]:
    principal.require_role("admin")
    with ctx.db.session() as s:
        return [vendors.public_view(a) for a in vendors.list_apps(session=s, status=status)]


@router.post("/v1/admin/vendors/{client_id}/approve", response_model=AppOut, summary="Approve a vendor app (admin)")
def api_admin_approve(client_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require_role("admin")
    return set_status(ctx, client_id, VendorStatus.approved, "admin")


@router.post("/v1/admin/vendors/{client_id}/suspend", response_model=AppOut, summary="Suspend a vendor app (admin)")
def api_admin_suspend(client_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require_role("admin")
    return set_status(ctx, client_id, VendorStatus.suspended, "admin")


# ---- pages -------------------------------------------------------------------------------------
GRANT_COUNT_CAP = 500


def portal_context(ctx: VaultContext, owner_id: str) -> dict[str, Any]:
    """The portal's view of a vendor's apps: status, live grants (a count) and its sandbox consumers (pseudonyms).
    Nothing here reads a consumer's signals (that is the audited feed, and the feed explorer)."""
    from vault_server.grants import service as grants

    apps = []
    with ctx.db.session() as s:
        for app in vendors.list_apps(session=s, owner_account_id=owner_id):
            live = len(grants.live_for_vendor(session=s, vendor_id=app.id, limit=GRANT_COUNT_CAP))
            apps.append(
                {
                    "app": app,
                    "grants": f"{live}+" if live >= GRANT_COUNT_CAP else str(live),
                    "sandbox": [sandbox.view(ctx, r) for r in sandbox.list_for_vendor(session=s, vendor_id=app.id)],
                }
            )
    return {"apps": apps, "sandbox_limit": sandbox.MAX_PER_APP}


@router.get("/vendor", response_class=HTMLResponse, include_in_schema=False)
def portal(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "vendor")
    if isinstance(principal, Response):
        return principal
    return render_page(
        request, ctx, principal, "vendor.html", created=None, form={}, **portal_context(ctx, principal.account.id)
    )


@router.post("/vendor/apps", include_in_schema=False)
def portal_register(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    homepage: Annotated[str, Form()] = "",
    logo_uri: Annotated[str, Form()] = "",
    policy_uri: Annotated[str, Form()] = "",
    redirect_uris: Annotated[str, Form()] = "",
    contact: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    form = {
        "name": name,
        "homepage": homepage,
        "logo_uri": logo_uri,
        "policy_uri": policy_uri,
        "redirect_uris": redirect_uris,
        "contact": contact,
    }
    errors: list[str] = []
    created: dict[str, Any] | None = None
    try:
        body = AppRegistration(
            name=name,
            homepage=homepage,
            logo_uri=logo_uri,
            policy_uri=policy_uri,
            redirect_uris=[u.strip() for u in redirect_uris.splitlines() if u.strip()],
            contacts=[contact.strip()] if contact.strip() else [],
        )
        with ctx.db.session() as s:
            app, secret = vendors.register(session=s, body=body, owner_account_id=principal.account.id, via="portal")
            created = vendors.public_view(app, secret)
    except ValidationError as exc:
        errors = plain_form_errors(exc, REGISTRATION_LABELS)
    except VaultError as exc:
        errors = [exc.detail]
    response = render_page(
        request,
        ctx,
        principal,
        "vendor.html",
        created=created,
        form={} if created else form,
        errors=errors,
        **portal_context(ctx, principal.account.id),
    )
    if errors:
        response.status_code = 422
    return response


@router.post("/vendor/apps/{client_id}/rotate", include_in_schema=False)
def portal_rotate(
    client_id: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Rotate an app's client secret after a confirmation step; the new secret is shown once."""
    principal = form_principal(request, ctx, csrf_token, "vendor")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        app = vendors.get_or_raise(session=s, client_id=client_id)
        if app.owner_account_id != principal.account.id:
            raise NotFound("no such vendor app")
        name = app.name
    if confirmed != "yes":
        return confirm_page(
            request,
            ctx,
            principal,
            question=f"Rotate the client secret of {name}?",
            consequence="The current secret stops working at once: your servers need the new one before they can "
            "get tokens again. The new secret is shown once.",
            yes="Rotate the secret",
            back="/vendor",
        )
    with ctx.db.session() as s:
        app, secret = vendors.rotate_secret(session=s, client_id=client_id, owner_account_id=principal.account.id)
        rotated = vendors.public_view(app, secret)
        audit.record(
            session=s,
            ctx=ctx,
            kind="vendor.secret_rotated",
            actor=f"vendor:{app.id}",
            consumer_id=None,
            details={"vendor_id": app.id},
        )
    return render_page(
        request,
        ctx,
        principal,
        "vendor.html",
        created=None,
        rotated=rotated,
        form={},
        **portal_context(ctx, principal.account.id),
    )


@router.get("/admin", include_in_schema=False)
def admin_home(request: Request, ctx: Ctx) -> Response:
    """Where admins land after login: the vendor approval queue."""
    principal = page_principal(request, ctx, "admin")
    if isinstance(principal, Response):
        return principal
    return RedirectResponse("/admin/vendors", status_code=303)


@router.get("/admin/vendors", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "admin")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        apps = vendors.list_apps(session=s)
    keyset = ctx.keyset
    operations = {
        "policy_hash": ctx.policy.hash,
        "policy_versions": {name: str(getattr(doc, "version", "")) for name, doc in ctx.policy.files().items()},
        "signing_kid": keyset.kid,
        "next_kids": keyset.next_kids(),
        "kek_active": ctx.ring.active,
        "kek_count": len(ctx.ring.keks),
    }
    return render_page(request, ctx, principal, "admin_vendors.html", apps=apps, operations=operations)


@router.post("/admin/vendors/{client_id}/{action}", include_in_schema=False)
def admin_action(
    client_id: str,
    action: str,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    principal = form_principal(request, ctx, csrf_token, "admin")
    if isinstance(principal, Response):
        return principal
    statuses = {"approve": VendorStatus.approved, "suspend": VendorStatus.suspended}
    if action not in statuses:
        return RedirectResponse("/admin/vendors", status_code=303)
    if action == "suspend" and confirmed != "yes":
        with ctx.db.session() as s:
            name = vendors.get_or_raise(session=s, client_id=client_id).name
        return confirm_page(
            request,
            ctx,
            principal,
            question=f"Suspend {name}?",
            consequence="Its tokens stop working and consumers cannot grant it access until it is approved again.",
            yes="Suspend the app",
            back="/admin/vendors",
        )
    if action == "approve" and confirmed != "yes":
        with ctx.db.session() as s:
            app = vendors.get_or_raise(session=s, client_id=client_id)
        return confirm_page(
            request,
            ctx,
            principal,
            question=f"Approve {app.name}?",
            consequence=f"Consumers will see it as verified by this vault's administrator"
            f"{' (' + app.homepage + ')' if app.homepage else ''}, and it may ask them for access; its sign-ins "
            f"return to {', '.join(app.redirect_uris) or 'no address yet'}. You can suspend it later.",
            yes="Approve the app",
            back="/admin/vendors",
        )
    set_status(ctx, client_id, statuses[action], "admin")
    return RedirectResponse("/admin/vendors", status_code=303)


# ---- sandbox (client credentials: scripts, not browsers) -----------------------------------------------------------
@router.post("/v1/vendor/sandbox/consumers", status_code=201, summary="Create a sandbox consumer (test data)")
def sandbox_create(body: sandbox.SandboxConsumerIn, vendor: Vendor, ctx: Ctx) -> JSONResponse:
    with ctx.db.session() as s:
        row, seeded = sandbox.create(session=s, ctx=ctx, app=vendor, body=body)
        out = {**sandbox.view(ctx, row), "gestures": seeded}
    return JSONResponse(out, status_code=201, headers=NO_STORE)


@router.get("/v1/vendor/sandbox/consumers", summary="Your sandbox consumers")
def sandbox_list(vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return {"consumers": [sandbox.view(ctx, r) for r in sandbox.list_for_vendor(session=s, vendor_id=vendor.id)]}


@router.post(
    "/v1/vendor/sandbox/consumers/{consumer_id}/consent",
    summary="Approve or decline an authorization request as a sandbox consumer; returns the redirect with the code",
)
def sandbox_consent(consumer_id: str, body: sandbox.SandboxConsentIn, vendor: Vendor, ctx: Ctx) -> JSONResponse:
    with ctx.db.session() as s:
        out = sandbox.consent(session=s, ctx=ctx, app=vendor, account_id=consumer_id, body=body)
    return JSONResponse(out, headers=NO_STORE)


@router.post(
    "/v1/vendor/sandbox/consumers/{consumer_id}/gestures",
    summary="Record more gestures for a sandbox consumer (its signals change: signal.updated follows)",
)
def sandbox_gestures(consumer_id: str, body: sandbox.SandboxGesturesIn, vendor: Vendor, ctx: Ctx) -> dict[str, int]:
    with ctx.db.session() as s:
        return sandbox.add_gestures(session=s, ctx=ctx, app=vendor, account_id=consumer_id, body=body)


@router.post(
    "/v1/vendor/sandbox/consumers/{consumer_id}/revoke",
    summary="The sandbox consumer revokes its grant to your app (grant.revoked follows)",
)
def sandbox_revoke(consumer_id: str, vendor: Vendor, ctx: Ctx) -> dict[str, int]:
    with ctx.db.session() as s:
        return {"revoked": sandbox.revoke(session=s, ctx=ctx, app=vendor, account_id=consumer_id)}


@router.delete(
    "/v1/vendor/sandbox/consumers/{consumer_id}",
    status_code=204,
    summary="Delete a sandbox consumer as a consumer deletes their account (you get the subject.deleted tombstone)",
)
def sandbox_delete(consumer_id: str, vendor: Vendor, ctx: Ctx) -> Response:
    with ctx.db.session() as s:
        sandbox.delete(session=s, ctx=ctx, app=vendor, account_id=consumer_id)
    return Response(status_code=204)
