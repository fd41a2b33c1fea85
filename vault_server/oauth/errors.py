"""OAuth error responses: RFC 6749 §5.2 JSON (``error``, ``error_description``) with ``Cache-Control: no-store``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class OAuthError(Exception):
    """An error of the OAuth endpoints (token, revoke, introspect, device, register); never problem+json."""

    def __init__(self, error: str, description: str, *, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed -> 401 with a WWW-Authenticate challenge."""

    def __init__(self, description: str = "client authentication failed"):
        super().__init__("invalid_client", description, status=401, headers={"WWW-Authenticate": 'Basic realm="vault"'})


def oauth_json(error: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **error.headers}
    return JSONResponse(
        {"error": error.error, "error_description": error.description}, status_code=error.status, headers=headers
    )


def install(app: FastAPI) -> None:
    """Map OAuthError to RFC 6749 §5.2 JSON on every route."""

    @app.exception_handler(OAuthError)
    async def _oauth_error(_request: Request, exc: OAuthError) -> JSONResponse:
        return oauth_json(exc)
