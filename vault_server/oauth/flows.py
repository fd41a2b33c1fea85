"""The consent decision as one workflow, shared by the consent screen and the vendor sandbox (so a sandbox
consumer's approval takes exactly the path a person's does): narrowing, the consumer's terms, the grant, the code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants import service as grants
from vault_server.oauth import authorize, consent
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.models import AuthorizationRequest
from vault_server.terms import service as terms
from vault_server.vendors import sandbox
from vault_server.vendors.models import VendorApp


def approve(
    *,
    session: Session,
    ctx: VaultContext,
    account_id: str,
    req: AuthorizationRequest,
    app: VendorApp,
    form: Sequence[tuple[str, Any]],
) -> str:
    """The consumer approved ``req`` with the (possibly narrowed) choices in ``form`` (the consent form's fields).
    Records the grant and returns the redirect URI carrying a fresh code and ``state``, or an RFC 6749 error
    redirect (``access_denied``) when the terms fail or nothing was approved. The caller marks ``req`` decided."""
    sandbox.check_may_grant(session=session, account_id=account_id, client_id=app.id)
    details, scopes, identity, days = consent.decision(form, req)
    values = {str(k): str(v) for k, v in form}
    # IEEE 7012: the consumer's terms, the vendor's answer, and the agreement in force bounding the grant
    resolution = terms.resolution_for(session=session, ctx=ctx, account_id=account_id, app=app)
    if resolution is not None:
        if resolution.outcome == "declined" or resolution.agreement is None:
            terms.record_declined(
                session=session, ctx=ctx, account_id=account_id, app=app, proffer=resolution.proffered
            )
            err = OAuthError("access_denied", "the client accepts none of the agreements the consumer proffers")
            return authorize.error_redirect(ctx, req.redirect_uri, err, req.state)
        if resolution.outcome == "countered" and values.get("terms") != "counter":
            err = OAuthError("access_denied", "the consumer refused the client's counter-proposal")
            return authorize.error_redirect(ctx, req.redirect_uri, err, req.state)
        details, scopes = terms.bound(details, scopes, resolution.agreement)
    if not details and not scopes:
        err = OAuthError("access_denied", "the consumer approved nothing of what was asked")
        return authorize.error_redirect(ctx, req.redirect_uri, err, req.state)
    grant = grants.create(
        session=session,
        ctx=ctx,
        account_id=account_id,
        app=app,
        scope=scopes,
        details=details,
        requested={"scope": req.scope.split(), "authorization_details": req.authorization_details},
        identity_fields=identity,
        expires_at=utcnow() + timedelta(days=days),
    )
    if resolution is not None:
        terms.record_agreement(session=session, ctx=ctx, grant=grant, app=app, resolution=resolution)
    code = authorize.issue_code(session=session, req=req, grant_id=grant.id)
    return authorize.redirect_with(ctx, req.redirect_uri, {"code": code, "state": req.state})


def decline(*, ctx: VaultContext, req: AuthorizationRequest) -> str:
    """The consumer declined ``req``: the RFC 6749 §4.1.2.1 ``access_denied`` redirect."""
    err = OAuthError("access_denied", "the consumer declined")
    return authorize.error_redirect(ctx, req.redirect_uri, err, req.state)
