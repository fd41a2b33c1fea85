"""An unreachable database is a 503 problem with Retry-After (the client retries), never a 500: connection
errors, a pool that ran dry, and a database that is not migrated at /readyz. The OpenAPI document promises 503 on
every operation that needs the database; these pin what it promises."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from vault_server.db import Database

from ..conftest import log_in, sign_up

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, Exception("connection refused"), connection_invalidated=True),
        OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked")),
        PoolTimeout("QueuePool limit of size 10 overflow 20 reached"),
    ],
)
def test_an_unreachable_database_is_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    sign_up(client, "outage@example.com")
    log_in(client, "outage@example.com")

    @contextmanager
    def down(_self: Database) -> Iterator[Any]:
        raise error
        yield  # pragma: no cover

    monkeypatch.setattr(Database, "session", down)
    r = client.get("/v1/me")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert int(r.headers["retry-after"]) > 0
    body = r.json()
    assert body["type"].endswith("/database-unavailable")
    for internal in ("connection refused", "QueuePool", "locked"):  # no internals to the client
        assert internal not in r.text
    page = client.get("/v1/me", headers={"Accept": "text/html"})
    assert page.status_code == 503 and "briefly unavailable" in page.text


def test_readyz_on_an_unmigrated_database_is_a_503_problem(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from vault_server.errors import ConfigError
    from vault_server.web import health

    def unmigrated(_db: Any) -> None:
        raise ConfigError("the database is not migrated: run `intent-vault init`")

    monkeypatch.setattr(health, "check_migrated", unmigrated)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
    assert int(r.headers["retry-after"]) > 0
