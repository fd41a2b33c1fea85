"""Dynamic client registration (RFC 7591): §2 client metadata in, §3.2.1 the registered client out (secret shown
once), §3.2.2 errors ``invalid_redirect_uri`` / ``invalid_client_metadata``. New clients stay ``pending`` until an
administrator approves them."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from vault_server.errors import ValidationFailed
from vault_server.oauth.errors import OAuthError
from vault_server.vendors import service as vendors
from vault_server.vendors.schemas import AppRegistration

ALLOWED_GRANT_TYPES = {"authorization_code", "refresh_token"}


def register(*, session: Session, metadata: Any) -> dict[str, Any]:
    """Register a client from RFC 7591 metadata; returns the §3.2.1 response body."""
    if not isinstance(metadata, dict):
        raise OAuthError("invalid_client_metadata", "the body must be a JSON object of client metadata")
    for key in ("grant_types", "response_types", "redirect_uris", "contacts"):
        value = metadata.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            error = "invalid_redirect_uri" if key == "redirect_uris" else "invalid_client_metadata"
            raise OAuthError(error, f"{key} must be an array of strings")
    for key in (
        "client_name",
        "client_uri",
        "logo_uri",
        "policy_uri",
        "scope",
        "token_endpoint_auth_method",
        "jwks_uri",
    ):
        if key in metadata and not isinstance(metadata[key], str):
            raise OAuthError("invalid_client_metadata", f"{key} must be a string")
    if "jwks" in metadata and not isinstance(metadata["jwks"], dict):
        raise OAuthError("invalid_client_metadata", "jwks must be a JWK Set object")
    grant_types = metadata.get("grant_types", ["authorization_code"])
    if not set(grant_types) <= ALLOWED_GRANT_TYPES:
        raise OAuthError("invalid_client_metadata", "grant_types may only be authorization_code and refresh_token")
    response_types = metadata.get("response_types", ["code"])
    if response_types != ["code"]:
        raise OAuthError("invalid_client_metadata", 'response_types must be ["code"]')
    if "jwks_uri" in metadata and "jwks" in metadata:
        raise OAuthError("invalid_client_metadata", "send either jwks or jwks_uri, not both (RFC 7591 §2)")
    redirect_uris = metadata.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise OAuthError("invalid_redirect_uri", "redirect_uris is required: the exact URIs codes may be sent to")
    try:
        body = AppRegistration(
            name=str(metadata.get("client_name") or ""),
            homepage=str(metadata.get("client_uri") or ""),
            logo_uri=str(metadata.get("logo_uri") or ""),
            policy_uri=str(metadata.get("policy_uri") or ""),
            redirect_uris=redirect_uris,
            contacts=list(metadata.get("contacts") or []),
            token_endpoint_auth_method=str(metadata.get("token_endpoint_auth_method") or "client_secret_basic"),
            jwks=metadata.get("jwks"),
            jwks_uri=str(metadata.get("jwks_uri") or ""),
            scope=str(metadata.get("scope") or ""),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        error = "invalid_redirect_uri" if where.startswith("redirect_uris") else "invalid_client_metadata"
        raise OAuthError(error, f"{where or 'metadata'}: {first['msg']}".replace("Value error, ", "")) from None
    try:
        app, secret = vendors.register(session=session, body=body, owner_account_id=None, via="dynamic")
    except ValidationFailed as exc:
        raise OAuthError("invalid_client_metadata", exc.detail) from None
    out: dict[str, Any] = {
        "client_id": app.id,
        "client_id_issued_at": int(app.created_at.timestamp()),
        "client_name": app.name,
        "client_uri": app.homepage,
        "logo_uri": app.logo_uri,
        "policy_uri": app.policy_uri,
        "contacts": app.contacts,
        "redirect_uris": app.redirect_uris,
        "grant_types": app.grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": app.token_endpoint_auth_method,
        "scope": app.scope,
        "status": app.status,
    }
    if secret is not None:
        out["client_secret"] = secret
        out["client_secret_expires_at"] = 0
    if app.jwks:
        out["jwks"] = app.jwks
    if app.jwks_uri:
        out["jwks_uri"] = app.jwks_uri
    return out
