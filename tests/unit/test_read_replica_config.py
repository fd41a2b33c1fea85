"""``VAULT_DATABASE_READ_URL``: only PostgreSQL on both sides; without it, read sessions use the primary and never
write."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from vault_server.config import Settings
from vault_server.db import Database
from vault_server.errors import ConfigError


def test_a_read_replica_needs_postgresql_on_both_sides(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'v.db'}", database_read_url="postgresql+psycopg://u@127.0.0.1/db"
    )
    with pytest.raises(ConfigError, match="VAULT_DATABASE_READ_URL needs PostgreSQL"):
        Database(settings)


def test_without_a_replica_reads_use_the_primary_and_are_rolled_back(tmp_path: Path) -> None:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'v.db'}"))
    assert not db.has_replica and db.read_engine is None
    with db.session() as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
    with db.read_session() as r:
        r.execute(text("INSERT INTO t VALUES (1)"))
        assert r.execute(text("SELECT count(*) FROM t")).scalar() == 1
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0  # a read session never commits
    db.dispose()
