"""``intent-vault backup`` / ``restore``: a round trip into a fresh vault (SQLite → SQLite, SQLite → PostgreSQL)
gives back every row, every consumer's decrypted data and an audit log that still checks and verifies offline;
the archive is useless without the key file and any tampering, truncation or wrong key is refused with one
clear line, leaving the target empty."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text
from sqlmodel import col, func, select

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.backup.archive import MAGIC
from vault_server.backup.service import SEEDED_BY_MIGRATIONS, _encode, _raw_tables
from vault_server.cli import main
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.crypto.keyring import KeyRing
from vault_server.db import Database
from vault_server.feed import service as feed
from vault_server.feed.models import FeedChange
from vault_server.intents import service as intents
from vault_server.intents.schemas import IntentIn

from ..conftest import PG_URL

MARKER = "Looking-for-a-teal-kayak-" + secrets.token_hex(4)


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _env(folder: Path, kek: Path, url: str | None = None, schema: str | None = None) -> dict[str, str]:
    env = {
        "VAULT_DATABASE_URL": url or f"sqlite:///{folder / 'vault.db'}",
        "VAULT_KEK_FILE": str(kek),
        "VAULT_ARGON2_TIME_COST": "1",
        "VAULT_ARGON2_MEMORY_KIB": "64",
        "VAULT_LOG_LEVEL": "WARNING",
        "VAULT_AUDIT_WITNESS_FILE": str(folder / "witness.json"),
    }
    if schema:
        env["VAULT_DATABASE_SCHEMA"] = schema
    return env


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        database_url=env["VAULT_DATABASE_URL"],
        database_schema=env.get("VAULT_DATABASE_SCHEMA"),
        kek_file=Path(env["VAULT_KEK_FILE"]),
    )


def _rows(env: dict[str, str]) -> dict[str, list[list[Any]]]:
    """Every row of every table, as stored (sealed columns raw), in primary-key order."""
    db = Database(_settings(env))
    try:
        out: dict[str, list[list[Any]]] = {}
        with db.engine.connect() as conn:
            for table in _raw_tables():
                order = list(table.primary_key.columns) or list(table.columns)
                out[table.name] = [[_encode(v) for v in row] for row in conn.execute(select(table).order_by(*order))]
        return out
    finally:
        db.dispose()


@pytest.fixture
def source(tmp_path: Path) -> dict[str, str]:
    """A demo vault with a declared intent carrying a marker, and a signed tree head over its audit log."""
    folder = tmp_path / "source"
    folder.mkdir()
    env = _env(folder, folder / "kek.json")
    assert _run(env, "demo", "--password", "demo-password-123").exit_code == 0
    ctx = build_context(_settings(env))
    try:
        with ctx.db.session() as s:
            account = s.exec(
                select(Account).where(
                    col(Account.email_index) == accounts.email_index(ctx.ring, "consumer@example.com")
                )
            ).one()
            intents.create_intent(
                session=s, ctx=ctx, account_id=account.id, body=IntentIn(category="electronics.tv", text=MARKER)
            )
    finally:
        ctx.db.dispose()
    assert _run(env, "audit", "sth").exit_code == 0
    return env


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"attacks_restore_{int(time.time())}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = Database(Settings(database_url=PG_URL))
        with admin.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    yield schema
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _backup(source: dict[str, str], archive: Path) -> Result:
    result = _run(source, "backup", str(archive))
    assert result.exit_code == 0, result.output
    return result


def _fresh(tmp_path: Path, source: dict[str, str], name: str, **kw: Any) -> dict[str, str]:
    """A fresh vault folder holding only a copy of the source's key file."""
    folder = tmp_path / name
    folder.mkdir()
    kek = folder / "kek.json"
    shutil.copy2(source["VAULT_KEK_FILE"], kek)
    os.chmod(kek, 0o600)
    return _env(folder, kek, **kw)


def _assert_same_vault(source: dict[str, str], target: dict[str, str], tmp_path: Path) -> None:
    assert _rows(target) == _rows(source)
    exported = _run(target, "export", "--consumer", "consumer@example.com")
    assert exported.exit_code == 0, exported.output
    assert MARKER in exported.output and "Dana Demo" in exported.output  # decrypts with the key file
    original = _run(source, "export", "--consumer", "consumer@example.com")
    restored, before = json.loads(exported.output), json.loads(original.output)
    for doc in (restored, before):  # read-time values: the export's clock, signals decaying with it
        doc.pop("exported_at")
        doc["signals"] = [(x["category"], x["stage"]) for x in doc["signals"]]
    assert restored == before
    check = _run(target, "audit", "check")
    assert check.exit_code == 0, check.output
    out = tmp_path / f"audit-{secrets.token_hex(3)}"
    assert _run(target, "audit", "export", "-o", str(out)).exit_code == 0
    verify = _run(
        target, "audit", "verify", "--entries", str(out / "export.jsonl"), "--sth", str(out / "sth.json"),
        "--jwks", str(out / "jwks.json"),
    )  # fmt: skip
    assert verify.exit_code == 0, verify.output


