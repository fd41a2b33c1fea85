"""Shared pieces of the HTTP benches: a throwaway vault served by ``intent-vault serve``, node peers, Debian's
``wrk`` as the load generator (the same settings for the vault and the peer), CPU pinning, medians.

Server on one core and wrk on the other (``taskset``) where a figure is per core; every figure is the median of
several runs with min and max, and a ratio is taken inside one round (vault and peer measured back to back) so
the host's noise hits both alike.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SERVER_CORE = "1"
CLIENT_CORE = "0"
PIDS: dict[str, int] = {}  # base URL -> pid of the server process this bench started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned(cmd: Sequence[str], core: str | None) -> list[str]:
    """``cmd`` under ``taskset -c core`` when pinning is asked for and possible."""
    if core is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return list(cmd)
    return ["taskset", "-c", core, *cmd]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Poll ``url`` until it answers 200 (a busy host can take a minute to import and start a server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server this bench started (and its worker processes), then reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Vault:
    """A fresh, migrated vault (SQLite unless ``database_url`` is given) in a temporary directory."""

    home: Path
    env: dict[str, str]

    @classmethod
    def create(cls, database_url: str | None = None, schema: str | None = None) -> Vault:
        home = Path(tempfile.mkdtemp(prefix="bench-vault-"))
        env = dict(os.environ)
        env.update(
            {
                "VAULT_DATABASE_URL": database_url or f"sqlite:///{home / 'vault.db'}",
                "VAULT_KEK_FILE": str(home / "kek.json"),
                "VAULT_LOG_LEVEL": "INFO",  # the access log stays on: it is part of the per-request cost
                "VAULT_API_RATE_PER_MINUTE": "100000000",
                "VAULT_MAINTENANCE_INTERVAL_SECONDS": "0",
                "VAULT_ARGON2_TIME_COST": "1",
                "VAULT_ARGON2_MEMORY_KIB": "64",
            }
        )
        if schema:
            env["VAULT_DATABASE_SCHEMA"] = schema
        subprocess.run([PY, "-m", "vault_server", "init"], env=env, cwd=home, check=True, capture_output=True)
        return cls(home=home, env=env)

    @contextmanager
    def serve(self, *, workers: int = 1, core: str | None = SERVER_CORE) -> Iterator[str]:
        """``intent-vault serve`` (access log to a file, as an operator would keep it); yields the base URL."""
        port = free_port()
        cmd = [PY, "-m", "vault_server", "serve", "--port", str(port), "--workers", str(workers)]
        with open(self.home / f"server-{port}.log", "wb") as log:
            proc = subprocess.Popen(pinned(cmd, core), env=self.env, cwd=self.home, stdout=log, stderr=log)
            base = f"http://127.0.0.1:{port}"
            PIDS[base] = proc.pid  # taskset execs the server: same pid
            try:
                wait_up(base + "/healthz", proc)
                yield base
            finally:
                stop(proc)

    def cleanup(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


@contextmanager
def node_peer(directory: Path, args: Sequence[str], probe: str, core: str | None = SERVER_CORE) -> Iterator[str]:
    """A node peer (``npm ci`` in ``directory`` first); yields its base URL."""
    if not (directory / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        pinned(["node", *args, str(port)], core), cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    PIDS[base] = proc.pid
    try:
        wait_up(base + probe, proc)
        yield base
    finally:
        stop(proc)


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds the server process used during the run (0: not measured)

    @property
    def ok_rps(self) -> float:
        """Successful (2xx/3xx) answers per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Successful answers per CPU-second of the server: what one core it had to itself would serve, whatever
        else the host runs (a single-process server; comparable between the vault and a node peer)."""
        return (self.requests - self.errors) / self.cpu if self.cpu else 0.0


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")


def wrk(
    url: str,
    *,
    seconds: int = 5,
    connections: int = 16,
    threads: int = 2,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    core: str | None = CLIENT_CORE,
    server: str | None = None,
) -> WrkResult:
    """One wrk run (keep-alive, ``connections`` connections); requests/s and latency percentiles."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    pid = PIDS.get(server) if server else None
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(pinned(cmd, core), check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(pid) - before if pid else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses:\s+(\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        m = re.search(pattern, out)
        if m:
            errors += sum(int(g) for g in m.groups())
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    requests = int(total.group(1)) if total else 0
    elapsed = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)] if total else 0.0
    p50_ms = _ms(p50.group(1)) if p50 else float("nan")
    return WrkResult(rps, p50_ms, _ms(p99.group(1)) if p99 else float("nan"), errors, requests, elapsed, cpu)


def spread(values: Sequence[float], digits: int = 0) -> str:
    """``median (min-max)`` of several runs."""
    med, lo, hi = statistics.median(values), min(values), max(values)
    if digits == 0:
        return f"{med:,.0f} ({lo:,.0f}-{hi:,.0f})"
    return f"{med:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def machine() -> str:
    """One line describing the host, its load and the software measured."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() or "no node"
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split(" [")[0]
    return (
        f"{os.cpu_count()} x {cpu}, Linux {platform.release()}, Python {platform.python_version()}, node {node}, "
        f"{wrk_v}; load average {load} (1/5/15 min) when measured"
    )


def token() -> str:
    return secrets.token_hex(4)
