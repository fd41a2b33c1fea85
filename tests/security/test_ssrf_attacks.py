"""SSRF through webhook URLs, end to end through the vendor API: every internal target a vendor might name —
loopback in its many spellings (decimal, octal, hex, short forms, IPv6, IPv4-mapped IPv6), cloud metadata, the
private ranges, unique-local IPv6, and a public-looking name that resolves to loopback — is refused at
registration; and a receiver that answers with a redirect to an internal address is not followed at delivery."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.feed import tasks
from vault_server.feed.models import WebhookDelivery

from ..api.test_feed_support import detail, make_consumer, make_grant, make_vendor

TARGETS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",  # short form
    "https://2130706433/hook",  # decimal
    "https://0177.0.0.1/hook",  # octal
    "https://0x7f.0.0.1/hook",  # hex
    "https://0x7f000001/hook",
    "https://017700000001/hook",
    "https://0.0.0.0/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "https://[::ffff:7f00:1]/hook",
    "https://[::ffff:a9fe:a9fe]/latest/meta-data/",  # 169.254.169.254, mapped
    "https://169.254.169.254/latest/meta-data/",
    "https://2852039166/latest/meta-data/",  # 169.254.169.254 in decimal
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.0.0.1/hook",
    "https://10.255.255.254/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.255/hook",
    "https://192.168.0.1/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456:789a::1]/hook",
    "https://[fe80::1]/hook",
    "https://loopback.attacker.example/hook",  # a public-looking name resolving to 127.0.0.1
    "https://private.attacker.example/hook",  # ... to 10.0.0.7
    "https://mixed.attacker.example/hook",  # one public answer, one internal
]
FAKE_DNS = {
    "loopback.attacker.example": ["127.0.0.1"],
    "private.attacker.example": ["10.0.0.7"],
    "mixed.attacker.example": ["93.184.216.34", "::1"],
}


@pytest.fixture
def attacker_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver override at the guard's boundary (``socket.getaddrinfo``): no /etc/hosts, no network."""
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in FAKE_DNS:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 443)))
                for a in FAKE_DNS[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize("url", TARGETS)
def test_internal_webhook_targets_are_refused(
    client: TestClient, ctx: VaultContext, attacker_dns: None, url: str
) -> None:
    assert not ctx.settings.allow_private_webhooks
    vendor, secret = make_vendor(ctx)
    r = client.post("/v1/webhooks", json={"url": url, "events": ["grant.created"]}, auth=(vendor, secret))
    assert r.status_code == 422, (url, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/webhooks", auth=(vendor, secret)).json()["endpoints"] == []


@contextmanager
def _server(status: int, location: str | None = None) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            hits.append(self.path)
            self.send_response(status)
            if location:
                self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815 - the http.server handler name (a followed 303 would be a GET)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_an_internal_target_is_not_followed(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """The receiver is on loopback (the development switch admits exactly that), and it redirects to another
    internal service: the worker does not follow, the internal service is never called, the delivery failed."""
    monkeypatch.setattr(ctx.settings, "allow_private_webhooks", True)
    vendor, secret = make_vendor(ctx)
    with _server(204) as (internal_url, internal_hits), _server(status, internal_url) as (hook_url, hook_hits):
        r = client.post("/v1/webhooks", json={"url": hook_url, "events": ["grant.created"]}, auth=(vendor, secret))
        assert r.status_code == 201, r.text
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        tick = tasks.run_once(ctx)
        assert tick.claimed >= 1 and hook_hits, "the delivery reached the vendor's receiver"
        assert internal_hits == [], "a redirect was followed to an internal address"
        with ctx.db.session() as s:
            rows = s.exec(select(WebhookDelivery)).all()
        assert rows and all(row.status != "delivered" and row.last_status == status for row in rows)
