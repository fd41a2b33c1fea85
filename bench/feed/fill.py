"""Fast population fill for the feed bench (PostgreSQL): 1M consumers in minutes, with real encryption.

    .venv/bin/python bench/feed/fill.py --consumers 1000000 --schema bench_feed_1m --kek /tmp/kek.json

Per consumer, as the real write paths leave them:

- an ``account`` row and a ``data_key``: a fresh 256-bit data key wrapped under the KEK with the consumer's id as
  AAD (``crypto.envelope.wrap_dek``), so every feed read does the real unwrap of every consumer on its page;
- ``--states`` encrypted ``signal_state`` rows (a real state from the scoring engine, encrypted under that
  consumer's own data key, bound to its blind category index, exactly what ``signals.state`` writes);
- ``--grants-per-consumer`` grants to random vendors (2-3 top-level categories, ``min_stage`` interest) with
  their pairwise subjects, and the change log those grants and one round of signal updates write (2 rows per
  grant), already stamped with read positions (what ``feed.service.stamp`` would hand out after commit);
- then per vendor five ``signal.updated`` rows of five distinct grants at the head of its feed: the "5 new
  items" a caught-up vendor's poll returns.

Rows are generated in Python (the encryption has to be) and streamed with ``COPY ... FROM STDIN`` by a writer
thread while the next chunk is built; the non-key indexes are built once at the end. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import random
import secrets
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text
from sqlmodel import select

from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.crypto.envelope import ConsumerCipher, new_dek, unwrap_dek, wrap_dek, wrapped_kid
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.sealed import sealer_for
from vault_server.crypto.service import cipher_for
from vault_server.db import Database, migrate, utcnow
from vault_server.intents import service as intents
from vault_server.oauth.pairwise import subject_for
from vault_server.signals.engine import SignalState
from vault_server.signals.models import SignalRow
from vault_server.signals.state import category_index, decode_state, signal_row_id
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
NEW_ITEMS = 5  # the poll page: changes at the head of each vendor's feed
CHUNK = 10_000
STATES = 3  # categories a consumer is active in (of 10): 1 KB of ciphertext each
# secondary indexes dropped during the COPY and built once at the end (much faster than growing them row by row)
DEFERRED_INDEXES = {
    "feed_change": ["ix_feed_change_vendor_pos", "ix_feed_change_vendor_seq", "ix_feed_change_unstamped"],
    "consent_grant": ["ix_consent_grant_account_id", "ix_consent_grant_subject", "ix_grant_vendor_live"],
    "signal_state": ["ix_signal_version", "ix_signal_policy"],
    "data_key": ["ix_data_key_kek_id"],
    "account": ["ix_account_role"],
}


@dataclass
class Population:
    schema: str
    consumers: int
    vendors: list[tuple[str, str]]  # (client_id, secret)
    poll_after: dict[str, int] = field(default_factory=dict)  # vendor -> position just before its 5 new items
    seconds: float = 0.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def settings_for(database_url: str, schema: str, kek: Path) -> Settings:
    return Settings(
        database_url=database_url, database_schema=schema, kek_file=kek, argon2_time_cost=1, argon2_memory_kib=64,
        log_level="WARNING", base_url="http://127.0.0.1:8000",
    )  # fmt: skip


def template_states(ctx: VaultContext) -> dict[str, bytes]:
    """Real signal states from the engine: one throwaway consumer records gestures in every category; returns
    category -> the plaintext ``signal_state`` document (what ``state_values`` encrypts)."""
    from vault_server.accounts import service as accounts

    with ctx.db.session() as s:
        acc = accounts.sign_up(session=s, ring=ctx.ring, hasher=ctx.hasher, email="template@bench", password="x" * 12)
        account_id = acc.id
    kinds = ["product_view", "product_view", "compare", "cart_add"]
    rng = random.Random(11)
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
            for i, t in enumerate(kinds[: rng.randint(2, 4)])
        ]
        with ctx.db.session() as s:
            intents.ingest(session=s, ctx=ctx, account_id=account_id, events=events)
    out: dict[str, bytes] = {}
    with ctx.db.session() as s:
        cipher = cipher_for(session=s, ring=ctx.ring, account_id=account_id)
        for row in s.exec(select(SignalRow).where(SignalRow.account_id == account_id)).all():
            doc = decode_state(cipher, row.category_index, row.state)
            state = SignalState.from_dict(doc["state"]).to_dict()
            plain = {"state": state, "extras": doc.get("extras", {})}
            out[doc["state"]["category"]] = json.dumps(plain, separators=(",", ":")).encode()
    return out


Batch = dict[str, list[tuple[Any, ...]]]


def _writer(dsn_conn: Any, jobs: queue.Queue[Batch | None], errors: list[BaseException]) -> None:
    columns = {
        "account": "id, role, email_index, paused, created_at",
        "data_key": "account_id, wrapped, kek_id, created_at",
        "signal_state": "account_id, category_index, policy_hash, updated_at, version, state",
        "consent_grant": "id, account_id, vendor_id, subject, scope, authorization_details, requested, purpose, "
        "retention_days, identity_fields, version, created_at, updated_at, expires_at",
        "feed_change": "vendor_id, subject, grant_id, kind, created_at, pos",
    }
    try:
        while (batch := jobs.get()) is not None:
            with dsn_conn.cursor() as cur:
                for table, rows in batch.items():
                    with cur.copy(f"COPY {table} ({columns[table]}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            dsn_conn.commit()
    except BaseException as exc:  # surfaced by the producer
        errors.append(exc)
        while jobs.get() is not None:
            pass


def fill(
    *,
    database_url: str,
    schema: str,
    kek: Path,
    consumers: int,
    n_vendors: int = 100,
    per_consumer: int = 3,
    states: int = STATES,
    seed: int = 7,
) -> Population:
    """Create ``schema`` (dropping one of that name), migrate it and fill it; returns the vendors' credentials."""
    t0 = time.perf_counter()
    admin = Database(Settings(database_url=database_url))
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()
    settings = settings_for(database_url, schema, kek)
    db = Database(settings)
    migrate(db)
    ctx = build_context(settings, db=db)
    rng = random.Random(seed)
    plaintexts = list(template_states(ctx).items())
    creds: list[tuple[str, str]] = []
    with ctx.db.session() as s:
        for i in range(n_vendors):
            body = AppRegistration(name=f"Vendor {i}", redirect_uris=["https://v.example/cb"])
            app, secret = vendors.register(session=s, body=body, owner_account_id=None, via="portal")
            vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="bench")
            creds.append((app.id, secret or ""))
    vendor_ids = [v for v, _ in creds]
    # the per-row secrets, computed as the real code does (checked against it below)
    subject_key = ctx.ring.derive("pairwise-subject")
    index_key = ctx.ring.index_key
    policy_hash = ctx.policy.hash
    sealer = sealer_for(ctx.ring)  # grants' sealed columns, as crypto.sealed.SealedJSON writes them

    def sealed(label: str, value: Any) -> bytes:
        return sealer.seal(label, json.dumps(value, separators=(",", ":"), sort_keys=True).encode())

    empty_requested = sealed("consent_grant.requested", {})

    def subject(account_id: str, vendor_id: str) -> str:
        mac = hmac.new(subject_key, f"{vendor_id}\x00{account_id}".encode(), hashlib.sha256).digest()
        return "ps_" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()[:32]

    def cat_index(account_id: str, category: str) -> str:
        return hmac.new(index_key, f"category:{account_id}\x00{category}".encode(), hashlib.sha256).hexdigest()

    probe = str(uuid.uuid4())
    assert subject(probe, vendor_ids[0]) == subject_for(ctx.ring, account_id=probe, vendor_id=vendor_ids[0])
    assert cat_index(probe, CATEGORIES[0]) == category_index(ctx, probe, CATEGORIES[0])

    raw = ctx.db.engine.raw_connection()
    conn = raw.driver_connection  # psycopg 3
    with conn.cursor() as cur:
        for names in DEFERRED_INDEXES.values():
            for name in names:
                cur.execute(f"DROP INDEX IF EXISTS {name}")
        for table in DEFERRED_INDEXES:
            cur.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        # the rows are consistent by construction: skip the per-row foreign-key triggers while copying
        cur.execute("SET session_replication_role = replica")
    conn.commit()
    log(f"  fill {schema}: schema, template and vendors ready at {time.perf_counter() - t0:.0f} s")
    jobs: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
    errors: list[BaseException] = []
    writer = threading.Thread(target=_writer, args=(conn, jobs, errors), daemon=True)
    writer.start()
    now = utcnow()
    expires = now + timedelta(days=365)
    position = 0
    heads: dict[str, list[tuple[str, str]]] = {v: [] for v in vendor_ids}  # vendor -> (grant, subject) for polls
    for start in range(0, consumers, CHUNK):
        batch: Batch = {
            "account": [], "data_key": [], "signal_state": [], "consent_grant": [], "feed_change": []
        }  # fmt: skip
        feed_rows: list[tuple[str, str, str, str]] = []
        for _ in range(min(CHUNK, consumers - start)):
            account_id = str(uuid.uuid4())
            dek = new_dek()
            wrapped = wrap_dek(ctx.ring, account_id, dek)
            cipher = ConsumerCipher(account_id, dek)
            batch["account"].append((account_id, "consumer", secrets.token_hex(16), False, now))
            batch["data_key"].append((account_id, wrapped, wrapped_kid(wrapped), now))
            active = rng.sample(plaintexts, min(states, len(plaintexts)))
            for category, plain in active:
                index = cat_index(account_id, category)
                blob = cipher.encrypt("signal_state", signal_row_id(account_id, index), plain)
                batch["signal_state"].append((account_id, index, policy_hash, now, 1, blob))
            for vendor_id in rng.sample(vendor_ids, per_consumer):
                gid = str(uuid.uuid4())
                # 2-3 top-level categories, one of them where the consumer is active (what a person would grant)
                first = active[rng.randrange(len(active))][0].split(".")[0]
                others = rng.sample([c for c in GRANTABLE if c != first], rng.randint(1, 2))
                details = [
                    {"type": "intent_signals", "categories": [first, *others],
                     "min_stage": "interest", "fields": ["stage", "score", "price_band"], "purpose": "Offers",
                     "retention_days": 30, "frequency": "daily"}
                ]  # fmt: skip
                sub = subject(account_id, vendor_id)
                batch["consent_grant"].append(
                    (gid, account_id, vendor_id, sub, "signals:read",
                     sealed("consent_grant.authorization_details", details), empty_requested, "Offers", 30, "", 1,
                     now, now, expires)
                )  # fmt: skip
                if len(heads[vendor_id]) < NEW_ITEMS:
                    heads[vendor_id].append((gid, sub))
                feed_rows.append((vendor_id, sub, gid, "grant.created"))
                feed_rows.append((vendor_id, sub, gid, "signal.updated"))
        rng.shuffle(feed_rows)
        for vendor_id, sub, gid, kind in feed_rows:
            position += 1
            batch["feed_change"].append((vendor_id, sub, gid, kind, now, position))
        if errors:
            break
        jobs.put(batch)
        done = start + len(batch["account"])
        if done % (CHUNK * 10) == 0 or done == consumers:
            rate = done / (time.perf_counter() - t0)
            log(f"  fill {schema}: {done:,}/{consumers:,} consumers, {rate:,.0f}/s")
    # the poll page: five new signal changes at the head of every vendor's feed
    poll_after: dict[str, int] = {}
    tail: list[tuple[Any, ...]] = []
    for vendor_id in vendor_ids:
        poll_after[vendor_id] = position
        for gid, sub in heads[vendor_id]:
            position += 1
            tail.append((vendor_id, sub, gid, "signal.updated", now, position))
    jobs.put({"feed_change": tail})
    jobs.put(None)
    writer.join()
    if errors:
        raise errors[0]
    log(f"  fill {schema}: rows copied in {time.perf_counter() - t0:.0f} s; building indexes")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute(f"SELECT setval('feed_pos_seq', {position})")
        cur.execute("CREATE INDEX ix_feed_change_vendor_pos ON feed_change (vendor_id, pos)")
        cur.execute("CREATE INDEX ix_feed_change_vendor_seq ON feed_change (vendor_id, seq)")
        cur.execute("CREATE INDEX ix_feed_change_unstamped ON feed_change (seq) WHERE pos IS NULL")
        cur.execute("CREATE INDEX ix_consent_grant_account_id ON consent_grant (account_id)")
        cur.execute("CREATE INDEX ix_consent_grant_subject ON consent_grant (subject)")
        cur.execute("CREATE INDEX ix_grant_vendor_live ON consent_grant (vendor_id, revoked_at, expires_at)")
        cur.execute("CREATE INDEX ix_signal_version ON signal_state (version)")
        cur.execute("CREATE INDEX ix_signal_policy ON signal_state (policy_hash)")
        cur.execute("CREATE INDEX ix_data_key_kek_id ON data_key (kek_id)")
        cur.execute("CREATE INDEX ix_account_role ON account (role)")
        log(f"  fill {schema}: indexes built at {time.perf_counter() - t0:.0f} s; VACUUM ANALYZE")
        for table in DEFERRED_INDEXES:
            cur.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
            cur.execute(f"VACUUM ANALYZE {table}")
    raw.close()
    # the fill must read back through the real code: unwrap one consumer's key
    with ctx.db.session() as s:
        row = s.execute(text("SELECT account_id, wrapped FROM data_key ORDER BY account_id LIMIT 1")).one()
        unwrap_dek(ctx.ring, row[0], bytes(row[1]))
    ctx.db.dispose()
    seconds = time.perf_counter() - t0
    log(f"  fill {schema}: {consumers:,} consumers in {seconds:.0f} s")
    return Population(schema=schema, consumers=consumers, vendors=creds, poll_after=poll_after, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consumers", type=int, default=10_000)
    parser.add_argument("--schema", default="")
    parser.add_argument("--kek", type=Path, required=True, help="keyring file (created when missing)")
    parser.add_argument("--vendors", type=int, default=100)
    parser.add_argument("--grants-per-consumer", type=int, default=3)
    parser.add_argument("--states", type=int, default=STATES)
    parser.add_argument("--database-url", default=PG_URL)
    args = parser.parse_args()
    if not args.kek.exists():
        KeyRing.generate().save(args.kek)
    pop = fill(
        database_url=args.database_url, schema=args.schema or f"bench_feed_{args.consumers}", kek=args.kek,
        consumers=args.consumers, n_vendors=args.vendors, per_consumer=args.grants_per_consumer, states=args.states,
    )  # fmt: skip
    print(json.dumps({"schema": pop.schema, "seconds": round(pop.seconds, 1), "vendors": pop.vendors[:3]}))


if __name__ == "__main__":
    main()
