"""Real processes for the scale-out tests: ``intent-vault serve`` and ``intent-vault worker`` as subprocesses on the
test run's PostgreSQL schema, and the skip rule for SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from vault_server.config import Settings

from ..conftest import BACKEND, free_port

needs_postgres = pytest.mark.skipif(
    BACKEND != "postgres",
    reason="scale-out runs several processes against one PostgreSQL (VAULT_TEST_BACKEND=postgres); "
    "SQLite is the embedded single-process setup",
)
CLI = str(Path(sys.executable).with_name("intent-vault"))


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a vault process needs to share this test's database, keys and settings."""
    env = {
        **os.environ,
        "VAULT_DATABASE_URL": settings.database_url,
        "VAULT_DATABASE_SCHEMA": settings.database_schema or "",
        "VAULT_KEK_FILE": str(settings.kek_file),
        "VAULT_ALLOW_PRIVATE_WEBHOOKS": "true" if settings.allow_private_webhooks else "false",
        "VAULT_LOG_LEVEL": "WARNING",
        "VAULT_MAINTENANCE_INTERVAL_SECONDS": "0",
        "VAULT_API_RATE_PER_MINUTE": "100000",
        "VAULT_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "VAULT_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        **extra,
    }
    if settings.database_read_url:
        env["VAULT_DATABASE_READ_URL"] = settings.database_read_url
    return env


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every command (output to a temp file shown when the test fails); terminate them all at the end."""
    with ExitStack() as stack:
        started: list[subprocess.Popen[bytes]] = []
        logs = []
        for command in commands:
            log = stack.enter_context(tempfile.TemporaryFile())
            logs.append(log)
            started.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        try:
            yield started
        except BaseException:
            for proc, log in zip(started, logs, strict=True):
                log.seek(0)
                sys.stderr.write(f"--- {' '.join(proc.args)} (pid {proc.pid}) ---\n{log.read().decode()[-4000:]}\n")
            raise
        finally:
            for proc in started:
                proc.terminate()
            for proc in started:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def serve_command(port: int) -> list[str]:
    return [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)]


def worker_command() -> list[str]:
    return [CLI, "worker", "--interval", "0.1", "--batch", "5", "--concurrency", "4"]


def wait_healthy(urls: list[str], procs: list[subprocess.Popen[bytes]], timeout: float = 120.0) -> None:
    """Until every server answers /healthz (fails at once when a process died)."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{' '.join(proc.args)} exited with {proc.returncode}")
        try:
            if httpx.get(pending[0] + "/healthz", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending[0]} did not come up")
        time.sleep(0.1)


def api_urls(n: int) -> list[tuple[int, str]]:
    ports = [free_port() for _ in range(n)]
    return [(p, f"http://127.0.0.1:{p}") for p in ports]
