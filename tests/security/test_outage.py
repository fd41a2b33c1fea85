"""Outages: PostgreSQL becomes unreachable under load, then comes back.

The shared PostgreSQL server is never stopped: the vault (a real uvicorn server) talks to it through a TCP proxy
that the test cuts (every open connection reset, new ones refused) and restores. While the database is away every
request ends quickly in ``503`` problem+json with ``Retry-After`` — no 500, no hang; when it is back the server
recovers by itself (no restart) and every gesture it acknowledged with 200 is stored."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.feed import hooks as feed_hooks
from vault_server.intents.models import Gesture

from ..conftest import BACKEND, LiveServer, free_port, log_in, personal_token, sign_up

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="a PostgreSQL outage needs the PostgreSQL backend")


class Proxy:
    """A TCP forwarder on a loopback port that can be cut (listener closed, every connection reset) and restored
    on the same port."""

    def __init__(self, host: str, port: int, admin_url: str):
        self.upstream = (host, port)
        self.admin_url = admin_url
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.upstream_ports: set[int] = set()
        self.listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
                self.upstream_ports.add(server.getsockname()[1])
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """What a PostgreSQL restart does to the vault: new connections refused, open ones reset, and their server
        processes gone with whatever transaction (and row locks) they held."""
        assert self.listener is not None
        self.listener.close()
        with self.lock:
            victims, self.sockets = self.sockets, []
            ports, self.upstream_ports = sorted(self.upstream_ports), set()
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE client_addr = '127.0.0.1' AND client_port = ANY(%s)",
                (ports,),
            )
        for s in victims:
            # shutdown wakes the pump threads blocked in recv (a bare close would leave the connection open until
            # they return) and ends both sides at once
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def restore(self) -> None:
        self.start()


@pytest.fixture
def proxied(base_settings: Settings) -> Iterator[tuple[Settings, Proxy]]:
    url = make_url(base_settings.database_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432, admin)
    proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield base_settings.model_copy(update={"database_url": through, "api_rate_per_minute": 100_000}), proxy
    proxy.cut()


def product_view() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "product_view",
        "ts": datetime.now(UTC).isoformat(),
        "origin": "https://shop.example",
        "path": "/p/{id}",
        "product": {"name": "Samsung 65 inch QLED 4K Smart TV", "brand": "Samsung", "price": 899.0, "currency": "EUR"},
    }


def test_postgresql_outage_under_load_is_503_then_recovers_and_loses_nothing(
    proxied: tuple[Settings, Proxy], ctx: Any
) -> None:
    settings, proxy = proxied
    vault = build_context(settings)
    feed_hooks.install(vault)
    _ = vault.keyset
    acknowledged: set[str] = set()
    statuses: dict[str, list[int]] = {"before": [], "during": [], "after": []}
    problems: list[str] = []
    phase = "before"
    stop = threading.Event()
    lock = threading.Lock()
    with LiveServer(create_app(ctx=vault)) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            account = sign_up(http, "load@example.com", name="Load")
            csrf = log_in(http, "load@example.com")
            token = personal_token(http, csrf, ["gestures:write"])

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                while not stop.is_set():
                    events = [product_view() for _ in range(5)]
                    at = phase
                    try:
                        r = http.post(
                            "/v1/gestures", json={"events": events}, headers={"Authorization": f"Bearer {token}"}
                        )
                    except httpx.TimeoutException:
                        with lock:
                            problems.append(f"{at}: request hung for 30 s")
                        continue
                    with lock:
                        statuses[at].append(r.status_code)
                        if r.status_code == 200:
                            assert r.json()["accepted"] + r.json()["duplicate"] == len(events)
                            acknowledged.update(e["id"] for e in events)
                        elif r.status_code == 503:
                            if not r.headers.get("content-type", "").startswith("application/problem+json"):
                                problems.append(f"{at}: 503 without problem+json")
                            if int(r.headers.get("retry-after", "0")) <= 0:
                                problems.append(f"{at}: 503 without Retry-After")
                        else:
                            problems.append(f"{at}: {r.status_code} {r.text[:200]}")

        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        try:
            _wait_for(lambda: len(statuses["before"]) >= 8)
            phase = "during"
            proxy.cut()
            _wait_for(lambda: statuses["during"].count(503) >= 8)
            phase = "after"
            proxy.restore()
            _wait_for(lambda: statuses["after"].count(200) >= 8)  # recovered without a restart
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=60)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            _wait_for(lambda: http.get("/readyz").status_code == 200)  # the pool recycled every dead connection
    assert not problems, problems[:5]
    # a request sent just before the cut may end in 503, one sent just before the restore in 200: never anything else
    assert all(set(codes) <= {200, 503} for codes in statuses.values()), statuses
    with ctx.db.session() as s:
        stored = set(s.exec(select(Gesture.event_id).where(col(Gesture.account_id) == account["id"])).all())
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged gestures were lost"
    vault.db.dispose()


def _wait_for(condition: Any, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the load never reached the expected state")
        time.sleep(0.05)
