"""Gesture ingest through the real HTTP server vs the raw limit of the same machine, and one gesture per POST.

For each backend (SQLite file, PostgreSQL schema): start ``intent-vault serve`` (uvicorn, one process, pinned to
one core) on a fresh vault with ``--consumers`` accounts, then

* **batches**: POST batches of 100 gesture events (bodies built before the clock starts) from a few client threads
  on the other core and report events/s. In the same round, the raw limit: the same number of rows
  AES-256-GCM-encrypted and inserted with plain ``sqlite3.executemany`` or PostgreSQL ``COPY`` in batches of 100,
  on the server's core (no HTTP, validation, de-duplication, classification or signal update). The figure is the
  ratio of the two, median of ``--rounds`` rounds with min and max.
* **one gesture per POST**: Debian's ``wrk`` (``bench/ingest/one_gesture.lua``), 16 connections, on the other
  core, against the server on its core: requests/s and p50/p99 latency, median of the rounds.

Prints markdown (for docs/PERFORMANCE.md via bench/run.sh) on stdout, progress on stderr.

    .venv/bin/python bench/ingest/bench_ingest.py [--events 10000] [--rounds 3] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault_server.accounts import service as accounts
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.crypto.keyring import KeyRing
from vault_server.db import migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wrkload import cpu_seconds, machine, spread, stop

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PRODUCTS = [
    ("Samsung 65 inch QLED 4K Smart TV", "Samsung", 899.0),
    ("Sony WH-1000XM5 wireless headphones", "Sony", 349.0),
    ("Nike Pegasus 41 running shoes", "Nike", 129.0),
    ("Bosch Serie 6 washing machine", "Bosch", 649.0),
    ("Lego Technic Porsche 911", "Lego", 179.0),
    ("Dyson V15 cordless vacuum", "Dyson", 599.0),
]
TYPES = ["product_view"] * 6 + ["search", "compare", "review_read", "cart_add"]


def make_event(now: datetime) -> dict[str, Any]:
    name, brand, price = random.choice(PRODUCTS)
    kind = random.choice(TYPES)
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "ts": (now - timedelta(seconds=random.randint(0, 86400 * 7))).isoformat(),
        "origin": "https://shop.example",
        "path": "/p/{id}",
        "dwell_ms": random.randint(1000, 120000),
        "scroll": round(random.random(), 2),
        "product": {"name": name, "brand": brand, "price": price, "currency": "EUR"},
    }
    if kind == "search":
        event["query"] = name.split()[1] + " " + name.split()[2]
    return event


SERVER_CORE = 1
CLIENT_CORE = 0
LUA = ROOT / "bench" / "ingest" / "one_gesture.lua"


def pin(core: int) -> None:
    """Run this process (and what it starts from now on) on ``core`` when the machine has two or more."""
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def setup_vault(backend: str, consumers: int, workdir: Path) -> tuple[dict[str, str], list[str]]:
    """A fresh migrated vault with ``consumers`` accounts and one personal token each; returns env and tokens."""
    kek = workdir / "kek.json"
    KeyRing.generate().save(kek)
    env = {
        "VAULT_KEK_FILE": str(kek),
        "VAULT_LOG_LEVEL": "INFO",  # the access log stays on, as an operator runs it
        "VAULT_MAINTENANCE_INTERVAL_SECONDS": "0",
        "VAULT_API_RATE_PER_MINUTE": "100000000",
        "VAULT_ARGON2_TIME_COST": "1",
        "VAULT_ARGON2_MEMORY_KIB": "8",
    }
    if backend == "postgres":
        env |= {"VAULT_DATABASE_URL": PG_URL, "VAULT_DATABASE_SCHEMA": "bench_" + secrets.token_hex(4)}
    else:
        env["VAULT_DATABASE_URL"] = f"sqlite:///{workdir}/vault.db"
    settings = Settings(
        database_url=env["VAULT_DATABASE_URL"],
        database_schema=env.get("VAULT_DATABASE_SCHEMA"),
        kek_file=kek,
        argon2_time_cost=1,
        argon2_memory_kib=8,
    )
    ctx = build_context(settings)
    migrate(ctx.db)
    tokens: list[str] = []
    for start in range(0, consumers, 500):
        with ctx.db.session() as s:
            for i in range(start, min(consumers, start + 500)):
                acc = accounts.sign_up(
                    session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"b{i}@example.com", password="bench-password-1"
                )
                secret, _ = accounts.issue_api_token(
                    session=s, account_id=acc.id, name="bench", scopes=["gestures:write"]
                )
                tokens.append(secret)
    ctx.db.dispose()
    (workdir / "tokens.txt").write_text("\n".join(tokens) + "\n")
    return env, tokens


def drop_schema(env: dict[str, str]) -> None:
    schema = env.get("VAULT_DATABASE_SCHEMA")
    if schema:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_server(env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """``intent-vault serve`` on the server core, its access log in ``workdir``."""
    cmd = [sys.executable, "-m", "vault_server", "serve", "--port", str(port)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", str(SERVER_CORE), *cmd]
    log = open(workdir / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


def http_ingest(
    port: int, tokens: list[str], total: int, batch: int = 100, threads: int = 4, pid: int = 0
) -> tuple[float, float]:
    """Events/s through ``POST /v1/gestures`` in batches of ``batch`` (bodies serialised before the clock starts),
    and events per CPU-second of the server process ``pid``."""
    now = datetime.now(UTC)
    bodies = [json.dumps({"events": [make_event(now) for _ in range(batch)]}).encode() for _ in range(total // batch)]
    work = [(random.choice(tokens), body) for body in bodies]

    def send(chunk: list[tuple[str, bytes]]) -> int:
        accepted = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            for token, body in chunk:
                r = c.post(
                    "/v1/gestures",
                    content=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                r.raise_for_status()
                accepted += r.json()["accepted"]
        return accepted

    chunks = [work[i::threads] for i in range(threads)]
    cpu = cpu_seconds(pid) if pid else 0.0
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        accepted = sum(pool.map(send, chunks))
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu if pid else 0.0
    assert accepted == len(bodies) * batch, f"only {accepted} accepted"
    return accepted / elapsed, accepted / cpu if cpu > 0 else 0.0


@dataclass(frozen=True)
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    per_cpu: float = 0.0  # answered requests per CPU-second of the server process (what one free core would do)


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if m is None:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk_one_gesture(port: int, workdir: Path, seconds: int, connections: int = 16, pid: int = 0) -> WrkRun:
    """One gesture per POST with wrk on the client core: requests/s, p50 and p99 latency, non-2xx answers."""
    cmd = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA),
        f"http://127.0.0.1:{port}", "--", str(workdir / "tokens.txt"),
    ]  # fmt: skip
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", str(CLIENT_CORE), *cmd]
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(pid) - before if pid else 0.0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError("unexpected wrk output:\n" + out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    total = re.search(r"(\d+) requests in", out)
    answered = int(total.group(1)) - errors if total else 0
    per_cpu = answered / cpu if cpu > 0 else 0.0
    return WrkRun(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), errors, per_cpu)


def raw_rows(total: int) -> list[tuple[str, str, str, str, str, str, bytes]]:
    now = datetime.now(UTC)
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    rows = []
    for _ in range(total):
        e = make_event(now)
        row_id = str(uuid.uuid4())
        nonce = os.urandom(12)
        blob = b"\x01" + nonce + aead.encrypt(nonce, json.dumps(e).encode(), f"gesture|{row_id}|c".encode())
        rows.append((row_id, "c", e["id"], e["type"], secrets.token_hex(32), e["ts"], blob))
    return rows


RAW_DDL = (
    "CREATE TABLE raw_gesture (id varchar(36) primary key, account_id varchar(36), event_id varchar(36), "
    "type varchar(64), category_index varchar(64), ts varchar(40), payload {blob}, "
    "unique (account_id, event_id))"
)


def raw_sqlite(total: int, workdir: Path) -> tuple[float, float]:
    """Events/s and events per CPU-second of this process (which does all the work: no server)."""
    for leftover in workdir.glob("raw.db*"):
        leftover.unlink()
    cpu = time.process_time()
    start = time.perf_counter()
    rows = raw_rows(total)
    conn = sqlite3.connect(workdir / "raw.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(RAW_DDL.format(blob="blob"))
    for i in range(0, total, 100):
        conn.executemany("INSERT INTO raw_gesture VALUES (?,?,?,?,?,?,?)", rows[i : i + 100])
        conn.commit()
    conn.close()
    return total / (time.perf_counter() - start), total / (time.process_time() - cpu)


def raw_postgres(total: int) -> tuple[float, float]:
    """Events/s and events per CPU-second of this process (PostgreSQL's own work is not counted, as for the vault)."""
    schema = "raw_" + secrets.token_hex(4)
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(RAW_DDL.format(blob="bytea"))
        cpu = time.process_time()
        start = time.perf_counter()
        rows = raw_rows(total)
        try:
            for i in range(0, total, 100):
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY raw_gesture (id, account_id, event_id, type, category_index, ts, payload) FROM STDIN"
                    ) as copy,
                ):
                    for row in rows[i : i + 100]:
                        copy.write_row(row)
            return total / (time.perf_counter() - start), total / (time.process_time() - cpu)
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per batch round")
    parser.add_argument("--consumers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-wrk", action="store_true", help="batches only")
    args = parser.parse_args()
    use_wrk = not args.no_wrk and shutil.which("wrk") is not None
    batch_rows: list[str] = []
    wrk_rows: list[str] = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            print(f"  setting up {backend} with {args.consumers} consumers...", file=sys.stderr)
            env, tokens = setup_vault(backend, args.consumers, workdir)
            port = 18000 + random.randint(0, 999)
            proc = run_server(env, port, workdir)
            vault: list[float] = []
            raw: list[float] = []
            vault_cpu: list[float] = []
            raw_cpu: list[float] = []
            runs: list[WrkRun] = []
            try:
                for r in range(args.rounds):
                    pin(CLIENT_CORE)
                    rate, per_cpu = http_ingest(port, tokens, args.events, pid=proc.pid)
                    vault.append(rate)
                    vault_cpu.append(per_cpu)
                    pin(SERVER_CORE)
                    rate, per_cpu = (
                        raw_sqlite(args.events, workdir) if backend == "sqlite" else raw_postgres(args.events)
                    )
                    raw.append(rate)
                    raw_cpu.append(per_cpu)
                    if use_wrk:
                        runs.append(wrk_one_gesture(port, workdir, args.seconds, pid=proc.pid))
                    last = f", wrk {runs[-1].rps:,.0f} req/s p99 {runs[-1].p99_ms:.1f} ms" if runs else ""
                    print(
                        f"  {backend} round {r + 1}: vault {vault[-1]:,.0f} ev/s, raw {raw[-1]:,.0f} ev/s, "
                        f"ratio {vault[-1] / raw[-1]:.2f} (per CPU-second {vault_cpu[-1] / raw_cpu[-1]:.2f}){last}",
                        file=sys.stderr,
                    )
            finally:
                stop(proc)
                drop_schema(env)
            ratios = [v / w for v, w in zip(vault, raw, strict=True)]
            cpu_ratios = [v / w for v, w in zip(vault_cpu, raw_cpu, strict=True)]
            batch_rows.append(
                f"| {backend} | {args.consumers} | {args.events:,} x {args.rounds} | {spread(vault)} | {spread(raw)} "
                f"| **{spread(ratios, 2)}** | {spread(vault_cpu)} | {spread(raw_cpu)} | **{spread(cpu_ratios, 2)}** |"
            )
            if runs:
                wrk_rows.append(
                    f"| {backend} | {spread([x.rps for x in runs])} | {spread([x.p50_ms for x in runs], 1)} "
                    f"| {spread([x.p99_ms for x in runs], 1)} | {sum(x.errors for x in runs)} "
                    f"| {spread([x.per_cpu for x in runs])} |"
                )
    print(f"Machine: {machine()}. Server: `intent-vault serve`, one process pinned to core {SERVER_CORE}; clients")
    print(f"(httpx threads, wrk) pinned to core {CLIENT_CORE}; the raw insert runs on the server's core.")
    print()
    print("Batches of 100 events over HTTP vs the raw encrypted insert, same round (median (min-max)); per CPU-second:")
    print("events per CPU-second of the server process (vault) and of the raw insert's process (what one free core")
    print("would do; PostgreSQL's own processes are counted for neither):")
    print()
    print(
        "| backend | consumers | events x rounds | vault events/s | raw events/s | vault / raw "
        "| vault per CPU-s | raw per CPU-s | vault / raw per CPU-s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(batch_rows))
    if wrk_rows:
        print()
        print(f"One gesture per POST, `wrk -t1 -c16 -d{args.seconds}s`, {args.rounds} runs (median (min-max)):")
        print()
        print("| backend | requests/s | p50 ms | p99 ms | non-2xx or socket errors | requests per server CPU-second |")
        print("|---|---:|---:|---:|---:|---:|")
        print("\n".join(wrk_rows))


if __name__ == "__main__":
    main()
