"""Audit log through the database: append (record()) and proof cost at 10k, 100k, 1M entries.

    .venv/bin/python bench/audit/bench_audit_db.py [--sizes 10000,100000,1000000] [--samples 200]
        [--database-url sqlite:///var/bench-audit.db | postgresql+psycopg://postgres@127.0.0.1:5432/test]

The log is filled to each size with bulk inserts (entries + perfect-subtree nodes computed by
``append_leaves`` over the real ``DbNodeStore``, 20k per transaction); then at that size it measures:

- *record()*: one ``audit.service.record`` per transaction, committed (lock the head row, read the frontier,
  hash, insert entry + nodes, update the head, COMMIT), median and p95 over ``--samples``;
- *inclusion* / *consistency* / *root*: proof generation from ``audit_node`` for random indices (one SELECT each);
- *nodes read*: the ``(level, idx)`` keys of that one SELECT.

PostgreSQL runs in a fresh schema that is dropped afterwards. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert, text

from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.merkle import NodeKey, append_leaves, consistency_proof, inclusion_proof, root_hash
from vault_server.audit.models import AuditEntry
from vault_server.audit.verifier import canonical_json, leaf_hash
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.crypto.keyring import KeyRing
from vault_server.db import Database, migrate, utcnow

FILL_BATCH = 20_000


class CountingStore(store.DbNodeStore):
    keys = 0

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        self.keys += len(keys)
        return super().get_nodes(keys)


def fill(ctx: VaultContext, target: int) -> None:
    """Append filler entries until the log has ``target`` entries (bulk, FILL_BATCH per transaction)."""
    while True:
        with ctx.db.session() as s:
            size, _ = store.lock_head(s)
            if size >= target:
                return
            count = min(FILL_BATCH, target - size)
            at = audit.now_ms()
            entries = []
            leaves = []
            for i in range(size, size + count):
                obj = {
                    "v": 1,
                    "index": i,
                    "at": at,
                    "kind": "bench.fill",
                    "actor": "bench",
                    "subject": None,
                    "details": {"n": i},
                    "private_sha256": None,
                }
                data = canonical_json(obj)
                leaves.append(leaf_hash(data))
                entries.append(
                    {
                        "idx": i,
                        "at_ms": at,
                        "ts": utcnow(),
                        "kind": "bench.fill",
                        "actor": "bench",
                        "subject": None,
                        "vendor_id": None,
                        "entry": data.decode(),
                        "private_enc": None,
                    }
                )
            nodes = store.DbNodeStore(s)
            result = append_leaves(nodes, size, leaves)
            s.execute(insert(AuditEntry), entries)
            nodes.put(result.nodes)
            store.set_head(s, result.tree_size, result.root_hash)


def timed(fn: Callable[[], object], samples: int) -> tuple[float, float]:
    """(median, p95) wall time per call in milliseconds."""
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def measure(ctx: VaultContext, samples: int, rng: random.Random) -> dict[str, float]:
    def one_record() -> None:
        with ctx.db.session() as s:
            audit.record(
                session=s,
                ctx=ctx,
                kind="vendor.read",
                actor="vendor:bench",
                consumer_id=None,
                details={"vendor_id": "bench", "categories": ["electronics.tv"], "record_count": 1},
            )

    rec_med, rec_p95 = timed(one_record, samples)
    out: dict[str, float] = {"record_med": rec_med, "record_p95": rec_p95}
    with ctx.db.session() as s:
        n, _ = store.read_head(s)
        counting = CountingStore(s)
        counting.keys = 0
        inc_med, inc_p95 = timed(lambda: inclusion_proof(counting, rng.randrange(n), n), samples)
        out |= {"incl_med": inc_med, "incl_p95": inc_p95, "incl_keys": counting.keys / samples}
        counting.keys = 0
        con_med, con_p95 = timed(lambda: consistency_proof(counting, rng.randrange(1, n), n), samples)
        out |= {"cons_med": con_med, "cons_p95": con_p95, "cons_keys": counting.keys / samples}
        root_med, _ = timed(lambda: root_hash(counting, n - rng.randrange(min(n, 1000))), samples)
        out["root_med"] = root_med
        out["n"] = n
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    kek = tmp / "kek.json"
    KeyRing.generate().save(kek)
    schema = None
    url = args.database_url or f"sqlite:///{tmp / 'audit.db'}"
    if url.startswith("postgresql"):
        schema = f"bench_audit_{os.getpid()}_{secrets.token_hex(3)}"
    settings = Settings(database_url=url, database_schema=schema, kek_file=kek, log_level="WARNING")
    db = Database(settings)
    migrate(db)
    ctx = build_context(settings, db=db)
    rng = random.Random(7)
    backend = "PostgreSQL" if schema else "SQLite (WAL, synchronous=NORMAL)"
    rows = []
    try:
        for size in sizes:
            t0 = time.perf_counter()
            fill(ctx, size)
            fill_s = time.perf_counter() - t0
            m = measure(ctx, args.samples, rng)
            m["fill_s"] = fill_s
            rows.append((size, m))
            print(f"# {size:,}: filled in {fill_s:.1f}s, record {m['record_med']:.2f} ms", file=sys.stderr)
    finally:
        if schema:
            with db.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        db.dispose()
    print(f"Backend: {backend}; Python {platform.python_version()}; {args.samples} samples per cell.\n")
    print(
        "| entries n | log2 n | record() commit (ms, median / p95) | inclusion proof (ms, median / p95) "
        "| nodes read / inclusion | consistency proof (ms, median / p95) | nodes read / consistency | root (ms) "
        "| bulk fill (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, m in rows:
        print(
            f"| {size:,} | {size.bit_length() - 1} | {m['record_med']:.2f} / {m['record_p95']:.2f} "
            f"| {m['incl_med']:.3f} / {m['incl_p95']:.3f} | {m['incl_keys']:.1f} "
            f"| {m['cons_med']:.3f} / {m['cons_p95']:.3f} | {m['cons_keys']:.1f} | {m['root_med']:.3f} "
            f"| {m['fill_s']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
