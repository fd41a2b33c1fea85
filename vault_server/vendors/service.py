"""Vendor app rules: register, look up, authenticate by secret, approve, suspend; the built-in extension client."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from vault_server.db import utcnow
from vault_server.errors import NotFound, ValidationFailed
from vault_server.vendors.models import AuthMethod, VendorApp, VendorStatus
from vault_server.vendors.schemas import AppRegistration

EXTENSION_CLIENT_ID = "intent-vault-extension"
EXTENSION_NAME = "Intent Vault browser extension"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_client_id() -> str:
    return "ivc_" + secrets.token_hex(12)


def new_client_secret() -> str:
    """A 256-bit random client secret; only its SHA-256 is stored."""
    return "ivcs_" + secrets.token_urlsafe(32)


def check_jwks(jwks: dict[str, Any] | None) -> dict[str, Any]:
    """A client's public JWK Set for private_key_jwt: at least one public key, no private members."""
    from joserfc.jwk import KeySet

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValidationFailed("private_key_jwt needs jwks: a JWK Set with at least one public key")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or any(k in key for k in ("d", "p", "q", "k")):
            raise ValidationFailed("jwks must hold public keys only (no private or symmetric members)")
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except Exception as exc:
        raise ValidationFailed(f"jwks is not a valid JWK Set: {type(exc).__name__}") from None
    return jwks


def register(
    *, session: Session, body: AppRegistration, owner_account_id: str | None, via: str
) -> tuple[VendorApp, str | None]:
    """Create a pending vendor app; returns (app, client secret shown once or None for private_key_jwt)."""
    secret: str | None = None
    jwks: dict[str, Any] | None = None
    if body.jwks and body.jwks_uri:
        raise ValidationFailed("send either jwks or jwks_uri, not both (RFC 7591 §2)")
    if body.token_endpoint_auth_method == AuthMethod.private_key_jwt:
        jwks = None if body.jwks_uri else check_jwks(body.jwks)
    else:
        secret = new_client_secret()
        jwks = check_jwks(body.jwks) if body.jwks else None  # e.g. to countersign agreement records
    app = VendorApp(
        id=new_client_id(),
        owner_account_id=owner_account_id,
        name=body.name.strip(),
        homepage=body.homepage,
        logo_uri=body.logo_uri,
        policy_uri=body.policy_uri,
        contacts=body.contacts,
        redirect_uris=list(dict.fromkeys(body.redirect_uris)),
        grant_types=["authorization_code", "refresh_token"],
        scope=body.scope,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        client_secret_hash=_hash(secret) if secret else None,
        jwks=jwks,
        jwks_uri=body.jwks_uri or None,
        status=VendorStatus.pending.value,
        registered_via=via,
    )
    session.add(app)
    session.flush()
    return app, secret


def rotate_secret(*, session: Session, client_id: str, owner_account_id: str) -> tuple[VendorApp, str]:
    """Replace the client secret of an owner's app (the old one stops working at once); returns the app and
    the new secret, shown once. Apps that authenticate with private_key_jwt have no secret to rotate."""
    app = get_or_raise(session=session, client_id=client_id)
    if app.owner_account_id != owner_account_id:
        raise NotFound("no such vendor app")
    if app.token_endpoint_auth_method != AuthMethod.client_secret_basic.value:
        raise ValidationFailed("this app signs its token requests with its own key (private_key_jwt): no secret")
    secret = new_client_secret()
    app.client_secret_hash = _hash(secret)
    session.add(app)
    session.flush()
    return app, secret


def secret_matches(app: VendorApp, secret: str) -> bool:
    """Constant-time comparison of the SHA-256 of a presented secret with the stored one."""
    if not app.client_secret_hash:
        return False
    return hmac.compare_digest(_hash(secret), app.client_secret_hash)


def get(*, session: Session, client_id: str) -> VendorApp | None:
    """Returns the app with this client id (creating the built-in extension client on first use), or None."""
    app = session.get(VendorApp, client_id)
    if app is None and client_id == EXTENSION_CLIENT_ID:
        return ensure_extension_client(session=session)
    return app


def get_or_raise(*, session: Session, client_id: str) -> VendorApp:
    app = get(session=session, client_id=client_id)
    if app is None or app.first_party:
        raise NotFound(f"no vendor app {client_id!r}")
    return app


def ensure_extension_client(*, session: Session) -> VendorApp:
    """The first-party public client of the browser extension (device flow only); created idempotently."""
    existing = session.get(VendorApp, EXTENSION_CLIENT_ID)
    if existing is not None:
        return existing
    app = VendorApp(
        id=EXTENSION_CLIENT_ID,
        name=EXTENSION_NAME,
        homepage="",
        redirect_uris=[],
        grant_types=["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        scope="gestures:write signals:read:self",
        token_endpoint_auth_method=AuthMethod.none.value,
        status=VendorStatus.approved.value,
        first_party=True,
        registered_via="builtin",
        approved_at=utcnow(),
        approved_by="builtin",
    )
    try:
        with session.begin_nested():
            session.add(app)
    except IntegrityError:  # another process created it at the same moment
        found = session.get(VendorApp, EXTENSION_CLIENT_ID)
        assert found is not None
        return found
    return app


def list_apps(*, session: Session, owner_account_id: str | None = None, status: str | None = None) -> list[VendorApp]:
    """Returns vendor apps (not first-party ones), newest first, optionally for one owner or status."""
    query = select(VendorApp).where(col(VendorApp.first_party).is_(False))
    if owner_account_id is not None:
        query = query.where(VendorApp.owner_account_id == owner_account_id)
    if status is not None:
        query = query.where(VendorApp.status == status)
    return list(session.exec(query.order_by(col(VendorApp.created_at).desc())).all())


def set_status(*, session: Session, client_id: str, status: VendorStatus, by: str) -> VendorApp:
    """Approve or suspend an app; returns it."""
    app = get_or_raise(session=session, client_id=client_id)
    app.status = status.value
    if status == VendorStatus.approved:
        app.approved_at = utcnow()
        app.approved_by = by
    session.add(app)
    return app


def public_view(app: VendorApp, secret: str | None = None) -> dict[str, Any]:
    return {
        "client_id": app.id,
        "name": app.name,
        "homepage": app.homepage,
        "logo_uri": app.logo_uri,
        "policy_uri": app.policy_uri,
        "redirect_uris": list(app.redirect_uris),
        "contacts": list(app.contacts),
        "token_endpoint_auth_method": app.token_endpoint_auth_method,
        "status": app.status,
        "client_secret": secret,
    }
