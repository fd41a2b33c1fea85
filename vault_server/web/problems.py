"""RFC 9457 problem details for every error: domain errors, validation errors, HTTP errors and crashes.

Content negotiation on ``Accept``: a browser (``text/html`` preferred over JSON) gets the same problem as a page in
the site's layout, in plain words with a way back; API clients keep ``application/problem+json``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from vault_server.errors import PROBLEM_BASE, VaultError
from vault_server.logs import request_id_var

log = logging.getLogger("vault.errors")
MEDIA_TYPE = "application/problem+json"

_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the submitted input (it may hold secrets): location, message, type."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors
    ]


def _quality(accept: str, wanted: tuple[str, ...]) -> float:
    """The highest q the Accept header gives any of ``wanted`` (exact types only; wildcards count as 0)."""
    best = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() not in wanted:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_html(request: Request) -> bool:
    """True when the client prefers an HTML page to JSON (a browser navigating), per its Accept header."""
    accept = request.headers.get("accept", "")
    html = _quality(accept, ("text/html", "application/xhtml+xml"))
    return html > 0 and html >= _quality(accept, ("application/json", MEDIA_TYPE))


# What a person reads for each problem type: a title in plain words and what to do about it.
_PLAIN: dict[str, tuple[str, str]] = {
    "forbidden": ("Not allowed", ""),
    "csrf-failed": (
        "This form has expired",
        "For your safety every form carries a one-time token. Go back, reload the page and send the form again.",
    ),
    "not-found": ("Page not found", "The address may be mistyped, or the item was deleted."),
    "validation-error": ("Something in the request was not understood", "Go back, check the values and try again."),
    "malformed-json": ("The request was not understood", ""),
    "unauthorized": ("Please log in", "Log in to see this page."),
    "rate-limited": ("Too many attempts", "Wait a minute, then try again."),
    "conflict": ("That cannot be done right now", "The item changed in the meantime. Reload the page and try again."),
    "method-not-allowed": ("This address cannot be used like that", ""),
    "internal-error": ("Something went wrong on our side", "Nothing you did caused this. Try again in a moment."),
    "database-unavailable": ("The vault is briefly unavailable", "Nothing you did caused this. Try again shortly."),
    "unavailable": ("The vault is briefly unavailable", "Nothing you did caused this. Try again shortly."),
}

_PYDANTIC_WORDS = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be yes or no",
    "missing": "is missing",
    "greater_than_equal": "is too small",
    "less_than_equal": "is too large",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
    "enum": "is not one of the allowed values",
    "literal_error": "is not one of the allowed values",
    "date_from_datetime_parsing": "must be a date like 2026-11-25",
    "date_parsing": "must be a date like 2026-11-25",
}


def plain_validation(errors: list[dict[str, Any]]) -> str:
    """Validation errors as a sentence a person can act on: "before must be a whole number"."""
    parts = []
    for e in errors[:3]:
        field = next((p for p in reversed(e["loc"]) if not p.isdigit() and p not in ("query", "body", "path")), "")
        words = _PYDANTIC_WORDS.get(e["type"], "is not valid")
        parts.append(f"“{field}” {words}" if field else f"a value {words}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if parts else "A value is not valid."


def _has_page(request: Request, path: str) -> bool:
    """Whether GET ``path`` is a route of this app (so a "back" link never leads to a 404 or 405)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)


def _page_links(request: Request, role: str | None, status: int) -> list[tuple[str, str]]:
    from vault_server.web.pages import role_home

    home = role_home(role)
    links: list[tuple[str, str]] = []
    if request.method == "POST" and _has_page(request, request.url.path) and request.url.path != home:
        links.append((request.url.path, "Back to the form"))
    if status == 401:
        links.append(("/login?next=" + quote(request.url.path), "Log in"))
    links.append((home, "Go to your home page" if role else "Home"))
    unique: dict[str, str] = {}
    for href, label in links:
        unique.setdefault(href, label)
    return list(unique.items())


