"""Client authentication at the token, revocation and introspection endpoints: ``client_secret_basic``
(RFC 6749 §2.3.1, form-urlencoded id and secret inside Basic) and ``private_key_jwt`` (RFC 7523 §3, RFC 7521
§4.2; single-use ``jti``), plus the first-party public extension client (``none``)."""

from __future__ import annotations

import base64
import hashlib
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.oauth.errors import InvalidClient, OAuthError
from vault_server.oauth.models import UsedAssertion
from vault_server.vendors import keys as vendor_keys
from vault_server.vendors import service as vendors
from vault_server.vendors.models import AuthMethod, VendorApp, VendorStatus

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["EdDSA", "ES256", "RS256", "PS256"]
MAX_ASSERTION_LIFETIME = 3600  # authlib and others default to one hour; jti is single-use meanwhile


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def authenticate_client(
    *, request: Request, form: Mapping[str, str], session: Session, ctx: VaultContext, allow_public: bool = False
) -> VendorApp:
    """Returns the authenticated, approved client; raises ``invalid_client`` (401) otherwise.

    Only the method the client registered is accepted. Public clients (no secret) pass only where
    ``allow_public`` and only when first-party.
    """
    basic = _basic(request)
    assertion_type = form.get("client_assertion_type")
    if basic is not None and ("client_secret" in form or assertion_type):
        raise OAuthError("invalid_request", "use exactly one client authentication method")
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id") and form["client_id"] != client_id:
            raise InvalidClient("client_id does not match the authenticated client")
        app = vendors.get(session=session, client_id=client_id)
        if (
            app is None
            or app.token_endpoint_auth_method != AuthMethod.client_secret_basic
            or not vendors.secret_matches(app, secret)
        ):
            raise InvalidClient()
        return _usable(app)
    if assertion_type is not None:
        if assertion_type != ASSERTION_TYPE:
            raise InvalidClient("unsupported client_assertion_type")
        return _usable(_private_key_jwt(request, form, session, ctx))
    if "client_secret" in form:
        raise InvalidClient("client_secret_post is not supported; use HTTP Basic (client_secret_basic)")
    client_id = form.get("client_id", "")
    app = vendors.get(session=session, client_id=client_id) if client_id else None
    if app is None or app.token_endpoint_auth_method != AuthMethod.none or not allow_public or not app.first_party:
        raise InvalidClient()
    return _usable(app)


def _usable(app: VendorApp) -> VendorApp:
    if app.status != VendorStatus.approved:
        raise OAuthError("unauthorized_client", f"this app is {app.status}; an administrator has to approve it first")
    return app


def _audiences(ctx: VaultContext, request: Request) -> set[str]:
    base = ctx.settings.base_url
    here = str(request.url).split("?")[0]
    return {base, base + "/", base + request.url.path, here}


def _private_key_jwt(request: Request, form: Mapping[str, str], session: Session, ctx: VaultContext) -> VendorApp:
    assertion = form.get("client_assertion", "")
    claims: dict[str, Any] = {}
    client_id = form.get("client_id") or _peek_issuer(assertion)
    app = vendors.get(session=session, client_id=client_id) if client_id else None
    if app is None or app.token_endpoint_auth_method != AuthMethod.private_key_jwt:
        raise InvalidClient()
    try:
        jwks_doc = vendor_keys.public_keys(app, allow_private=ctx.settings.allow_private_webhooks)
    except vendor_keys.KeysUnavailable as exc:
        raise InvalidClient(f"the client's keys could not be fetched from its jwks_uri: {exc.detail}") from None
    if not jwks_doc:
        raise InvalidClient()
    try:
        keys = KeySet.import_key_set(jwks_doc)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            token = jwt.decode(assertion, keys, algorithms=ASSERTION_ALGS)
        claims = dict(token.claims)
    except (JoseError, ValueError, TypeError):
        raise InvalidClient("client assertion signature does not verify against the registered keys") from None
    now = time.time()
    aud = claims.get("aud")
    audiences = {aud} if isinstance(aud, str) else set(aud or [])
    if claims.get("iss") != app.id or claims.get("sub") != app.id:
        raise InvalidClient("client assertion iss and sub must both be the client_id")
    if not audiences & _audiences(ctx, request):
        raise InvalidClient("client assertion aud must be the token endpoint URL or the issuer")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now or exp > now + MAX_ASSERTION_LIFETIME + 60:
        raise InvalidClient("client assertion is expired or lives too long")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidClient("client assertion needs a jti")
    key = hashlib.sha256(f"{app.id}\x00{jti}".encode()).hexdigest()
    session.exec(delete(UsedAssertion).where(col(UsedAssertion.expires_at) < utcnow()))
    try:
        with session.begin_nested():
            session.add(UsedAssertion(key=key, expires_at=datetime.fromtimestamp(float(exp), UTC)))
    except IntegrityError:
        raise InvalidClient("client assertion was already used (jti replay)") from None
    return app


def _peek_issuer(assertion: str) -> str:
    """The unverified ``iss`` of a compact JWT, only to choose which registered keys verify it."""
    import json

    try:
        payload = assertion.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise InvalidClient("client assertion is not a JWT") from None
    iss = data.get("iss") if isinstance(data, dict) else None
    return iss if isinstance(iss, str) else ""
