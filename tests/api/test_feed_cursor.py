"""Cursor stability: while writers commit feed changes out of insert order (transactions held open for random
times), a reader following the feed with its cursor sees every change exactly once — nothing skipped, nothing
repeated — and positions only ever grow."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid

from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.feed import service
from vault_server.feed.models import FeedChange

from .test_feed_support import make_vendor

WRITERS = 6
PER_WRITER = 15


def test_concurrent_writers_never_make_the_reader_skip_or_repeat(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    commit_order: list[int] = []
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        rnd = random.Random(n)
        try:
            for _ in range(PER_WRITER):
                with ctx.db.session() as s:
                    service.emit(
                        s,
                        vendor_id=vendor,
                        subject=f"ps_{uuid.uuid4().hex[:12]}",
                        grant_id=str(uuid.uuid4()),
                        kind="grant.revoked",
                    )
                    s.flush()
                    seq = s.exec(select(FeedChange.seq).order_by(FeedChange.seq.desc())).first()  # type: ignore[union-attr]
                    time.sleep(rnd.uniform(0, 0.03))  # hold the transaction open: commits interleave
                with lock:
                    commit_order.append(int(seq or 0))
        except BaseException as exc:
            errors.append(exc)

    seen: list[int] = []
    seen_grants: list[str] = []

    def reader() -> None:
        cursor: str | None = None
        try:
            while True:
                finished = done.is_set()
                params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
                r = client.get("/v1/feed", params=params, auth=(vendor, secret))
                assert r.status_code == 200, r.text
                body = r.json()
                seen.extend(i["pos"] for i in body["items"])
                seen_grants.extend(i["grant_id"] for i in body["items"])
                cursor = body["next_cursor"]
                if finished and not body["has_more"] and not body["items"]:
                    return
                if not body["items"]:
                    time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    read = threading.Thread(target=reader)
    read.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # on PostgreSQL the last rows become readable once no older transaction is running: give it a moment
    time.sleep(0.2)
    done.set()
    read.join(timeout=60)
    assert not errors, errors
    total = WRITERS * PER_WRITER
    assert len(seen_grants) == len(set(seen_grants)), "an item was delivered twice"
    assert len(seen_grants) == total, f"items skipped: saw {len(seen_grants)} of {total}"
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    with ctx.db.session() as s:
        rows = s.exec(select(FeedChange).where(FeedChange.vendor_id == vendor)).all()
    assert sorted(r.grant_id for r in rows) == sorted(seen_grants)
    if ctx.db.dialect == "postgresql":
        # the scenario really happened: some transaction committed after one with a larger seq
        assert any(a > b for a, b in itertools.pairwise(commit_order)), commit_order
