"""Typed domain errors, mapped to RFC 9457 problem details in one place (``app.py``).

Every room raises a subclass of :class:`VaultError`; the HTTP layer never builds error bodies by hand.
The ``type`` URI of each problem is stable: clients may switch on it.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://intent-vault.dev/problems/"


class VaultError(Exception):
    """Base class: a user-facing error with an HTTP status and a stable problem type slug."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class ValidationFailed(VaultError):
    status = 422
    slug = "validation-error"
    title = "The request did not validate"


class NotFound(VaultError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(VaultError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unauthorized(VaultError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(VaultError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class CsrfFailed(Forbidden):
    slug = "csrf-failed"
    title = "CSRF token missing or invalid"


class RateLimited(VaultError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, extra={"retry_after": retry_after})


class PayloadTooLarge(VaultError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class Unavailable(VaultError):
    """503: the vault cannot answer for a moment (its database is unreachable or not ready); retry later."""

    status = 503
    slug = "unavailable"
    title = "Temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, extra={"retry_after": retry_after})


class ConfigError(Exception):
    """Raised for operator mistakes (bad key file, unmigrated database): one readable line, no traceback."""
