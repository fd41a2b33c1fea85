"""RFC 9162 Merkle tree: known answers from the CT reference implementation, plus properties.

Known answers are the published vectors of transparency-dev/merkle (formerly in google/trillian and
certificate-transparency-go): ``testonly/constants.go`` (leaves, node hashes, roots for sizes 0..8)
and ``proof/verify_test.go`` (inclusion and consistency paths, and the corruption probes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault_server.audit.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    NodeKey,
    append_leaf,
    append_leaves,
    consistency_proof,
    consistency_proof_ranges,
    inclusion_proof,
    inclusion_proof_ranges,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

# RootHashes() for sizes 0..8.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# NodeHashes(): every perfect subtree of the 8-leaf tree, by level then index.
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# inclusionProofs: (0-based leaf index, tree size, path). The Go table is 1-based in the leaf.
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# consistencyProofs: (size1, size2, path).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def build(leaf_data: Sequence[bytes]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    for i, data in enumerate(leaf_data):
        store.append(i, [leaf_hash(data)])
    return store


@pytest.fixture(scope="module")
def golden() -> MemoryNodeStore:
    return build(LEAVES)


# -------------------------------------------------------------------- independent reference (RFC text)


def ref_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, on leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 9162 §2.1.3.1."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) from RFC 9162 §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


# ----------------------------------------------------------------------------------- known answers


def test_leaf_and_node_hash_prefixes() -> None:
    assert leaf_hash(b"") == NODE_HASHES[0][0]
    assert node_hash(NODE_HASHES[0][0], NODE_HASHES[0][1]) == NODE_HASHES[1][0]
    assert ROOTS[0] == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_root_hash_known_answers(size: int) -> None:
    assert root_hash(build(LEAVES[:size]), size) == ROOTS[size]


def test_append_returns_known_roots_and_stores_every_perfect_subtree(golden: MemoryNodeStore) -> None:
    store = MemoryNodeStore()
    for i, data in enumerate(LEAVES):
        result = store.append(i, [leaf_hash(data)])
        assert (result.tree_size, result.root_hash) == (i + 1, ROOTS[i + 1])
    for level, row in enumerate(NODE_HASHES):
        assert store.get_nodes([(level, idx) for idx in range(len(row))]) == row
    with pytest.raises(KeyError):
        store.get_nodes([(4, 0)])


def test_root_hash_for_every_size_from_the_full_store(golden: MemoryNodeStore) -> None:
    assert [root_hash(golden, n) for n in range(9)] == ROOTS


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_proof_known_answers(golden: MemoryNodeStore, index: int, size: int, path: list[bytes]) -> None:
    assert inclusion_proof(golden, index, size) == path
    assert verify_inclusion(index, size, leaf_hash(LEAVES[index]), path, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY_VECTORS)
def test_consistency_proof_known_answers(golden: MemoryNodeStore, first: int, second: int, path: list[bytes]) -> None:
    assert consistency_proof(golden, first, second) == path
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], path)


def inclusion_probes(
    index: int, size: int, path: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """corruptInclusionProof from transparency-dev/merkle proof/verify_test.go."""
    probes = [
        ("index - 1", index - 1, size, leaf, path, root),
        ("index + 1", index + 1, size, leaf, path, root),
        ("index ^ 2", index ^ 2, size, leaf, path, root),
        ("size * 2", index, size * 2, leaf, path, root),
        ("size // 2", index, size // 2, leaf, path, root),
        ("wrong leaf", index, size, b"WrongLeaf", path, root),
        ("empty root", index, size, leaf, path, EMPTY_ROOT),
        ("random root", index, size, leaf, path, SOME_HASH),
        ("trailing garbage", index, size, leaf, [*path, b""], root),
        ("trailing root", index, size, leaf, [*path, root], root),
        ("preceding garbage", index, size, leaf, [b"", *path], root),
        ("preceding root", index, size, leaf, [root, *path], root),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 3", index, size, leaf, flipped, root))
    if path:
        probes.append(("removed component", index, size, leaf, path[:-1], root))
    if len(path) > 1:
        probes.append(("inserted component", index, size, leaf, [path[0], SOME_HASH, *path[1:]], root))
    return probes


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, path: list[bytes]) -> None:
    leaf = leaf_hash(LEAVES[index])
    accepted = [
        desc
        for desc, i, n, lf, p, r in inclusion_probes(index, size, path, ROOTS[size], leaf)
        if verify_inclusion(i, n, lf, p, r)
    ]
    assert accepted == []


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY_VECTORS[1:])
def test_corrupted_consistency_proofs_fail(first: int, second: int, path: list[bytes]) -> None:
    """corruptConsistencyProof from transparency-dev/merkle proof/verify_test.go."""
    r1, r2 = ROOTS[first], ROOTS[second]
    probes = [
        ("size1 - 1", first - 1, second, r1, r2, path),
        ("size1 + 1", first + 1, second, r1, r2, path),
        ("size1 ^ 2", first ^ 2, second, r1, r2, path),
        ("size2 * 2", first, second * 2, r1, r2, path),
        ("size2 // 2", first, second // 2, r1, r2, path),
        ("wrong root1", first, second, b"WrongRoot", r2, path),
        ("wrong root2", first, second, r1, b"WrongRoot", path),
        ("swapped roots", first, second, r2, r1, path),
        ("empty proof", first, second, r1, r2, []),
        ("trailing garbage", first, second, r1, r2, [*path, b""]),
        ("trailing root1", first, second, r1, r2, [*path, r1]),
        ("trailing root2", first, second, r1, r2, [*path, r2]),
        ("preceding garbage", first, second, r1, r2, [b"", *path]),
        ("preceding root1", first, second, r1, r2, [r1, *path]),
        ("preceding root2", first, second, r1, r2, [r2, *path]),
        ("preceding proof[0]", first, second, r1, r2, [path[0], *path]),
        ("truncated proof", first, second, r1, r2, path[:-1]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 4", first, second, r1, r2, flipped))
    accepted = [desc for desc, m, n, a, b, p in probes if verify_consistency(m, n, a, b, p)]
    assert accepted == []


@pytest.mark.parametrize(
    ("first", "second", "root1", "root2", "path", "ok"),
    [
        # TestVerifyConsistency's table: degenerate sizes, roots and proofs.
        (0, 0, b"don't care 1", b"don't care 2", [], False),
        (1, 1, b"don't care 1", b"don't care 2", [], False),
        (0, 0, b"don't care 1", b"don't care 1", [], True),
        (0, 1, b"don't care 1", b"don't care 2", [], True),
        (1, 1, b"don't care 2", b"don't care 2", [], True),
        (1, 0, b"don't care 1", b"don't care 2", [], False),
        (2, 1, b"don't care 1", b"don't care 2", [], False),
        (1, 2, b"don't care 1", b"don't care 2", [], False),
        (0, 0, EMPTY_ROOT, b"don't care 2", [], False),
        (1, 1, EMPTY_ROOT, b"don't care 2", [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_consistency_degenerate_cases(
    first: int, second: int, root1: bytes, root2: bytes, path: list[bytes], ok: bool
) -> None:
    assert verify_consistency(first, second, root1, root2, path) is ok


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (-1, 4)])
def test_inclusion_rejects_index_outside_tree(index: int, size: int) -> None:
    assert not verify_inclusion(index, size, SOME_HASH, [], SOME_HASH)


def test_single_entry_inclusion() -> None:
    """TestVerifyInclusionSingleEntry: the root of a one-leaf tree is the leaf hash, the path empty."""
    leaf = leaf_hash(b"data")
    assert verify_inclusion(0, 1, leaf, [], leaf)
    assert not verify_inclusion(0, 1, b"", [], leaf)
    assert not verify_inclusion(0, 1, leaf, [], b"")


# ---------------------------------------------------------------------------- planning and cost bounds


def test_perfect_subtrees_decomposition() -> None:
    assert perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    assert perfect_subtrees(0, 1 << 20) == [(20, 0)]
    with pytest.raises(ValueError, match="not a subtree"):
        perfect_subtrees(2, 7)
    with pytest.raises(ValueError, match="empty"):
        perfect_subtrees(4, 4)


def test_subtree_hash_matches_reference(golden: MemoryNodeStore) -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    assert subtree_hash(golden, 4, 7) == ref_mth(hashes[4:7])
    assert subtree_hash(golden, 0, 8) == ROOTS[8]


def test_proof_arguments_are_validated() -> None:
    with pytest.raises(ValueError):
        inclusion_proof_ranges(8, 8)
    with pytest.raises(ValueError):
        inclusion_proof_ranges(-1, 8)
    with pytest.raises(ValueError):
        consistency_proof_ranges(9, 8)
    with pytest.raises(ValueError):
        root_hash(MemoryNodeStore(), -1)
    with pytest.raises(ValueError, match="32 bytes"):
        append_leaves(MemoryNodeStore(), 0, [b"short"])
    store = MemoryNodeStore()
    store.append(0, [SOME_HASH])
    with pytest.raises(ValueError, match="append order"):
        store.put(append_leaves(MemoryNodeStore(), 0, [SOME_HASH]).nodes)
    assert consistency_proof_ranges(0, 5) == []
    assert consistency_proof_ranges(5, 5) == []


class CountingStore:
    """Wraps a store and records every batch of keys read."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.calls: list[Sequence[NodeKey]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        self.calls.append(list(keys))
        return self.inner.get_nodes(keys)


