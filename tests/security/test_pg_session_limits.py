"""PostgreSQL session limits on the vault's own connections (VAULT_DATABASE_LOCK_TIMEOUT_MS,
VAULT_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS, VAULT_DATABASE_STATEMENT_TIMEOUT_MS): a request that cannot get a lock
answers 503 problem+json with Retry-After instead of hanging behind it, and a transaction left idle (a stuck or
cut-off client) is ended by the server, which frees its locks, with an error that says so."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from vault_server.config import Settings
from vault_server.db import Database, pg_session_options
from vault_server.web.problems import database_unavailable

from ..conftest import BACKEND, personal_token

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL session settings")
PROBLEM = "application/problem+json"


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(
        update={
            "database_lock_timeout_ms": 300,
            "database_idle_in_transaction_timeout_ms": 500,
            "database_statement_timeout_ms": 2_000,
        }
    )


@contextmanager
def raw_connection(settings: Settings) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A plain connection to the test schema, as another client of the same database would have."""
    dsn = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, options=f"-csearch_path={settings.database_schema}") as conn:
        yield conn


def show(db: Database, name: str) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(text(f"SHOW {name}")).scalar())


def test_the_vaults_connections_carry_the_limits(settings: Settings, base_settings: Settings) -> None:
    db = Database(settings)
    try:
        assert (show(db, "lock_timeout"), show(db, "idle_in_transaction_session_timeout")) == ("300ms", "500ms")
        assert show(db, "statement_timeout") == "2s"
    finally:
        db.dispose()
    # the defaults: 10 s lock wait, 60 s idle in a transaction, no statement limit; 0 leaves it to the server
    assert pg_session_options(base_settings) == ["-clock_timeout=10000", "-cidle_in_transaction_session_timeout=60000"]
    off = base_settings.model_copy(update={"database_lock_timeout_ms": 0, "database_idle_in_transaction_timeout_ms": 0})
    assert pg_session_options(off) == []


def test_a_request_that_cannot_get_its_lock_is_a_503_not_a_hang(
    client: TestClient, consumer: dict[str, object], settings: Settings
) -> None:
    token = personal_token(client, str(consumer["csrf"]), ["gestures:write"])
    gesture = {
        "id": str(uuid.uuid4()),
        "type": "product_view",
        "ts": datetime.now(UTC).isoformat(),
        "origin": "https://shop.example",
        "path": "/p/{id}",
        "category": "electronics.tv",
    }
    headers = {"Authorization": f"Bearer {token}"}
    with raw_connection(settings) as other:
        # another session holds the consumer's row lock (what every writer of this consumer takes first) and sits
        other.execute("SELECT id FROM account WHERE id = %s FOR UPDATE", (consumer["id"],))
        r = client.post("/v1/gestures", json={"events": [gesture]}, headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        assert int(r.headers["retry-after"]) > 0 and r.json()["type"].endswith("/database-unavailable")
        assert "lock" not in r.text.lower()  # no internals to the client
        other.rollback()
    r = client.post("/v1/gestures", json={"events": [gesture]}, headers=headers)  # the client's retry
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_a_transaction_left_idle_is_ended_by_the_server_and_frees_its_locks(
    client: TestClient, consumer: dict[str, object], settings: Settings
) -> None:
    db = Database(settings)
    try:
        with pytest.raises(DBAPIError) as cut, db.session() as s:
            s.execute(text("SELECT id FROM account WHERE id = :a FOR UPDATE"), {"a": consumer["id"]})
            time.sleep(1.5)  # a client that stalls inside its transaction, past the 500 ms limit
            s.execute(text("SELECT 1"))
        assert "terminating connection due to idle-in-transaction timeout" in str(cut.value)
        assert cut.value.connection_invalidated  # the pool drops that connection
        assert database_unavailable(cut.value)  # in a request: 503 with Retry-After, not a 500
        with raw_connection(settings) as other:  # the lock went with the session: nobody waits for it
            other.execute("SET lock_timeout = '1s'")
            assert other.execute("SELECT id FROM account WHERE id = %s FOR UPDATE NOWAIT", (consumer["id"],)).fetchone()
        with db.session() as s:  # the pool hands out a working connection again
            assert s.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


def test_a_statement_past_the_statement_timeout_is_cancelled(settings: Settings) -> None:
    db = Database(settings)
    try:
        with pytest.raises(OperationalError) as cut, db.session() as s:
            s.execute(text("SELECT pg_sleep(5)"))
        assert "statement timeout" in str(cut.value)
        assert database_unavailable(cut.value)
    finally:
        db.dispose()