def _render_html(request: Request, status: int, slug: str, detail: str, headers: dict[str, str] | None) -> HTMLResponse:
    from vault_server.web.deps import resolve_principal
    from vault_server.web.pages import render_page

    ctx = request.app.state.ctx
    try:  # the page names who is signed in, unless the database is what failed
        principal = None if status == 503 else resolve_principal(request, ctx)
    except VaultError:
        principal = None
    if principal is not None and principal.via != "session":
        principal = None
    title, hint = _PLAIN.get(slug, ("Something went wrong", ""))
    response = render_page(
        request,
        ctx,
        principal,
        "error.html",
        status_code=status,
        title=title,
        detail=detail[:1].upper() + detail[1:],
        hint=hint,
        status=status,
        links=_page_links(request, principal.account.role if principal else None, status),
        request_id=request_id_var.get() if status >= 500 else "",
    )
    for key, value in (headers or {}).items():
        if key.lower() in ("retry-after", "www-authenticate"):
            response.headers[key] = value
    return response


async def respond(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Problem details for API clients, the same problem as a readable page for browsers."""
    if wants_html(request) and request.method in ("GET", "POST", "HEAD"):
        try:
            return await run_in_threadpool(_render_html, request, status, slug, detail, headers)
        except Exception as exc:  # the error page must never hide the error: fall back to problem+json
            log.error("error page failed", exc_info=exc)
    return problem(status, slug, title, detail, instance=request.url.path, extra=extra, headers=headers)


#: seconds a client should wait when the database is unreachable (a restart or fail-over takes a few)
DATABASE_RETRY_AFTER = 5


_BUSY_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "55P03", "57014", "25P03"})


def database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached or is busy right now", where retrying later is
    right (503 + Retry-After): a lost or refused connection, a pool that cannot hand one out, SQLite's lock
    timeout. False for real faults (a missing table, bad SQL), which stay 500s and are logged as crashes."""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, OperationalError | InterfaceError | InternalError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        module = type(orig).__module__ if orig is not None else ""
        if module.startswith("psycopg"):
            sqlstate = getattr(orig, "sqlstate", None)
            # no SQLSTATE: the client library failed to connect or lost the connection; class 08 is a connection
            # exception, 57P01-57P03 an administrator shutdown / crash / cannot connect now; 55P03 a lock not taken
            # within lock_timeout, 57014 a statement cut by statement_timeout, 25P03 a session ended by
            # idle_in_transaction_session_timeout (VAULT_DATABASE_*_MS settings)
            return sqlstate is None or sqlstate.startswith("08") or sqlstate in _BUSY_SQLSTATES
        return "database is locked" in str(orig)
    return False


def install(app: FastAPI) -> None:
    @app.exception_handler(VaultError)
    async def _vault_error(request: Request, exc: VaultError) -> Response:
        return await respond(request, exc.status, exc.slug, exc.title, exc.detail, extra=exc.extra, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _clean_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                400,
                "malformed-json",
                "Malformed JSON",
                "the request body is not valid JSON",
                instance=request.url.path,
                extra={"errors": errors},
            )
        if wants_html(request):
            return await respond(request, 422, "validation-error", "", plain_validation(errors))
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" + (
            f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        )
        return problem(
            422,
            "validation-error",
            "The request did not validate",
            detail,
            instance=request.url.path,
            extra={"errors": errors},
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, _exc: Exception) -> Response:
        # a number too large for the database column (SQLite raises OverflowError, PostgreSQL a DataError): the
        # client's input, never a server fault (the unit of work already rolled back)
        return await respond(request, 400, "out-of-range", "Value out of range", "a number in the request is too large")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no page at {request.url.path}."
        return await respond(
            request, exc.status_code, slug, title, detail, headers=dict(exc.headers) if exc.headers else None
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(InternalError)
    @app.exception_handler(DisconnectionError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            return await _crash(request, exc)
        rid = str(request.scope.get("vault.request_id", "-"))
        token = request_id_var.set(rid)
        try:
            log.warning("database unavailable: %s", type(getattr(exc, "orig", None) or exc).__name__)
        finally:
            request_id_var.reset(token)
        return await respond(
            request,
            503,
            "database-unavailable",
            "Service temporarily unavailable",
            "the database cannot be reached right now; retry after the delay",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        rid = str(request.scope.get("vault.request_id", "-"))
        token = request_id_var.set(rid)  # runs after the request middleware reset it: log with the request's id
        try:
            log.error("unhandled error", exc_info=exc)
        finally:
            request_id_var.reset(token)
        return await respond(
            request,
            500,
            "internal-error",
            "Internal error",
            f"something went wrong; request id {rid} identifies it in the logs",
            headers={"X-Request-ID": rid},
        )
