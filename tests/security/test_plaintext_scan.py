"""Plaintext scan: distinctive markers written through the public API never appear in the stored database.

On SQLite the raw database file and its WAL are read byte by byte; on PostgreSQL every table of the run's
schema is dumped (text and bytea). Extend ``write_consumer_data`` whenever a room stores consumer data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from vault_server.context import VaultContext

from ..conftest import PASSWORD, log_in, sign_up

MARKER = "zqxw7781marker"


def write_consumer_data(client: TestClient, marker: str) -> list[str]:
    """Store a consumer's data through the public API; returns the marker strings that were written."""
    email = f"{marker}@example.com"
    name = f"Name-{marker.upper()}"
    sign_up(client, email, name=name)
    csrf = log_in(client, email)
    assert client.get("/v1/me").json()["name"] == name
    headers = {"X-CSRF-Token": csrf}
    now = datetime.now(UTC)
    product = {
        "name": f"Television {marker}-product 65 inch",
        "brand": f"Brand{marker}",
        "price": 799.0,
        "currency": "EUR",
        "sku": f"SKU{marker}",
    }
    events = [
        {
            "id": str(uuid.uuid4()),
            "type": "search",
            "ts": (now - timedelta(minutes=9)).isoformat(),
            "origin": f"https://{marker}-shop.example",
            "path": "/search",
            "query": f"tv {marker}-query",
        },
        {
            "id": str(uuid.uuid4()),
            "type": "product_view",
            "ts": (now - timedelta(minutes=8)).isoformat(),
            "origin": "https://shop.example",
            "path": f"/p/{marker}-path",
            "product": product,
        },
        {
            "id": str(uuid.uuid4()),
            "type": "cart_add",
            "ts": (now - timedelta(minutes=7)).isoformat(),
            "origin": "https://shop.example",
            "path": "/cart",
            "product": product,
        },
    ]
    r = client.post("/v1/gestures", json={"events": events}, headers=headers)
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    r = client.post(
        "/v1/intents",
        json={"category": "electronics.tv", "text": f"want a tv {marker}-intent", "must_haves": [f"{marker}-must"]},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = client.put("/v1/me/settings", json={"opt_in_categories": ["health.pharmacy"]}, headers=headers)
    assert r.status_code == 200
    signals = client.get("/v1/signals").json()["signals"]
    assert signals and signals[0]["category"] == "electronics.tv"
    # category ids are intents too: they must not be readable in the database either
    return [marker, marker.upper(), name, "electronics.tv", "health.pharmacy"]


def _raw_sqlite(ctx: VaultContext) -> bytes:
    path = Path(make_url(ctx.settings.database_url).database or "")
    with ctx.db.engine.connect() as conn:  # flush what can be flushed, but also read the WAL as it is
        conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    blobs = [path.read_bytes()]
    for suffix in ("-wal", "-journal"):
        extra = Path(str(path) + suffix)
        if extra.exists():
            blobs.append(extra.read_bytes())
    return b"".join(blobs)


def _dump_postgres(ctx: VaultContext) -> bytes:
    out: list[bytes] = []
    with ctx.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    out.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(out)


def _stored_bytes(ctx: VaultContext) -> bytes:
    return _raw_sqlite(ctx) if ctx.db.dialect == "sqlite" else _dump_postgres(ctx)


def test_no_marker_in_storage(client: TestClient, ctx: VaultContext) -> None:
    markers = write_consumer_data(client, MARKER)
    account_id = client.get("/v1/me").json()["id"]
    stored = _stored_bytes(ctx)
    assert account_id.encode() in stored, "the scan did not read the rows: the test would be meaningless"
    for marker in markers:
        for form in {marker, marker.lower()}:
            assert form.encode() not in stored, f"{form!r} found in plaintext in the database"
            assert form.encode("utf-16-le") not in stored


def test_scan_would_catch_plaintext(client: TestClient, ctx: VaultContext) -> None:
    """The scanner itself works: a value stored in the clear is found."""
    sign_up(client, "plain@example.com", password=PASSWORD)
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE account SET role = :r WHERE role = 'consumer'"), {"r": "zqxclear"})
    assert b"zqxclear" in _stored_bytes(ctx)


def test_audit_entries_name_nothing_personal(client: TestClient, ctx: VaultContext) -> None:
    """A vendor reads a consumer's signals: the audit log's public details carry no category id and no id that
    joins to the consumer's rows (grant, pairwise subject); the consumer's own access log still shows the names,
    and the compliance check still proves every read was covered."""
    from vault_server.audit.check import run_check
    from vault_server.audit.models import AuditEntry
    from vault_server.grants.models import Grant

    from ..api.test_feed_support import STAGE_RECIPES, detail, feed_all, make_consumer, make_grant, make_vendor, record

    vendor, secret = make_vendor(ctx)
    alice = make_consumer(ctx, "alice@example.com")
    grant = make_grant(ctx, alice, vendor, [detail(["electronics"], ["stage", "score"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    items, _ = feed_all(client, (vendor, secret))
    assert any(i.get("signals") for i in items), "the vendor read signals: the log has read entries to scan"
    with ctx.db.session() as s:
        rows = list(s.exec(select(AuditEntry)).all())
        stored_grant = s.get(Grant, grant.id)
        assert stored_grant is not None
        subject = stored_grant.subject
    log = b"\n".join(r.entry.encode() for r in rows)
    assert b"vendor.read" in log and vendor.encode() in log  # the scan reads the entries
    for clear in ("electronics.tv", "electronics", grant.id, subject, alice):
        assert clear.encode() not in log, f"{clear!r} in the audit log's public part"
    findings = run_check(ctx, max_delay_seconds=3600).lines()
    assert not [f for f in findings if f.startswith(("uncovered-read", "read-after-revoke"))], findings
    log_in(client, "alice@example.com")
    reads = client.get("/v1/me/access-log").json()["items"]
    assert reads and reads[0]["details"]["categories"] == ["electronics.tv"]
    assert reads[0]["details"]["grant_id"] == grant.id
