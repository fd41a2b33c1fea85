"""SQLite acknowledges only what is on disk: every connection runs ``synchronous=FULL`` unless the operator chose
``VAULT_SQLITE_SYNCHRONOUS=normal`` (faster writes; a power cut may lose the last acknowledged ones)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from vault_server.config import Settings
from vault_server.db import make_engine

FULL, NORMAL = 2, 1  # PRAGMA synchronous values


def _synchronous(settings: Settings) -> tuple[int, str]:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return (
                int(conn.execute(text("PRAGMA synchronous")).scalar_one()),
                str(conn.execute(text("PRAGMA journal_mode")).scalar_one()),
            )
    finally:
        engine.dispose()


def test_sqlite_syncs_every_commit_by_default(tmp_path: Path) -> None:
    assert _synchronous(Settings(database_url=f"sqlite:///{tmp_path}/a.db")) == (FULL, "wal")


def test_normal_is_an_explicit_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_SQLITE_SYNCHRONOUS", "normal")
    assert _synchronous(Settings(database_url=f"sqlite:///{tmp_path}/b.db")) == (NORMAL, "wal")
    with pytest.raises(ValidationError):
        Settings(sqlite_synchronous="off")  # type: ignore[arg-type]
