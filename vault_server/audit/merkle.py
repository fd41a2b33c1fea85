"""RFC 9162 Merkle tree for the audit log, over a store of perfect-subtree hashes.

The database keeps one row per *perfect* subtree, ``audit_node(level, idx, hash)``: level 0 holds
leaf hashes, level k the root of leaves ``[idx * 2**k, (idx + 1) * 2**k)``. A perfect subtree never
changes once complete, so rows are insert-only. Every subtree the RFC 9162 algorithms need (the tree
head for any size, every inclusion-path and consistency-path element) splits into at most log2(n)+1
perfect subtrees, so append, root and proof generation each read O(log n) rows in one batch.

Hashing and proof *verification* live in :mod:`vault_server.audit.verifier` (the single file auditors
run) and are re-exported here, so the server and the offline verifier share one implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vault_server.audit.verifier import (
    EMPTY_ROOT,
    HASH_SIZE,
    TreeAccumulator,
    canonical_json,
    entry_leaf_hash,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AppendResult",
    "MemoryNodeStore",
    "Node",
    "NodeKey",
    "NodeStore",
    "append_leaf",
    "append_leaves",
    "append_to_frontier",
    "canonical_json",
    "consistency_proof",
    "consistency_proof_ranges",
    "entry_leaf_hash",
    "frontier_of",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_hash",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

NodeKey = tuple[int, int]
"""(level, idx) of a perfect subtree: it covers leaves ``[idx << level, (idx + 1) << level)``."""


@dataclass(frozen=True, slots=True)
class Node:
    """A perfect-subtree hash to persist as one ``audit_node`` row."""

    level: int
    idx: int
    hash: bytes


class NodeStore(Protocol):
    """Read access to stored perfect-subtree hashes (the ``audit_node`` table)."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """Hashes for ``keys`` in the same order; raise KeyError if any is missing."""
        ...


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Nodes to insert for appended leaves, and the tree head after the append."""

    nodes: list[Node]
    tree_size: int
    root_hash: bytes
    #: the roots of the new tree's perfect subtrees, largest first (where the next append starts)
    frontier: tuple[bytes, ...] = ()


# --------------------------------------------------------------------------------------------------
# Pure planning: which perfect subtrees make up a range, and which ranges a proof needs
# --------------------------------------------------------------------------------------------------


def _largest_power_of_two_below(n: int) -> int:
    """RFC 9162 §2.1.1: k is the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """Split ``[start, end)`` into perfect subtrees, largest (leftmost) first.

    The range must be one the RFC 9162 recursion produces: ``start`` aligned to the power of two
    that covers ``end - start``. Then the MTH of the range is the right fold of these nodes.
    """
    size = end - start
    if start < 0 or size <= 0:
        raise ValueError(f"empty or negative range [{start}, {end})")
    if start % (1 << (size - 1).bit_length()):
        raise ValueError(f"range [{start}, {end}) is not a subtree of a left-complete Merkle tree")
    keys: list[NodeKey] = []
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, start >> level))
            start += 1 << level
    return keys


def inclusion_proof_ranges(leaf_index: int, tree_size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]): the leaf ranges whose MTHs form the path, leaf to root."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf_index {leaf_index} is not in a tree of size {tree_size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if leaf_index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true): ranges of the path elements."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from tree_size {first} to {second}")
    if first in (0, second):
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, complete = 0, second, True
    while True:
        if first - lo == hi - lo:  # SUBPROOF(m, D[m], b)
            if not complete:
                ranges.append((lo, hi))
            break
        k = _largest_power_of_two_below(hi - lo)
        if first - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            complete = False
    ranges.reverse()
    return ranges


# --------------------------------------------------------------------------------------------------
# Store-backed operations: each reads O(log n) nodes in a single get_nodes call
# --------------------------------------------------------------------------------------------------


def _fold(hashes: Sequence[bytes]) -> bytes:
    current = hashes[-1]
    for left in reversed(hashes[:-1]):
        current = node_hash(left, current)
    return current


def _range_hashes(store: NodeStore, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    plans = [perfect_subtrees(lo, hi) for lo, hi in ranges]
    flat = [key for plan in plans for key in plan]
    fetched = iter(store.get_nodes(flat)) if flat else iter(())
    return [_fold([next(fetched) for _ in plan]) for plan in plans]


def subtree_hash(store: NodeStore, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` (a subtree of a left-complete tree) from stored nodes."""
    return _range_hashes(store, [(start, end)])[0]


