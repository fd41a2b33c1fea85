"""Vendor feed and webhook benchmark on PostgreSQL.

    .venv/bin/python bench/feed/bench_feed.py [--consumers 10000,100000] [--vendors 100] [--grants-per-consumer 3]
        [--pages 40] [--webhooks 2000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

For each population size a fresh schema is filled directly (bulk inserts, real encryption): N consumers with
their own data keys and 10 encrypted signal states each (a real state from the scoring engine, re-encrypted per
consumer and row), 100 approved vendors, each consumer granting ``--grants-per-consumer`` random vendors 2-3
categories, and the feed change log those grants and a round of signal updates would have written. Then:

- **backlog page**: a vendor reads its feed from the start in pages of 100 (cold backlog: every item is a subject
  whose signals are decrypted, narrowed and audited; one signals query and one audit batch per page);
- **poll page**: the vendor follows with its cursor after 5 new changes (the steady state);
- **304**: the caught-up poll again with its ``If-None-Match`` (one index lookup, nothing built or audited);
- statements per page are counted with a ``before_cursor_execute`` listener (max over the pages: constant, not
  per item);
- **webhooks/s** (``--webhooks 0`` skips them; bench/webhooks/ is the dedicated bench): a local receiver;
  ``grant.created`` messages (no consumer data) and ``signal.updated`` messages (evaluated, narrowed, audited
  before sending) through ``tasks.run_once``.

Prints markdown tables; results go in bench/feed/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import sys
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastapi.testclient import TestClient
from sqlalchemy import event, insert, text
from sqlmodel import select

from vault_server.accounts.models import Account
from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.crypto.envelope import ConsumerCipher, new_dek, wrap_dek, wrapped_kid
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.models import DataKey
from vault_server.crypto.service import cipher_for
from vault_server.db import Database, migrate, utcnow
from vault_server.feed import outbox, service, tasks
from vault_server.feed.models import DELIVERY_TABLE, ENDPOINT_TABLE, FEED_CHANGE_TABLE
from vault_server.feed.webhooks import new_secret, seal_secret
from vault_server.grants.models import Grant
from vault_server.intents import service as intents
from vault_server.oauth.pairwise import subject_for
from vault_server.signals.engine import SignalState
from vault_server.signals.models import SignalRow
from vault_server.signals.state import decode_state
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppRegistration

PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CATEGORIES = [
    "electronics.tv",
    "electronics.headphones",
    "electronics.camera",
    "computers.laptop",
    "computers.monitor",
    "phones.smartphone",
    "appliances.washing_machine",
    "appliances.fridge",
    "electronics.console",
    "computers.tablet",
]
GRANTABLE = ["electronics", "computers", "phones", "appliances"]
CHUNK = 5000


def ms(values: list[float], p: float, digits: int = 0) -> str:
    return f"{percentile(values, p) * 1000:.{digits}f}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def template_states(ctx: VaultContext) -> dict[str, dict[str, Any]]:
    """Real signal states from the engine: one throwaway consumer records gestures in every category."""
    from vault_server.accounts import service as accounts

    with ctx.db.session() as s:
        acc = accounts.sign_up(session=s, ring=ctx.ring, hasher=ctx.hasher, email="template@bench", password="x" * 12)
        account_id = acc.id
    kinds = ["product_view", "product_view", "compare", "cart_add"]
    for c in CATEGORIES:
        events = [
            {
                "id": str(uuid.uuid4()),
                "type": t,
                "ts": (utcnow() - timedelta(minutes=60 - i)).isoformat(),
                "origin": "https://shop.example",
                "path": "/p/{id}",
                "category": c,
                "product": {"name": "Thing", "brand": "Acme", "price": 300.0, "currency": "EUR"},
            }
            for i, t in enumerate(kinds[: random.randint(1, 4)])
        ]
        with ctx.db.session() as s:
            intents.ingest(session=s, ctx=ctx, account_id=account_id, events=events)
    out: dict[str, dict[str, Any]] = {}
    with ctx.db.session() as s:
        cipher = cipher_for(session=s, ring=ctx.ring, account_id=account_id)
        for row in s.exec(select(SignalRow).where(SignalRow.account_id == account_id)).all():
            doc = decode_state(cipher, row.category_index, row.state)
            out[doc["state"]["category"]] = doc
    return out


def populate(ctx: VaultContext, consumers: int, n_vendors: int, per_consumer: int) -> list[tuple[str, str]]:
    """Fill the schema; returns the vendors' (client_id, secret)."""
    rng = random.Random(7)
    states = template_states(ctx)
    plaintexts = {
        c: json.dumps({"state": SignalState.from_dict(d["state"]).to_dict(), "extras": d.get("extras", {})},
                      separators=(",", ":")).encode()
        for c, d in states.items()
    }  # fmt: skip
    vendor_creds: list[tuple[str, str]] = []
    with ctx.db.session() as s:
        for i in range(n_vendors):
            body = AppRegistration(name=f"Vendor {i}", redirect_uris=["https://v.example/cb"])
            app, secret = vendors.register(session=s, body=body, owner_account_id=None, via="portal")
            vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="bench")
            vendor_creds.append((app.id, secret or ""))
    vendor_ids = [v for v, _ in vendor_creds]
    now = utcnow()
    expires = now + timedelta(days=60)
    t0 = time.perf_counter()
    for start in range(0, consumers, CHUNK):
        accounts_rows, keys, signal_rows, grant_rows, feed_rows = [], [], [], [], []
        for _ in range(min(CHUNK, consumers - start)):
            account_id = str(uuid.uuid4())
            dek = new_dek()
            wrapped = wrap_dek(ctx.ring, account_id, dek)
            cipher = ConsumerCipher(account_id, dek)
            accounts_rows.append(
                {"id": account_id, "role": "consumer", "email_index": secrets.token_hex(16), "paused": False,
                 "created_at": now}
            )  # fmt: skip
            keys.append(
                {"account_id": account_id, "wrapped": wrapped, "kek_id": wrapped_kid(wrapped), "created_at": now}
            )
            for category, plain in plaintexts.items():
                index = intents.category_index(ctx, account_id, category)
                blob = cipher.encrypt("signal_state", f"{account_id}:{index}", plain)
                signal_rows.append(
                    {"account_id": account_id, "category_index": index, "policy_hash": ctx.policy.hash,
                     "updated_at": now, "version": 1, "state": blob}
                )  # fmt: skip
            for vendor_id in rng.sample(vendor_ids, per_consumer):
                gid = str(uuid.uuid4())
                cats = rng.sample(GRANTABLE, rng.randint(2, 3))
                details = [
                    {"type": "intent_signals", "categories": cats, "min_stage": "interest",
                     "fields": ["stage", "score", "price_band"], "purpose": "Offers", "retention_days": 30,
                     "frequency": "daily"}
                ]  # fmt: skip
                subject = subject_for(ctx.ring, account_id=account_id, vendor_id=vendor_id)
                grant_rows.append(
                    {"id": gid, "account_id": account_id, "vendor_id": vendor_id, "subject": subject,
                     "scope": "signals:read", "authorization_details": details, "requested": {}, "purpose": "Offers",
                     "retention_days": 30, "identity_fields": "", "version": 1, "created_at": now,
                     "updated_at": now, "expires_at": expires}
                )  # fmt: skip
                for kind in ("grant.created", "signal.updated"):
                    feed_rows.append(
                        {"vendor_id": vendor_id, "subject": subject, "grant_id": gid, "kind": kind, "created_at": now}
                    )
        rng.shuffle(feed_rows)
        with ctx.db.session() as s:
            s.execute(insert(Account), accounts_rows)
            s.execute(insert(DataKey), keys)
            s.execute(insert(SignalRow), signal_rows)
            s.execute(insert(Grant), grant_rows)
            s.execute(insert(FEED_CHANGE_TABLE), feed_rows)
        done = start + len(accounts_rows)
        print(f"  {done}/{consumers} consumers ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    with ctx.db.session() as s:
        s.execute(text("ANALYZE"))
    while True:  # give every backlog row its read position
        with ctx.db.session() as s:
            from vault_server.feed.service import stamp

            if stamp(s) == 0:
                break
    return vendor_creds


def bench_pages(ctx: VaultContext, vendor_creds: list[tuple[str, str]], pages: int) -> dict[str, Any]:
    app = create_app(ctx=ctx)
    statements: list[str] = []
    poll_statements: list[int] = []
    page_statements: list[float] = []
    event.listen(ctx.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    full: list[float] = []
    poll: list[float] = []
    not_modified: list[float] = []
    cpu: dict[str, list[float]] = {"full": [], "poll": [], "304": []}
    items_per_page: list[int] = []
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        vi = 0
        while len(full) < pages:
            vendor, secret = vendor_creds[vi % len(vendor_creds)]
            vi += 1
            cursor = None
            for _ in range(3):  # three consecutive backlog pages per vendor
                params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                statements.clear()
                t, c = time.perf_counter(), time.process_time()
                r = client.get("/v1/feed", params=params, auth=(vendor, secret))
                full.append(time.perf_counter() - t)
                cpu["full"].append(time.process_time() - c)
                assert r.status_code == 200, r.text
                body = r.json()
                items_per_page.append(len(body["items"]))
                page_statements.append(len(statements))
                cursor = body["next_cursor"]
        # steady state: a vendor that is caught up gets 5 new changes, then polls once
        for vendor, secret in vendor_creds[: min(len(vendor_creds), pages)]:
            with ctx.db.session() as s:
                cursor = service.encode_cursor(ctx, vendor, service.head_position(s, vendor))
            with ctx.db.session() as s:
                grants = list(s.exec(select(Grant).where(Grant.vendor_id == vendor).limit(5)).all())
                s.execute(
                    insert(FEED_CHANGE_TABLE),
                    [{"vendor_id": vendor, "subject": g.subject, "grant_id": g.id, "kind": "signal.updated",
                      "created_at": utcnow()} for g in grants],
                )  # fmt: skip
            statements.clear()
            t, c = time.perf_counter(), time.process_time()
            r = client.get("/v1/feed", params={"cursor": cursor, "limit": 100}, auth=(vendor, secret))
            poll.append(time.perf_counter() - t)
            cpu["poll"].append(time.process_time() - c)
            assert r.status_code == 200 and len(r.json()["items"]) == 5, r.text
            poll_statements.append(len(statements))
            # caught up: the same poll again with its ETag (what a polling vendor sends most of the time)
            t, c = time.perf_counter(), time.process_time()
            again = client.get(
                "/v1/feed", params={"cursor": cursor, "limit": 100}, auth=(vendor, secret),
                headers={"If-None-Match": r.headers["etag"]},
            )  # fmt: skip
            not_modified.append(time.perf_counter() - t)
            cpu["304"].append(time.process_time() - c)
            assert again.status_code == 304, again.status_code
    return {
        "full": full,
        "poll": poll,
        "304": not_modified,
        "items": items_per_page,
        "per_page": max(page_statements),
        "cpu": cpu,
        "poll_statements": max(poll_statements),
    }


class _Sink(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with _Sink.lock:
            _Sink.count += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def bench_webhooks(ctx: VaultContext, vendor_creds: list[tuple[str, str]], n: int) -> dict[str, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    vendor = vendor_creds[0][0]
    endpoint_id = str(uuid.uuid4())
    with ctx.db.session() as s:
        s.execute(
            insert(ENDPOINT_TABLE),
            [{"id": endpoint_id, "vendor_id": vendor, "url": url, "events": ["grant.created", "signal.updated"],
              "secret_enc": seal_secret(ctx, endpoint_id, new_secret()), "description": "", "enabled": True,
              "created_at": utcnow(), "updated_at": utcnow()}],
        )  # fmt: skip
        grants = list(s.exec(select(Grant).where(Grant.vendor_id == vendor).limit(n)).all())
    rates: dict[str, float] = {}
    for kind in ("grant.created", "signal.updated"):
        rows = [
            {"id": outbox.new_message_id(), "endpoint_id": endpoint_id, "vendor_id": vendor, "event_type": kind,
             "subject": grants[i % len(grants)].subject, "grant_id": grants[i % len(grants)].id, "ref_id": None,
             "status": "pending", "attempts": 0, "next_attempt_at": utcnow(), "created_at": utcnow()}
            for i in range(n)
        ]  # fmt: skip
        with ctx.db.session() as s:
            s.execute(insert(DELIVERY_TABLE), rows)
        before = _Sink.count
        t = time.perf_counter()
        delivered = 0
        while True:
            tick = tasks.run_once(ctx, batch=200, concurrency=64)
            if not tick.claimed:
                break
            delivered += tick.delivered
        elapsed = time.perf_counter() - t
        assert _Sink.count - before == delivered > 0, (_Sink.count - before, delivered)
        rates[kind] = delivered / elapsed
    server.shutdown()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--consumers", default="10000,100000")
    parser.add_argument("--vendors", type=int, default=100)
    parser.add_argument("--grants-per-consumer", type=int, default=3)
    parser.add_argument("--pages", type=int, default=45)
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--database-url", default=PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the schemas")
    args = parser.parse_args()
    run_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-feed-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    kek = run_dir / "kek.json"
    KeyRing.generate().save(kek)
    print(f"# Feed benchmark ({platform.python_version()}, {platform.machine()}, PostgreSQL)\n")
    print(
        "| consumers | grants (all vendors) | feed rows | backlog page p50 / p99 (ms) | items/page | SQL per backlog "
        "page (max) | poll page (5 items) p50 / p99 (ms) | SQL per poll (max) | 304 p50 / p99 (ms) | "
        "webhooks/s grant.created | webhooks/s signal.updated | fill (s) | vault CPU per request p50 / p99 (ms): "
        "backlog, poll, 304 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for consumers in (int(x) for x in args.consumers.split(",")):
        schema = f"bench_feed_{consumers}_{secrets.token_hex(3)}"
        settings = Settings(
            database_url=args.database_url, database_schema=schema, kek_file=kek, argon2_time_cost=1,
            argon2_memory_kib=64, log_level="WARNING", base_url="http://127.0.0.1:8000",
            allow_private_webhooks=True,  # the receiver is on loopback
        )  # fmt: skip
        db = Database(settings)
        migrate(db)
        ctx = build_context(settings, db=db)
        try:
            t = time.perf_counter()
            creds = populate(ctx, consumers, args.vendors, args.grants_per_consumer)
            fill = time.perf_counter() - t
            pages = bench_pages(ctx, creds, args.pages)
            hooks = (
                bench_webhooks(ctx, creds, args.webhooks)
                if args.webhooks
                else {"grant.created": float("nan"), "signal.updated": float("nan")}
            )
            with ctx.db.session() as s:
                n_grants = s.execute(text("SELECT count(*) FROM consent_grant")).scalar()
                n_rows = s.execute(text("SELECT count(*) FROM feed_change")).scalar()
            print(
                f"| {consumers:,} | {n_grants:,} | {n_rows:,} | {ms(pages['full'], 50)} / {ms(pages['full'], 99)} | "
                f"{statistics.mean(pages['items']):.0f} | {pages['per_page']} | "
                f"{ms(pages['poll'], 50)} / {ms(pages['poll'], 99)} | {pages['poll_statements']} | "
                f"{ms(pages['304'], 50, 1)} / {ms(pages['304'], 99, 1)} | {hooks['grant.created']:.0f} | "
                f"{hooks['signal.updated']:.0f} | {fill:.0f} | "
                + ", ".join(
                    f"{ms(pages['cpu'][k], 50, 1)} / {ms(pages['cpu'][k], 99, 1)}" for k in ("full", "poll", "304")
                )
                + " |",
                flush=True,
            )
        finally:
            ctx.db.dispose()
            if not args.keep:
                admin = Database(Settings(database_url=args.database_url))
                with admin.engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
