"""Authorization server metadata (RFC 8414 §2), served at /.well-known/oauth-authorization-server (§3)."""

from __future__ import annotations

from typing import Any

from vault_server.context import VaultContext
from vault_server.oauth import rar
from vault_server.oauth.clientauth import ASSERTION_ALGS
from vault_server.oauth.device import GRANT_TYPE as DEVICE_GRANT
from vault_server.oauth.scopes import DEVICE_SCOPES, VENDOR_SCOPES


def server_metadata(ctx: VaultContext) -> dict[str, Any]:
    base = ctx.settings.base_url
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "registration_endpoint": f"{base}/oauth/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "device_authorization_endpoint": f"{base}/oauth/device_authorization",
        "scopes_supported": [*VENDOR_SCOPES, *DEVICE_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "authorization_details_types_supported": [rar.TYPE],
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["pairwise"],
        "access_token_signing_alg_values_supported": ["EdDSA"],
        "service_documentation": f"{base}/docs",
    }
