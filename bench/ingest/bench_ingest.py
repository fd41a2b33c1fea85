"""Ingest throughput through the real HTTP server vs the raw limit of the same machine.

For each backend (SQLite file, PostgreSQL schema) and each population (1 consumer, 10,000 consumers):
start ``intent-vault serve`` (uvicorn, one process) on a fresh vault, POST batches of 100 gesture events
from a few concurrent client threads, and report events/s. Next to it, in the same run, the raw limit:
the same number of rows AES-256-GCM-encrypted and inserted with plain ``sqlite3.executemany`` or
PostgreSQL ``COPY`` (no validation, no dedup, no signals, no HTTP).

    .venv/bin/python bench/ingest/bench_ingest.py [--events 20000] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
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


def setup_vault(backend: str, consumers: int, workdir: Path) -> tuple[dict[str, str], list[str]]:
    """A fresh migrated vault with ``consumers`` accounts and one personal token each; returns env and tokens."""
    kek = workdir / "kek.json"
    KeyRing.generate().save(kek)
    env = {
        "VAULT_KEK_FILE": str(kek),
        "VAULT_LOG_LEVEL": "WARNING",
        "VAULT_MAINTENANCE_INTERVAL_SECONDS": "0",
        "VAULT_API_RATE_PER_MINUTE": "10000000",
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
    return env, tokens


def drop_schema(env: dict[str, str]) -> None:
    schema = env.get("VAULT_DATABASE_SCHEMA")
    if schema:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault_server", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def http_ingest(port: int, tokens: list[str], total: int, batch: int = 100, threads: int = 4) -> float:
    now = datetime.now(UTC)
    batches = [[make_event(now) for _ in range(batch)] for _ in range(total // batch)]
    owners = [random.choice(tokens) for _ in batches]

    def send(chunk: list[tuple[str, list[dict[str, Any]]]]) -> int:
        accepted = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            for token, events in chunk:
                r = c.post("/v1/gestures", json={"events": events}, headers={"Authorization": f"Bearer {token}"})
                r.raise_for_status()
                accepted += r.json()["accepted"]
        return accepted

    work = list(zip(owners, batches, strict=True))
    chunks = [work[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        accepted = sum(pool.map(send, chunks))
    elapsed = time.perf_counter() - start
    assert accepted == len(batches) * batch, f"only {accepted} accepted"
    return accepted / elapsed


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


def raw_sqlite(total: int, workdir: Path) -> float:
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
    return total / (time.perf_counter() - start)


def raw_postgres(total: int) -> float:
    schema = "raw_" + secrets.token_hex(4)
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(RAW_DDL.format(blob="bytea"))
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
            return total / (time.perf_counter() - start)
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--populations", default="1,10000")
    args = parser.parse_args()
    print("| backend | consumers | events | vault events/s (HTTP, batches of 100) | raw events/s | vault/raw |")
    print("|---|---:|---:|---:|---:|---:|")
    for backend in args.backends.split(","):
        for consumers in (int(p) for p in args.populations.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                print(f"  setting up {backend} with {consumers} consumers...", file=sys.stderr)
                env, tokens = setup_vault(backend, consumers, workdir)
                port = 18000 + random.randint(0, 999)
                proc = run_server(env, port)
                try:
                    vault = http_ingest(port, tokens, args.events)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                    drop_schema(env)
                raw = raw_sqlite(args.events, workdir) if backend == "sqlite" else raw_postgres(args.events)
                print(
                    f"| {backend} | {consumers} | {args.events} | {vault:,.0f} | {raw:,.0f} | {vault / raw:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
