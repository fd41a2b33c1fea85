"""Audit log benchmark: append and proof cost against tree size, and offline verifier throughput.

    .venv/bin/python bench/audit/bench_merkle.py [--sizes 10000,100000,1000000] [--samples 2000]
        [--verifier-entries 200000]

Uses the in-memory NodeStore, so the numbers are the pure hashing/planning cost; the database layer
adds one indexed batch read per operation (the "nodes read" column) plus its own round trip.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault_server.audit.merkle import (
    MemoryNodeStore,
    NodeKey,
    append_leaves,
    consistency_proof,
    entry_leaf_hash,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from vault_server.audit.verifier import public_jwk, sign_tree_head, verify_export


class CountingStore:
    """Counts the node keys each operation reads (to show the O(log n) bound)."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.keys = 0

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        self.keys += len(keys)
        return self.inner.get_nodes(keys)


def leaf(i: int) -> bytes:
    return leaf_hash(i.to_bytes(8, "big"))


def per_op_us(fn: Callable[[int], object], samples: int) -> float:
    """Median over 5 rounds of the mean time per call, in microseconds."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(samples):
            fn(i)
        rounds.append((time.perf_counter() - start) / samples * 1e6)
    return statistics.median(rounds)


def measure_at(store: MemoryNodeStore, n: int, samples: int, rng: random.Random) -> str:
    """One table row: operations on the tree of size ``n`` (the store may hold more leaves)."""
    counting = CountingStore(store)
    for i in range(samples):
        append_leaves(counting, n + i, [leaf(0)])
    append_keys = counting.keys / samples
    idx = [rng.randrange(n) for _ in range(samples)]
    firsts = [rng.randrange(1, n) for _ in range(samples)]
    root = root_hash(store, n)
    proofs = [inclusion_proof(store, m, n) for m in idx]
    root_us = per_op_us(lambda i: root_hash(store, n), samples)
    incl_us = per_op_us(lambda i: inclusion_proof(store, idx[i], n), samples)
    cons_us = per_op_us(lambda i: consistency_proof(store, firsts[i], n), samples)
    ver_us = per_op_us(lambda i: verify_inclusion(idx[i], n, leaf(idx[i]), proofs[i], root), samples)
    counting.keys = 0
    for m in idx:
        inclusion_proof(counting, m, n)
    proof_keys = counting.keys / samples
    # Sanity: the proofs are real.
    assert all(verify_inclusion(m, n, leaf(m), p, root) for m, p in zip(idx[:50], proofs[:50], strict=True))
    first = firsts[0]
    assert verify_consistency(first, n, root_hash(store, first), root, consistency_proof(store, first, n))
    return f"{append_keys:.1f} | {root_us:.1f} | {incl_us:.1f} | {proof_keys:.1f} | {cons_us:.1f} | {ver_us:.1f}"


def bench_tree(sizes: list[int], samples: int) -> list[str]:
    rows = [
        "| tree size n | log2 n | append (µs/leaf, one at a time) | nodes read / append | root (µs) "
        "| inclusion proof (µs) | nodes read / proof | consistency proof (µs) | verify inclusion (µs) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    store, size = MemoryNodeStore(), 0
    rng = random.Random(7)
    for target in sizes:
        while size < target:  # bulk build in batches, like a busy log committing many entries at once
            batch = [leaf(i) for i in range(size, min(target, size + 10_000))]
            size = store.append(size, batch).tree_size
        # Append `samples` leaves one at a time (each persisted) on top of the tree of size `target`.
        start = time.perf_counter()
        for i in range(samples):
            store.append(size + i, [leaf(size + i)])
        append_us = (time.perf_counter() - start) / samples * 1e6
        size += samples
        rows.append(
            f"| {target:,} | {target.bit_length() - 1} | {append_us:.1f} | {measure_at(store, target, samples, rng)} |"
        )
    return rows


def bench_verifier(count: int) -> list[str]:
    key = Ed25519PrivateKey.generate()
    jwks = {"keys": [public_jwk(key.public_key(), "bench")]}
    store = MemoryNodeStore()
    lines, hashes = [], []
    for i in range(count):
        entry = {
            "index": i,
            "at": 1_767_225_600_000 + i,
            "actor": f"vendor:{i % 97}",
            "action": "feed.read",
            "consumer": f"c-{i % 5000:05d}",
            "grant": f"g-{i % 777}",
            "scopes": ["signals:electronics/tv", "stage:motivation"],
        }
        h = entry_leaf_hash(entry)
        hashes.append(h)
        lines.append(json.dumps({"index": i, "entry": entry, "leaf_hash": h.hex()}))
    store.append(0, hashes)
    sth = sign_tree_head(key, "bench", count, root_hash(store, count), 0)
    old = sign_tree_head(key, "bench", count // 2, root_hash(store, count // 2), 0)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        report = verify_export(lines, sth, jwks, old_sths=[old])
        timings.append(time.perf_counter() - start)
        assert report.ok, report.problems[:3]
    best = statistics.median(timings)
    return [
        "| verifier: entries | median time (s) | entries/s |",
        "|---:|---:|---:|",
        f"| {count:,} | {best:.2f} | {count / best:,.0f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--verifier-entries", type=int, default=200_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}; samples={args.samples}\n")
    print("\n".join(bench_tree(sizes, args.samples)))
    print()
    print("\n".join(bench_verifier(args.verifier_entries)))


if __name__ == "__main__":
    main()
