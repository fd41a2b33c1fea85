"""The operator CLI: each command's happy path and a user mistake, with one-line errors and no tracebacks."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from vault_server.cli import main
from vault_server.config import Settings
from vault_server.db import Database

from ..conftest import BACKEND, PG_URL, free_port


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh, empty vault location (SQLite file or PostgreSQL schema) for the CLI to work on."""
    values = {
        "VAULT_KEK_FILE": str(tmp_path / "kek.json"),
        "VAULT_ARGON2_TIME_COST": "1",
        "VAULT_ARGON2_MEMORY_KIB": "64",
        "VAULT_LOG_LEVEL": "WARNING",
    }
    schema = None
    if BACKEND == "postgres":
        schema = "cli_" + secrets.token_hex(6)
        values |= {"VAULT_DATABASE_URL": PG_URL, "VAULT_DATABASE_SCHEMA": schema}
    else:
        values["VAULT_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    yield values
    if schema:
        db = Database(Settings(database_url=PG_URL))
        with db.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        db.dispose()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_one_line_error(result: Result, needle: str) -> None:
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert "Traceback" not in result.output + result.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("intent-vault: error:") and needle in err, err


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def test_help_on_every_command() -> None:
    commands = list(_commands(main))
    assert {("init",), ("serve",), ("demo",), ("keys", "rotate"), ("export",)} <= set(commands)
    for path in commands:
        result = run(*path, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, path


def test_init_creates_private_keys_and_migrates(env: dict[str, str]) -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    assert "migrated empty ->" in result.output
    assert (os.stat(env["VAULT_KEK_FILE"]).st_mode & 0o777) == 0o600
    again = run("init")
    assert again.exit_code == 0 and "using existing key file" in again.output


def test_init_refuses_world_readable_key_file(env: dict[str, str]) -> None:
    assert run("init").exit_code == 0
    os.chmod(env["VAULT_KEK_FILE"], 0o644)
    assert_one_line_error(run("init"), "chmod 600")


def test_demo_is_idempotent_and_prints_logins(env: dict[str, str]) -> None:
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert "consumer@example.com" in first.output and "auditor@example.com" in first.output
    second = run("demo")
    assert second.exit_code == 0 and second.output.count("consumer@example.com") == 1
    export = json.loads(run("export", "--consumer", "consumer@example.com").output)
    assert export["demand_statistics"]["opted_in"] is True  # the demo consumer shows what reports count
    assert export["terms"]["choices"]["default"] == "cc-sd-offers"


def test_keys_rotate_keeps_export_readable(env: dict[str, str]) -> None:
    assert run("demo").exit_code == 0
    before = json.loads(run("export", "--consumer", "consumer@example.com").output)
    old = json.loads(Path(env["VAULT_KEK_FILE"]).read_text())["active"]
    rotated = run("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 4 data keys" in rotated.output and "signing key rotated" in rotated.output
    assert json.loads(Path(env["VAULT_KEK_FILE"]).read_text())["active"] != old
    after = json.loads(run("export", "--consumer", "consumer@example.com").output)
    assert after["account"] == before["account"]
    assert_one_line_error(run("keys", "rotate", "--no-kek", "--no-signing"), "nothing to rotate")


def test_keys_rotate_refuses_env_kek(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from vault_server.crypto.keyring import KeyRing, b64e

    monkeypatch.setenv("VAULT_KEK", b64e(KeyRing.generate().keks.popitem()[1]))
    assert run("init").exit_code == 0
    assert_one_line_error(run("keys", "rotate", "--no-signing"), "needs a key file")


def test_export_to_file_and_unknown_consumer(env: dict[str, str], tmp_path: Path) -> None:
    assert run("demo").exit_code == 0
    out = tmp_path / "export.json"
    assert run("export", "--consumer", "consumer@example.com", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["account"]["name"] == "Dana Demo"
    assert_one_line_error(run("export", "--consumer", "nobody@example.com"), "no consumer")
    assert_one_line_error(run("export", "--consumer", "not-an-id"), "neither an e-mail nor an account id")


def test_commands_refuse_an_uninitialised_vault(env: dict[str, str]) -> None:
    assert_one_line_error(run("export", "--consumer", "a@example.com"), "intent-vault init")


def test_serve_refuses_then_serves(env: dict[str, str]) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "vault_server", "serve", "--port", str(port)]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=os.environ.copy())
    assert refused.returncode == 1 and "intent-vault init" in refused.stderr and "Traceback" not in refused.stderr
    assert run("init").exit_code == 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine can take long to import and migrate
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert r.json()["status"] == "ready"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_serve_refuses_an_invalid_policy(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    broken = Path(__file__).resolve().parents[1] / "fixtures" / "policies_broken"
    policy_dir = tmp_path / "policies"
    shutil.copytree(broken / "_base", policy_dir)
    shutil.copy(broken / "dangling_parent" / "taxonomy.yaml", policy_dir / "taxonomy.yaml")
    expected = (broken / "dangling_parent" / "expected.txt").read_text().strip().splitlines()
    assert run("init").exit_code == 0
    monkeypatch.setenv("VAULT_POLICY_DIR", str(policy_dir))
    result = run("serve", "--port", str(free_port()))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    for line in expected:
        assert f"{policy_dir}/{line}" in result.stderr, result.stderr
    assert "fix them and retry" in result.stderr.splitlines()[-1]
