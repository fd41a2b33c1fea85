"""Pure ASGI middleware: request ids, security headers and the access log; the body size limit (413 before
parsing); and precomputed static documents (health, AS metadata, JWKS) answered without entering the router.

Each layer costs a few microseconds per request: no ``BaseHTTPMiddleware``, no per-request objects beyond a
closure, headers built once at start-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vault_server.errors import PROBLEM_BASE
from vault_server.logs import request_id_var

log = logging.getLogger("vault.access")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
#: for responses that set no policy of their own (API documents, /docs, error pages): nobody may frame them
FRAME_POLICY = (b"content-security-policy", b"frame-ancestors 'none'")


def _problem_bytes(status: int, slug: str, title: str, detail: str) -> bytes:
    return json.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}).encode()


class BodyLimitMiddleware:
    """Rejects bodies above ``max_bytes`` with 413: from Content-Length at once, or while streaming.

    A body with a Content-Length at or under the limit cannot grow past it (the HTTP parser reads exactly that
    many bytes), and a request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3):
    only chunked bodies are counted as they arrive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    streamed = True  # the parser will refuse it; count whatever arrives meanwhile
                    continue
                if declared > limit:
                    await self._reject(send, limit)
                    return
            elif name == b"transfer-encoding":
                streamed = True
        if not streamed:
            await self.app(scope, receive, send)
            return
        seen = 0
        started = False
        rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now and tell the app the client left: whatever it tries to send is dropped.
                    rejected = True
                    if not started:
                        await self._reject(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        body = _problem_bytes(413, "payload-too-large", "Request body too large", f"the limit is {limit} bytes")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``), sets security headers and writes one access log line."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = os.urandom(8).hex()
        scope["vault.request_id"] = rid  # the crash handler runs outside this middleware: it logs with this id
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers", ()))
                if not any(name.lower() == FRAME_POLICY[0] for name, _ in headers):
                    headers.append(FRAME_POLICY)
                headers.append((b"x-request-id", rid.encode()))
                headers.extend(SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except BaseException:
            # Keep the id set: what handles the error after us (the crash handler, the server's own "Exception in
            # ASGI application" line) runs in this request's task and must name the request. The task ends with it.
            self._access(scope, status, start)
            raise
        self._access(scope, status, start)
        request_id_var.reset(token)

    @staticmethod
    def _access(scope: Scope, status: int, start: float) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),  # never the query string: it may carry codes or tokens
                    "status": status,
                    "ms": round((time.perf_counter() - start) * 1000, 2),
                },
            )


@dataclass(frozen=True)
class StaticDocument:
    """A JSON document served at ``path`` from a precomputed body, rebuilt by ``produce`` every ``ttl`` seconds
    (``None``: once). ``produce`` runs in the thread pool, so it may read the database."""

    path: str
    produce: Callable[[], Any]
    ttl: float | None = None
    cache_control: str = "no-cache"


@dataclass(frozen=True)
class _Built:
    body: bytes
    etag: bytes
    headers: list[tuple[bytes, bytes]]
    not_modified: list[tuple[bytes, bytes]]
    expires: float


class StaticDocumentsMiddleware:
    """Answers GET/HEAD for a few static JSON documents from bytes built ahead, with a strong ETag and
    ``If-None-Match`` (RFC 9110 §13.1.2). Everything else (other methods, other paths) goes to the app."""

    def __init__(self, app: ASGIApp, documents: Sequence[StaticDocument]):
        self.app = app
        self.documents = {doc.path: doc for doc in documents}
        self._built: dict[str, _Built] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        doc = self.documents.get(scope["path"]) if scope["type"] == "http" else None
        if doc is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        built = self._built.get(doc.path)
        if built is None or built.expires <= time.monotonic():
            built = await run_in_threadpool(self._build, doc)
            self._built[doc.path] = built
        if _etag_matches(scope["headers"], built.etag):
            await send({"type": "http.response.start", "status": 304, "headers": built.not_modified})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": built.headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else built.body})

    @staticmethod
    def _build(doc: StaticDocument) -> _Built:
        body = json.dumps(doc.produce(), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        common = [(b"etag", etag), (b"cache-control", doc.cache_control.encode())]
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *common]
        expires = float("inf") if doc.ttl is None else time.monotonic() + doc.ttl
        return _Built(body=body, etag=etag, headers=headers, not_modified=common, expires=expires)


def _etag_matches(headers: Sequence[tuple[bytes, bytes]], etag: bytes) -> bool:
    for name, value in headers:
        if name == b"if-none-match":
            candidates = {item.strip().removeprefix(b"W/") for item in value.split(b",")}
            return etag in candidates or b"*" in candidates
    return False
