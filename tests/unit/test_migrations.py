"""Migrations go from an empty database to head, on SQLite and PostgreSQL, and readiness reflects them."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from vault_server.all_models import metadata
from vault_server.config import Settings
from vault_server.db import Database, check_migrated, current_revision, migrate, pending_heads
from vault_server.errors import ConfigError

from ..conftest import BACKEND, PG_URL


@pytest.fixture
def empty_db(tmp_path: Path) -> Database:
    if BACKEND == "postgres":
        schema = "m_" + secrets.token_hex(6)
        db = Database(Settings(database_url=PG_URL, database_schema=schema))
        yield db  # type: ignore[misc]
        with db.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        db.dispose()
    else:
        db = Database(Settings(database_url=f"sqlite:///{tmp_path}/m.db"))
        yield db  # type: ignore[misc]
        db.dispose()


def test_empty_to_head_creates_every_table(empty_db: Database) -> None:
    if BACKEND == "postgres":
        from vault_server.db import ensure_schema

        ensure_schema(empty_db)
    with pytest.raises(ConfigError, match=r"empty \(never initialised\).*intent-vault init"):
        check_migrated(empty_db)
    migrate(empty_db)
    assert pending_heads(empty_db) == []
    assert current_revision(empty_db)
    check_migrated(empty_db)
    with empty_db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    migrate(empty_db)  # idempotent


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path}/p.db"))
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    db.dispose()


def test_bad_schema_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a plain identifier"):
        Database(Settings(database_url=PG_URL, database_schema="x; drop table account"))
