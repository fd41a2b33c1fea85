"""Webhook delivery throughput: real ``intent-vault worker`` processes against a loopback receiver on PostgreSQL.

    .venv/bin/python bench/webhooks/bench_webhooks.py [--messages 3000] [--workers 1,2] [--runs 3]
        [--consumers 60] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh schema gets one approved vendor, ``--consumers`` consumers who granted it ``electronics`` and have a real
signal there (recorded through the ingest service), and one endpoint at the receiver (bench/webhooks/receiver.py,
its own process, verifying every Standard Webhooks signature with its own HMAC code). Each run starts ``N`` worker
processes, waits until they are idle, then commits ``--messages`` outbox rows at once and times until the
receiver has verified all of them. Two kinds of message are timed separately: ``grant.created`` (no consumer data)
and ``signal.updated`` (signals decrypted, evaluated, narrowed to the grant and written to the audit log before
the request leaves).

Reported per run: deliveries/s for the whole run and per worker process (wall clock: on a shared 2-core host this
includes waiting for PostgreSQL and the receiver), and the worker processes' CPU time per delivery, which is what
one core could sustain if the worker had it alone. Every run also checks that each message arrived exactly once,
signed, and that the outbox rows are all ``delivered``. Prints a markdown table (median, min, max over the runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vault_server.accounts import service as accounts  # noqa: E402
from vault_server.accounts.models import Role  # noqa: E402
from vault_server.config import Settings  # noqa: E402
from vault_server.context import VaultContext, build_context  # noqa: E402
from vault_server.crypto.keyring import KeyRing  # noqa: E402
from vault_server.db import Database, migrate, utcnow  # noqa: E402
from vault_server.feed import hooks, outbox, webhooks  # noqa: E402
from vault_server.feed.models import DELIVERY_TABLE, WebhookDelivery  # noqa: E402
from vault_server.grants import service as grants  # noqa: E402
from vault_server.grants.models import Grant  # noqa: E402
from vault_server.intents import service as intents  # noqa: E402
from vault_server.vendors import service as vendors  # noqa: E402
from vault_server.vendors.models import VendorStatus  # noqa: E402
from vault_server.vendors.schemas import AppRegistration  # noqa: E402

PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KINDS = ("grant.created", "signal.updated")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def populate(ctx: VaultContext, consumers: int, receiver_url: str) -> tuple[str, list[Grant], str]:
    """One vendor, its granting consumers with a real signal each, and the endpoint: (vendor, grants, secret)."""
    body = AppRegistration(
        name="Bench Shop", homepage="https://shop.example", redirect_uris=["https://shop.example/cb"]
    )
    with ctx.db.session() as s:
        app, _ = vendors.register(session=s, body=body, owner_account_id=None, via="portal")
        vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="bench")
        vendor_id = app.id
    detail = {
        "type": "intent_signals",
        "categories": ["electronics"],
        "min_stage": "awareness",
        "fields": ["stage", "score"],
        "purpose": "Offers that fit",
        "retention_days": 30,
        "frequency": "daily",
    }
    made: list[Grant] = []
    for _ in range(consumers):
        with ctx.db.session() as s:
            account = accounts.sign_up(
                session=s,
                ring=ctx.ring,
                hasher=ctx.hasher,
                email=f"c-{uuid.uuid4().hex[:10]}@bench.example",
                password="bench-password-123",
                role=Role.consumer,
            )
            app_row = vendors.get(session=s, client_id=vendor_id)
            assert app_row is not None
            made.append(
                grants.create(
                    session=s,
                    ctx=ctx,
                    account_id=account.id,
                    app=app_row,
                    scope=["signals:read"],
                    details=[detail],
                    requested={"scope": ["signals:read"], "authorization_details": [detail]},
                    identity_fields=[],
                    expires_at=utcnow() + timedelta(days=30),
                )
            )
        events = [
            {
                "id": str(uuid.uuid4()),
                "type": t,
                "ts": (datetime.now(UTC) - timedelta(minutes=30 - i)).isoformat(),
                "origin": "https://shop.example",
                "path": "/p/{id}",
                "category": "electronics.tv",
                "product": {"name": "65 inch TV", "brand": "Acme", "price": 899.0, "currency": "EUR"},
            }
            for i, t in enumerate(["product_view", "product_view", "compare"])
        ]
        with ctx.db.session() as s:
            intents.ingest(session=s, ctx=ctx, account_id=account.id, events=events)
    with ctx.db.session() as s:
        _, secret = webhooks.create_endpoint(
            session=s,
            ctx=ctx,
            vendor_id=vendor_id,
            body=webhooks.EndpointIn(url=receiver_url, events=list(webhooks.EVENT_TYPES)),
        )
    return vendor_id, made, secret


def enqueue(ctx: VaultContext, vendor_id: str, made: list[Grant], kind: str, n: int) -> None:
    with ctx.db.session() as s:
        endpoint_id = s.execute(text("SELECT id FROM webhook_endpoint WHERE vendor_id = :v"), {"v": vendor_id}).scalar()
        now = utcnow()
        rows = [
            {
                "id": outbox.new_message_id(),
                "endpoint_id": endpoint_id,
                "vendor_id": vendor_id,
                "event_type": kind,
                "subject": made[i % len(made)].subject,
                "grant_id": made[i % len(made)].id,
                "ref_id": None,
                "status": outbox.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for i in range(n)
        ]
        s.execute(insert(DELIVERY_TABLE), rows)


def stats(rx: str) -> dict[str, int]:
    return dict(httpx.get(rx + "/stats", timeout=10).json())


def one_run(
    ctx: VaultContext, env: dict[str, str], rx: str, vendor_id: str, made: list[Grant], kind: str, n: int, workers: int
) -> dict[str, float]:
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-worker-", suffix=".log", delete=False)  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [str(Path(sys.executable).with_name("intent-vault")), "worker", "--interval", "0.05"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 180
        while Path(log.name).read_text().count("webhook worker running") < workers:  # imported and migrated
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not start; see {log.name}")
            time.sleep(0.1)
        time.sleep(1.0)  # the first idle tick
        before = stats(rx)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        enqueue(ctx, vendor_id, made, kind, n)
        t0 = time.perf_counter()
        while stats(rx)["delivered"] - before["delivered"] < n:
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("not all messages arrived within 10 minutes")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
        log.close()
    after = stats(rx)
    assert after["bad"] == before["bad"], "a signature did not verify"
    assert after["doubled"] == before["doubled"], "a message arrived twice"
    assert after["distinct"] - before["distinct"] == n, "messages were lost"
    with ctx.db.session() as s:
        undelivered = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status != "delivered")
        pending = s.scalar(undelivered)
    assert pending == 0, f"{pending} outbox rows are not delivered"
    Path(log.name).unlink()
    return {"rate": n / elapsed, "per_worker": n / elapsed / workers, "cpu_ms": cpu / n * 1000}


def summary(values: list[float], fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))} to {fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description="webhook deliveries per second per worker process")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--consumers", type=int, default=60)
    parser.add_argument("--database-url", default=PG_URL)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    kek = tmp / "kek.json"
    KeyRing.generate().save(kek)
    schema = f"bench_webhooks_{secrets.token_hex(4)}"
    settings = Settings(
        database_url=args.database_url,
        database_schema=schema,
        kek_file=kek,
        allow_private_webhooks=True,  # the receiver is on loopback
        argon2_time_cost=1,
        argon2_memory_kib=64,
        log_level="WARNING",
    )
    db = Database(settings)
    migrate(db)
    db.dispose()
    ctx = build_context(settings)
    hooks.install(ctx)
    port = free_port()
    rx = f"http://127.0.0.1:{port}"
    receiver: subprocess.Popen[bytes] | None = None
    try:
        vendor_id, made, secret = populate(ctx, args.consumers, rx + "/hook")
        with ctx.db.session() as s:  # the grants' own grant.created messages were written before the endpoint
            assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        receiver = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("receiver.py")), "--port", str(port), "--secret", secret]
        )
        wait_port(port)
        env = {
            **os.environ,
            "VAULT_DATABASE_URL": args.database_url,
            "VAULT_DATABASE_SCHEMA": schema,
            "VAULT_KEK_FILE": str(kek),
            "VAULT_ALLOW_PRIVATE_WEBHOOKS": "true",
            "VAULT_LOG_LEVEL": "WARNING",
        }
        host = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        load = os.getloadavg()[0]
        print(f"host: {host}, load average {load:.1f}; {args.messages} messages per run, {args.runs} runs")
        print()
        print(
            "| messages | workers | deliveries/s (all workers) | deliveries/s per worker process | "
            "worker CPU per delivery | deliveries per worker CPU-second |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for kind in KINDS:
            for workers in [int(w) for w in args.workers.split(",")]:
                runs = [one_run(ctx, env, rx, vendor_id, made, kind, args.messages, workers) for _ in range(args.runs)]
                per_cpu = [1000 / r["cpu_ms"] for r in runs]
                print(
                    f"| {kind} | {workers} | {summary([r['rate'] for r in runs])} | "
                    f"{summary([r['per_worker'] for r in runs])} | "
                    f"{summary([r['cpu_ms'] for r in runs], '{:.2f}')} ms | "
                    f"{summary(per_cpu)} |",
                    flush=True,
                )
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(timeout=10)
        ctx.db.dispose()
        admin = Database(Settings(database_url=args.database_url))
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
