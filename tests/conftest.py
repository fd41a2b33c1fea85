"""Shared fixtures: one database per test run (SQLite file or a fresh PostgreSQL schema), a clean slate per test.

Select the backend with ``VAULT_TEST_BACKEND=sqlite|postgres``; PostgreSQL comes from ``VAULT_TEST_DATABASE_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each run (and each xdist worker) gets its own
schema, dropped at the end, so concurrent runs never collide.
"""

from __future__ import annotations

import os
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import text

from vault_server.all_models import metadata
from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.crypto.keyring import KeyRing
from vault_server.db import Database, migrate
from vault_server.feed import hooks as feed_hooks

BACKEND = os.environ.get("VAULT_TEST_BACKEND", "sqlite")
PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery staple"


def pytest_report_header(config: pytest.Config) -> str:
    return f"intent-vault test backend: {BACKEND}" + (f" ({PG_URL})" if BACKEND == "postgres" else "")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vault")


@pytest.fixture(scope="session")
def base_settings(run_dir: Path, worker_id: str) -> Iterator[Settings]:
    """Settings for this run's database, migrated to head once."""
    kek_file = run_dir / "kek.json"
    KeyRing.generate().save(kek_file)
    common: dict[str, Any] = {
        "kek_file": kek_file,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "base_url": "http://127.0.0.1:8000",
        "log_level": "WARNING",
        "maintenance_interval_seconds": 0,
    }
    if BACKEND == "postgres":
        schema = f"t_{int(time.time())}_{os.getpid()}_{worker_id}_{secrets.token_hex(3)}".lower()
        settings = Settings(database_url=PG_URL, database_schema=schema, **common)
    else:
        settings = Settings(database_url=f"sqlite:///{run_dir / 'vault.db'}", **common)
    db = Database(settings)
    migrate(db)
    db.dispose()
    yield settings
    if BACKEND == "postgres":
        admin = Database(Settings(database_url=PG_URL))
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


def _truncate(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings


@pytest.fixture
def ctx(settings: Settings) -> Iterator[VaultContext]:
    """A fresh context on an emptied database."""
    context = build_context(settings)
    feed_hooks.install(context)  # wired as create_app wires it: signal and grant changes reach the feed
    _truncate(context.db)
    _ = context.keyset  # create the signing key now, never lazily inside another open write transaction
    yield context
    context.db.dispose()


@pytest.fixture
def app(ctx: VaultContext) -> Any:
    return create_app(ctx=ctx)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def sign_up(client: TestClient | httpx.Client, email: str, password: str = PASSWORD, name: str = "") -> dict[str, Any]:
    r = client.post("/v1/accounts", json={"email": email, "password": password, "name": name})
    assert r.status_code == 201, r.text
    return dict(r.json())


def log_in(client: TestClient | httpx.Client, email: str, password: str = PASSWORD) -> str:
    """Log in with the JSON API; returns the CSRF token for cookie-authenticated writes."""
    r = client.post("/v1/sessions", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


@pytest.fixture
def consumer(client: TestClient) -> dict[str, Any]:
    """A signed-up, logged-in consumer: its profile plus the CSRF token."""
    profile = sign_up(client, "dana@example.com", name="Dana")
    profile["csrf"] = log_in(client, "dana@example.com")
    return profile


def personal_token(client: TestClient, csrf: str, scopes: list[str] | None = None) -> str:
    r = client.post(
        "/v1/me/tokens", json={"name": "test", "scopes": scopes or ["gestures:write"]}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


# ---- a real HTTP server ------------------------------------------------------------------------------
@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve ``server`` (a stdlib test receiver) in a daemon thread for the block, then stop and close it."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, app: Any):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    """The app served by uvicorn on a free loopback port, for tests about the wire."""
    with LiveServer(app) as server:
        yield server


# ---- API fuzzing ----------------------------------------------------------------------------------------
def fuzz_openapi(app: Any, path_regex: str, headers: dict[str, str], *, min_operations: int, examples: int) -> None:
    """Drive every operation matching ``path_regex`` with schemathesis-generated requests: none may get a 5xx,
    and every error must be problem details. Fails if fewer than ``min_operations`` operations matched."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=path_regex)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= min_operations, "the fuzzed surface shrank: check the pattern"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert str(content_type[0]).startswith("application/problem+json"), where

        check()