@pytest.fixture(scope="module")
def big_store() -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.append(0, [leaf_hash(i.to_bytes(4, "big")) for i in range(5000)])
    return store


@pytest.mark.parametrize("size", [1, 2, 3, 1000, 1023, 1024, 1025, 4097, 4999])
def test_operations_read_log_n_nodes_in_one_batch(big_store: MemoryNodeStore, size: int) -> None:
    bound = size.bit_length()  # log2(n) + 1
    counting = CountingStore(big_store)
    root_hash(counting, size)
    inclusion_proof(counting, size // 3, size)
    inclusion_proof(counting, size - 1, size)
    consistency_proof(counting, max(1, size // 3), size)
    append_leaves(counting, size, [SOME_HASH])
    assert len(counting.calls) <= 5  # one batch per operation (none for trivial proofs)
    assert all(len(keys) <= 2 * bound for keys in counting.calls)
    assert len(counting.calls[0]) <= bound  # root
    assert len(counting.calls[-1]) <= bound  # append reads only the frontier


@pytest.mark.parametrize("size", [0, 1, 6, 7, 1023, 4096])
def test_single_append_creates_at_most_log_n_plus_one_nodes(big_store: MemoryNodeStore, size: int) -> None:
    result = append_leaf(big_store, size, SOME_HASH)
    assert result == append_leaves(big_store, size, [SOME_HASH])
    # Leaf plus one node per trailing one-bit of size: the nodes the new leaf completes.
    trailing_ones = (~size & (size + 1)).bit_length() - 1
    assert len(result.nodes) == 1 + trailing_ones <= (size + 1).bit_length()
    assert result.nodes[0].level == 0 and result.nodes[0].idx == size


# ------------------------------------------------------------------------------------- properties


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=80)


@settings(max_examples=60, deadline=None)
@given(data=leaf_lists, chunks=st.lists(st.integers(min_value=1, max_value=9), max_size=40))
def test_batched_appends_equal_one_at_a_time(data: list[bytes], chunks: list[int]) -> None:
    hashes = [leaf_hash(x) for x in data]
    batched, size = MemoryNodeStore(), 0
    for chunk in [*chunks, len(hashes)]:
        part = hashes[size : size + chunk]
        if part:
            result = batched.append(size, part)
            size = result.tree_size
            assert result.root_hash == ref_mth(hashes[:size])
    single = MemoryNodeStore()
    for i, lh in enumerate(hashes):
        single.append(i, [lh])
    levels = range(len(hashes).bit_length())
    for level in levels:
        keys = [(level, i) for i in range(len(hashes) >> level)]
        assert batched.get_nodes(keys) == single.get_nodes(keys)


@settings(max_examples=80, deadline=None)
@given(data=leaf_lists, picks=st.data())
def test_every_proof_verifies_and_matches_the_rfc_definition(data: list[bytes], picks: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in data]
    store = MemoryNodeStore()
    store.append(0, hashes)
    n = picks.draw(st.integers(min_value=1, max_value=len(hashes)), label="tree_size")
    root = root_hash(store, n)
    assert root == ref_mth(hashes[:n])
    for m in range(n):
        path = inclusion_proof(store, m, n)
        assert path == ref_path(m, hashes[:n])
        assert verify_inclusion(m, n, hashes[m], path, root)
    for first in range(0, n + 1):
        path = consistency_proof(store, first, n)
        assert path == (ref_subproof(first, hashes[:n], True) if 0 < first < n else [])
        assert verify_consistency(first, n, root_hash(store, first), root, path)


@settings(max_examples=80, deadline=None)
@given(data=st.lists(st.binary(max_size=8), min_size=2, max_size=80, unique=True), picks=st.data())
def test_proofs_for_another_leaf_or_root_fail(data: list[bytes], picks: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in data]
    store = MemoryNodeStore()
    store.append(0, hashes)
    n = picks.draw(st.integers(min_value=2, max_value=len(hashes)), label="tree_size")
    m = picks.draw(st.integers(min_value=0, max_value=n - 1), label="leaf")
    other = picks.draw(st.integers(min_value=0, max_value=len(hashes) - 1).filter(lambda i: i != m), label="other")
    root, path = root_hash(store, n), inclusion_proof(store, m, n)
    assert not verify_inclusion(m, n, hashes[other], path, root)  # a different leaf
    assert not verify_inclusion(m, n, hashes[m], path, root_hash(store, n - 1))  # a different root
    if n > 2:
        wrong_index = picks.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda i: i != m), label="idx")
        # Leaves whose paths coincide cannot exist: sibling sets differ for distinct positions.
        assert not verify_inclusion(wrong_index, n, hashes[m], path, root)
    first = picks.draw(st.integers(min_value=1, max_value=n - 1), label="first")
    cpath = consistency_proof(store, first, n)
    assert not verify_consistency(first, n, root_hash(store, first), SOME_HASH, cpath)  # a different new root
    forged = MemoryNodeStore()  # data is at most 8 bytes, so this leaf differs from the real first leaf
    forged.append(0, [leaf_hash(b"forged first leaf"), *hashes[1:n]])
    assert not verify_consistency(first, n, root_hash(forged, first), root, cpath)
