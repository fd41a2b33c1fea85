"""Request dependencies shared by every room: context, the authenticated principal, CSRF, templates."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.responses import Response

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.accounts.security import csrf_token, csrf_valid
from vault_server.context import VaultContext
from vault_server.errors import CsrfFailed, Forbidden, RateLimited, Unauthorized

SESSION_COOKIE = "vault_session"
PRESESSION_COOKIE = "vault_pre"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SCOPES = frozenset(
    {"gestures:write", "signals:read:self", "terms:self", "intents:write", "account:read", "account:admin"}
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def get_ctx(request: Request) -> VaultContext:
    ctx: VaultContext = request.app.state.ctx
    return ctx


Ctx = Annotated[VaultContext, Depends(get_ctx)]


@dataclass
class Principal:
    """Who is calling: an account, how it authenticated, and what it may do."""

    account: Account
    via: str  # "session" | "token"
    scopes: frozenset[str]
    session_token: str | None = None
    token_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this credential lacks the scope {scope!r}", extra={"required_scope": scope})

    def require_any(self, *scopes: str) -> None:
        """At least one of ``scopes`` (a narrow first-party scope or the broad one that includes it)."""
        if self.scopes.isdisjoint(scopes):
            wanted = " or ".join(repr(s) for s in scopes)
            raise Forbidden(f"this credential lacks the scope {wanted}", extra={"required_scope": scopes[0]})

    def require_role(self, *roles: str) -> None:
        if self.account.role not in roles:
            raise Forbidden(f"this page is for {' or '.join(roles)} accounts")


class RateLimiter:
    """Per-process fixed-window limiter for API calls per credential (N processes allow N times the rate)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        window = int(time.time() // 60)
        with self._lock:
            start, count = self._counts.get(key, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._counts[key] = (start, count)
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        if count > self.per_minute:
            raise RateLimited("rate limit exceeded for this credential", retry_after=60 - int(time.time() % 60))


@contextmanager
def request_session(request: Request, ctx: VaultContext) -> Iterator[Session]:
    """The session of a view that runs the whole request as one unit of work (``request.state.db_session``, set
    e.g. by gesture ingest so the caller is resolved in the transaction that ingests), else a unit of its own."""
    shared: Session | None = getattr(request.state, "db_session", None)
    if shared is not None:
        yield shared
        return
    with ctx.db.session() as s:
        yield s


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def resolve_principal(request: Request, ctx: VaultContext) -> Principal | None:
    """The caller from a bearer token or the session cookie, or None when anonymous."""
    bearer = _bearer(request)
    if bearer is not None:
        resolvers: list[Callable[[Request, VaultContext, str], Principal | None]] = request.app.state.bearer_resolvers
        for resolve in resolvers:
            principal = resolve(request, ctx, bearer)
            if principal is not None:
                request.app.state.limiter.hit(principal.token_id or principal.account.id)
                return principal
        raise Unauthorized(
            "the bearer token is invalid, expired or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with request_session(request, ctx) as s:
            found = accounts.session_account(session=s, token=cookie)
        if found is not None:
            account, _ = found
            return Principal(account=account, via="session", scopes=SESSION_SCOPES, session_token=cookie)
    return None


def personal_token_resolver(request: Request, ctx: VaultContext, bearer: str) -> Principal | None:
    if not bearer.startswith(("ivp_", "ivd_")):
        return None
    with request_session(request, ctx) as s:
        found = accounts.token_principal(session=s, token=bearer)
    if found is None:
        return None
    account, row = found
    return Principal(account=account, via="token", scopes=frozenset(row.scopes.split()), token_id=row.id)


def current_principal(request: Request, ctx: Ctx) -> Principal:
    """Dependency: the authenticated caller; 401 when anonymous; CSRF enforced for cookie-authenticated writes."""
    principal = resolve_principal(request, ctx)
    if principal is None:
        raise Unauthorized("sign in or send a bearer token", headers={"WWW-Authenticate": "Bearer"})
    needs_csrf = principal.via == "session" and request.method not in SAFE_METHODS
    if needs_csrf and not csrf_valid(csrf_key(ctx), principal.session_token or "", request.headers.get(CSRF_HEADER)):
        raise CsrfFailed("send the X-CSRF-Token header from GET /v1/me/csrf with cookie-authenticated writes")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def csrf_key(ctx: VaultContext) -> bytes:
    return ctx.ring.derive("csrf")


def csrf_binding(request: Request) -> str:
    """What a form's CSRF token is bound to: the session cookie, else a pre-session nonce cookie."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE) or ""


def ensure_presession(request: Request, response: Response, ctx: VaultContext) -> str:
    """Set a pre-session nonce cookie for anonymous forms; returns the binding to sign."""
    binding = csrf_binding(request)
    if not binding:
        binding = secrets.token_urlsafe(24)
        set_cookie(response, ctx, PRESESSION_COOKIE, binding, max_age=3600)
    return binding


def check_form_csrf(request: Request, ctx: VaultContext, provided: str | None) -> None:
    if not csrf_valid(csrf_key(ctx), csrf_binding(request), provided):
        raise CsrfFailed("the form's CSRF token is missing or invalid; reload the page and try again")


def form_csrf(ctx: VaultContext, binding: str) -> str:
    return csrf_token(csrf_key(ctx), binding)


def set_cookie(response: Response, ctx: VaultContext, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=ctx.settings.secure_cookies, path="/"
    )
