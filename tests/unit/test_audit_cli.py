"""`intent-vault audit check/sth/export/verify`: a planted read-after-revoke fails the check; an export verifies
offline with the published keys, and an edited export does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vault_server.accounts import service as accounts
from vault_server.audit import service as audit
from vault_server.cli import main
from vault_server.config import Settings
from vault_server.context import VaultContext

from ..conftest import PASSWORD


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VAULT_KEK_FILE", str(settings.kek_file))
    if settings.database_schema:
        monkeypatch.setenv("VAULT_DATABASE_SCHEMA", settings.database_schema)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _story(ctx: VaultContext, *, read_after_revoke: bool) -> None:
    """A grant, a token, reads; optionally a read with the token after it was revoked."""
    with ctx.db.session() as s:
        dana = accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="dana@example.com", password=PASSWORD
        )
    common = {"vendor_id": "acme", "grant_id": "g1"}
    events: list[tuple[str, dict[str, object]]] = [
        ("grant.created", {**common, "categories": ["electronics"], "fields": ["stage"], "expires_at": None}),
        ("token.issued", {**common, "token_id": "t1", "family_id": "f1"}),
        (
            "vendor.read",
            {**common, "token_id": "t1", "family_id": "f1", "categories": ["electronics.tv"], "record_count": 2},
        ),
        ("token.revoked", {**common, "token_id": "t1", "family_id": "f1", "reason": "consumer"}),
    ]
    if read_after_revoke:
        events.append(
            (
                "vendor.read",
                {**common, "token_id": "t1", "family_id": "f1", "categories": ["electronics.tv"], "record_count": 1},
            )
        )
    for kind, details in events:
        with ctx.db.session() as s:
            audit.record(session=s, ctx=ctx, kind=kind, actor="vendor:acme", consumer_id=dana.id, details=dict(details))


def test_check_passes_on_a_clean_log_and_finds_a_planted_read_after_revoke(ctx: VaultContext, cli_env: None) -> None:
    _story(ctx, read_after_revoke=False)
    assert run("audit", "sth").exit_code == 0
    clean = run("audit", "check")
    assert clean.exit_code == 0, clean.output
    assert clean.stdout == "" and clean.stderr.startswith("OK: 4 entries, 1 signed tree heads")

    not_due = run("audit", "sth", "--if-due")  # nothing new since the last head
    assert not_due.exit_code == 0 and "no tree head due" in not_due.stderr


def test_check_reports_read_after_revoke_and_unsigned_tail(ctx: VaultContext, cli_env: None) -> None:
    _story(ctx, read_after_revoke=True)
    result = run("audit", "check")
    assert result.exit_code == 1
    # public details name the token by its keyed token (t_…), never the raw token id
    [finding] = result.stdout.splitlines()
    expected = r"read-after-revoke: index 4: read by acme with token t_[0-9a-f]{20} revoked at index 3"
    assert re.fullmatch(expected, finding), finding
    assert "t1 " not in finding
    assert result.stderr.startswith("FINDINGS: 5 entries, 0 signed tree heads, 1 finding(s)")
    # with a zero-second tolerance the unsigned entries are a tree-head gap as well
    strict = run("audit", "check", "--max-delay", "1")
    assert strict.exit_code == 1


def test_export_then_offline_verify(ctx: VaultContext, cli_env: None, tmp_path: Path) -> None:
    _story(ctx, read_after_revoke=False)
    first = json.loads(run("audit", "sth").stdout)
    with ctx.db.session() as s:
        audit.record(
            session=s,
            ctx=ctx,
            kind="admin.policy_change",
            actor="admin:x",
            consumer_id=None,
            details={"policy": "2026.11.2"},
        )
    second = json.loads(run("audit", "sth").stdout)
    assert (first["tree_size"], second["tree_size"]) == (4, 5)
    out = tmp_path / "audit"
    exported = run("audit", "export", "-o", str(out), "--slice", str(tmp_path / "slice.zip"))
    assert exported.exit_code == 0, exported.output
    old = sorted((out / "old-sths").iterdir())
    assert len(old) == 1
    args = ["--entries", str(out / "export.jsonl"), "--sth", str(out / "sth.json"), "--jwks", str(out / "jwks.json")]
    ok = run("audit", "verify", *args, "--old-sth", str(old[0]))
    assert ok.exit_code == 0 and ok.stdout.startswith("OK: 5 entries; tree_size 5")
    assert run("audit", "verify-slice", str(tmp_path / "slice.zip")).exit_code == 0

    lines = (out / "export.jsonl").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"record_count": 2', '"record_count": 20')
    (out / "export.jsonl").write_text("".join(lines))
    bad = run("audit", "verify", *args)
    assert bad.exit_code == 1
    assert "index 2: entry does not match its leaf_hash (entry modified)" in bad.stdout
    assert run("audit", "verify", "--entries", "nope.jsonl", "--sth", "x", "--jwks", "y").exit_code == 2


def test_export_without_a_signed_head_is_one_line_error(ctx: VaultContext, cli_env: None, tmp_path: Path) -> None:
    result = run("audit", "export", "-o", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert result.stderr.strip() == "intent-vault: error: no signed tree head yet: run `intent-vault audit sth` first"