def root_hash(store: NodeStore, tree_size: int) -> bytes:
    """RFC 9162 §2.1.1 MTH(D[tree_size]) from at most log2(n)+1 stored perfect subtrees."""
    if tree_size < 0:
        raise ValueError("tree_size must be non-negative")
    return EMPTY_ROOT if tree_size == 0 else subtree_hash(store, 0, tree_size)


def inclusion_proof(store: NodeStore, leaf_index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion path for ``leaf_index`` in the tree of ``tree_size``."""
    return _range_hashes(store, inclusion_proof_ranges(leaf_index, tree_size))


def consistency_proof(store: NodeStore, first: int, second: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency path from tree size ``first`` to ``second``."""
    return _range_hashes(store, consistency_proof_ranges(first, second))


def append_leaves(store: NodeStore, tree_size: int, leaf_hashes: Iterable[bytes]) -> AppendResult:
    """Nodes to persist when ``leaf_hashes`` are appended to a tree of ``tree_size``, and the new head.

    Reads only the current frontier (the <= log2(n)+1 perfect subtrees of ``tree_size``); returns one
    level-0 node per leaf plus every perfect subtree the leaves complete (amortised < 2 per leaf,
    at most log2(n)+1 for a single leaf). The caller inserts ``nodes`` in the same transaction as the
    entries, so the store always describes a complete tree.
    """
    return append_to_frontier(tree_size, frontier_of(store, tree_size), leaf_hashes)


def frontier_of(store: NodeStore, tree_size: int) -> list[bytes]:
    """The roots of the perfect subtrees of a tree of ``tree_size``, largest first (what an append starts from)."""
    return store.get_nodes(perfect_subtrees(0, tree_size)) if tree_size else []


def append_to_frontier(tree_size: int, frontier: Sequence[bytes], leaf_hashes: Iterable[bytes]) -> AppendResult:
    """:func:`append_leaves` from an already read frontier (:func:`frontier_of`)."""
    acc = TreeAccumulator.from_frontier(tree_size, frontier)
    nodes: list[Node] = []
    for leaf in leaf_hashes:
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        nodes.extend(Node(level, idx, h) for level, idx, h in acc.append(leaf))
    return AppendResult(nodes, acc.size, acc.root(), tuple(acc.frontier()))


def append_leaf(store: NodeStore, tree_size: int, leaf: bytes) -> AppendResult:
    """Append one leaf hash at index ``tree_size``: at most log2(n)+1 nodes to persist, and the new head."""
    return append_leaves(store, tree_size, [leaf])


class MemoryNodeStore:
    """In-memory :class:`NodeStore` (tests, benchmarks): one packed bytearray per level."""

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """Hashes for ``keys`` in order; KeyError for a node never stored."""
        out: list[bytes] = []
        for level, idx in keys:
            if level >= len(self._levels) or (idx + 1) * HASH_SIZE > len(self._levels[level]) or idx < 0:
                raise KeyError((level, idx))
            out.append(bytes(self._levels[level][idx * HASH_SIZE : (idx + 1) * HASH_SIZE]))
        return out

    def put(self, nodes: Iterable[Node]) -> None:
        """Store nodes; they must arrive in append order (insert-only, like the table)."""
        for node in nodes:
            while len(self._levels) <= node.level:
                self._levels.append(bytearray())
            row = self._levels[node.level]
            if len(row) != node.idx * HASH_SIZE:
                raise ValueError(f"node {(node.level, node.idx)} is out of append order")
            row += node.hash

    def append(self, tree_size: int, leaf_hashes: Iterable[bytes]) -> AppendResult:
        """Convenience for tests: :func:`append_leaves` then :meth:`put`."""
        result = append_leaves(self, tree_size, leaf_hashes)
        self.put(result.nodes)
        return result