def test_round_trip_sqlite_to_sqlite(source: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "vault.ivb"
    result = _backup(source, archive)
    assert "rows from" in result.output and "account: " in result.stderr  # progress per table
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    assert MARKER.encode() not in archive.read_bytes() and b"consumer@example.com" not in archive.read_bytes()
    target = _fresh(tmp_path, source, "target")
    result = _run(target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    _assert_same_vault(source, target, tmp_path)
    again = _run(target, "restore", str(archive))  # into a vault that now has data
    assert again.exit_code == 1 and "not empty" in again.stderr


def test_round_trip_sqlite_to_postgresql(source: dict[str, str], tmp_path: Path, pg_schema: str) -> None:
    archive = tmp_path / "vault.ivb"
    _backup(source, archive)
    target = _fresh(tmp_path, source, "pg", url=PG_URL, schema=pg_schema)
    result = _run(target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    _assert_same_vault(source, target, tmp_path)
    # the restored vault keeps working: new rows get fresh ids past the restored ones (sequences moved)
    assert _run(target, "audit", "sth").exit_code == 0
    # and a backup of the PostgreSQL vault restores into SQLite again
    second = tmp_path / "from-pg.ivb"
    _backup(target, second)
    back = _fresh(tmp_path, source, "back")
    assert _run(back, "restore", str(second)).exit_code == 0
    assert _rows(back) == _rows(target)


def test_postgresql_to_postgresql_feed_positions_continue_past_the_restored_ones(
    source: dict[str, str], tmp_path: Path, pg_schema: str
) -> None:
    """Feed read positions come from a sequence no column owns: after a restore, a new change must be read after
    every restored one, or a vendor whose cursor points at a restored position never sees it."""
    first = _fresh(tmp_path, source, "pg1", url=PG_URL, schema=pg_schema)
    _backup(source, tmp_path / "a.ivb")
    assert _run(first, "restore", str(tmp_path / "a.ivb")).exit_code == 0
    ctx = build_context(_settings(first))
    try:
        assert feed.stamp_now(ctx) > 0  # the restored changes get their read positions on PostgreSQL
    finally:
        ctx.db.dispose()
    _backup(first, tmp_path / "b.ivb")
    second = _fresh(tmp_path, source, "pg2", url=PG_URL, schema=f"{pg_schema}_2")
    try:
        assert _run(second, "restore", str(tmp_path / "b.ivb")).exit_code == 0
        ctx = build_context(_settings(second))
        try:
            with ctx.db.session() as s:
                restored = s.exec(select(func.max(FeedChange.pos))).one()
                assert restored is not None and restored > 0
                one = s.exec(select(FeedChange)).first()
                assert one is not None
                s.add(FeedChange(vendor_id=one.vendor_id, subject=one.subject, grant_id=one.grant_id, kind=one.kind))
                s.commit()
            assert feed.stamp_now(ctx) == 1
            with ctx.db.session() as s:
                newest = s.exec(select(FeedChange).order_by(col(FeedChange.seq).desc())).first()
                assert newest is not None and newest.pos is not None and newest.pos > restored
        finally:
            ctx.db.dispose()
    finally:
        admin = Database(Settings(database_url=PG_URL))
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{pg_schema}_2" CASCADE'))
        admin.dispose()


def _empty(env: dict[str, str]) -> bool:
    db = Database(_settings(env))
    try:
        if not inspect(db.engine).has_table("account"):
            return True  # refused before the schema was even created
    finally:
        db.dispose()
    return not any(rows for name, rows in _rows(env).items() if name not in SEEDED_BY_MIGRATIONS)


def _restore_fails(target: dict[str, str], archive: Path, words: str) -> None:
    result = _run(target, "restore", str(archive))
    assert result.exit_code == 1, result.output
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert _empty(target), "a failed restore leaves the target empty"


def test_wrong_key_file_is_refused(source: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "vault.ivb"
    _backup(source, archive)
    target = _fresh(tmp_path, source, "other-key")
    KeyRing.generate().save(Path(target["VAULT_KEK_FILE"]))
    result = _run(target, "restore", str(archive))
    assert result.exit_code == 1 and "not in the key file" in result.stderr
    assert _empty(target)


def test_tampered_truncated_or_foreign_archives_are_refused(source: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "vault.ivb"
    _backup(source, archive)
    body = archive.read_bytes()
    header_end = len(MAGIC) + 4 + int.from_bytes(body[len(MAGIC) : len(MAGIC) + 4], "big")
    cases = {
        "flipped": body[:-40] + bytes([body[-40] ^ 1]) + body[-39:],
        "truncated": body[: len(body) - 100],
        "cut-at-chunk": body[:header_end],
        "header-edited": body.replace(b'"format": 1', b'"format": 1 ', 1)
        if b'"format": 1' in body
        else body[: header_end - 2] + b" " + body[header_end - 1 :],
        "appended": body + b"\x00" * 8,
        "not-an-archive": b"PK\x03\x04" + body[4:],
    }
    words = {
        "flipped": "altered",
        "truncated": "truncated",
        "cut-at-chunk": "truncated",
        "header-edited": "intent-vault: error:",
        "appended": "after its last chunk",
        "not-an-archive": "not an Intent Vault backup",
    }
    target = _fresh(tmp_path, source, "target")  # one target: each failed restore must leave it empty for the next
    for name, data in cases.items():
        broken = tmp_path / f"{name}.ivb"
        broken.write_bytes(data)
        _restore_fails(target, broken, words[name])
    assert _run(target, "restore", str(archive)).exit_code == 0, "the control: the intact archive restores"


def test_backup_refuses_to_overwrite_and_needs_a_key(source: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "vault.ivb"
    archive.write_bytes(b"keep me")
    result = _run(source, "backup", str(archive))
    assert result.exit_code == 1 and "exists" in result.stderr and archive.read_bytes() == b"keep me"
    missing = {**source, "VAULT_KEK_FILE": str(tmp_path / "nope.json")}
    result = _run(missing, "backup", str(tmp_path / "x.ivb"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "x.ivb").exists() and not (tmp_path / "x.ivb.partial").exists()
