"""Offline verifier for the Intent Vault audit log (RFC 9162 Merkle tree + signed tree heads).

This file is self-contained on purpose: an auditor copies it to their own machine and runs

    python verifier.py --entries export.jsonl --sth sth.json --jwks jwks.json \
        [--old-sth old.json ...] [--proof proof.json]

It needs only the standard library and ``cryptography``. It is also the single source of the
hashing, the proof verification algorithms and the signed-tree-head encoding: the server
(``vault_server.audit.merkle`` and the audit room) imports them from here, so signer and verifier
cannot drift apart. Formats are documented in ``docs/AUDIT.md``.

Exit status: 0 everything verifies, 1 tampering found, 2 usage or format error.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import itertools
import json
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "STH_ALG",
    "STH_TYP",
    "FormatError",
    "Problem",
    "SignedTreeHead",
    "TreeAccumulator",
    "VerificationReport",
    "canonical_json",
    "check_tree_head_signature",
    "consistency_proof_json",
    "entry_leaf_hash",
    "export_line",
    "inclusion_proof_json",
    "leaf_hash",
    "main",
    "node_hash",
    "parse_consistency_proof",
    "parse_jwks",
    "parse_tree_head",
    "public_jwk",
    "sign_tree_head",
    "tree_head_payload",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
#: Explicit JWS type (RFC 8725 §3.11) so a tree-head signature can never pass for a JWT or any other
#: object signed with the same Ed25519 key.
STH_TYP = "intent-vault-sth+jws"
#: JWS alg for Ed25519 signatures: RFC 9864 "Ed25519" (fully specified, what we sign with); the
#: polymorphic RFC 8037 "EdDSA" it deprecates is still accepted when verifying.
STH_ALG = "Ed25519"
_ACCEPTED_ALGS = ("Ed25519", "EdDSA")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


# --------------------------------------------------------------------------------------------------
# Hashing (RFC 9162 §2.1.1)
# --------------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of a leaf is SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node is SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(obj: Any) -> bytes:
    """The one byte encoding of a JSON value that is hashed or signed (JCS style, RFC 8785).

    Sorted keys, no whitespace, UTF-8. Identical to RFC 8785 for values without floats.
    """
    return _CANONICAL.encode(obj).encode("utf-8")


def entry_leaf_hash(entry: Mapping[str, Any]) -> bytes:
    """Leaf hash of one audit entry: the leaf data is the canonical JSON of the entry object."""
    return leaf_hash(canonical_json(entry))


class TreeAccumulator:
    """Streaming Merkle tree head over appended leaf hashes, holding O(log n) perfect subtree roots.

    ``append`` returns the perfect-subtree nodes it completed as ``(level, index, hash)``: level 0 is
    the leaf itself, level k covers leaves ``[index * 2**k, (index + 1) * 2**k)``.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    @classmethod
    def from_frontier(cls, size: int, frontier: Sequence[bytes]) -> TreeAccumulator:
        """Resume from the roots of the perfect subtrees of a tree of ``size`` (largest first)."""
        levels = [bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]
        if len(levels) != len(frontier):
            raise ValueError(f"a tree of size {size} has {len(levels)} frontier nodes, got {len(frontier)}")
        acc = cls()
        acc._stack = list(zip(levels, frontier, strict=True))
        acc.size = size
        return acc

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect subtrees it completed, leaf first."""
        index = self.size
        created = [(0, index, leaf)]
        level, current = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            current = node_hash(left, current)
            level += 1
            index >>= 1
            created.append((level, index, current))
        self._stack.append((level, current))
        self.size += 1
        return created

    def frontier(self) -> list[bytes]:
        """Roots of the perfect subtrees that make up the tree, largest (leftmost) first."""
        return [h for _, h in self._stack]

    def root(self) -> bytes:
        """RFC 9162 §2.1.1 MTH of the leaves appended so far (split at the largest power of two)."""
        if not self._stack:
            return EMPTY_ROOT
        current = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            current = node_hash(left, current)
        return current


# --------------------------------------------------------------------------------------------------
# Proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2), written step by step as in the RFC
# --------------------------------------------------------------------------------------------------


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, inclusion_path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: verify that ``leaf`` is at ``leaf_index`` in the tree with ``root``."""
    if leaf_index < 0 or leaf_index >= tree_size:  # step 1
        return False
    if any(len(p) != HASH_SIZE for p in inclusion_path):
        return False
    fn, sn = leaf_index, tree_size - 1  # step 2
    r = leaf  # step 3
    for p in inclusion_path:  # step 4
        if sn == 0:  # 4a
            return False
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    return sn == 0 and r == root  # step 5


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, consistency_path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: verify that the tree (first, first_hash) is a prefix of (second, second_hash).

    The RFC algorithm covers ``0 < first < second``; the degenerate cases follow §2.1.4.1, which
    defines the proof for ``first == second`` (and, trivially, for the empty tree) as empty.
    """
    if first < 0 or second < first:
        return False
    if any(len(c) != HASH_SIZE for c in consistency_path):
        return False
    if first == second:
        return not consistency_path and first_hash == second_hash
    if first == 0:
        return not consistency_path
    path = list(consistency_path)
    if not path:  # step 1
        return False
    if first & (first - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0  # step 7


# --------------------------------------------------------------------------------------------------
# Signed tree heads: a compact JWS (RFC 7515), alg Ed25519 (RFC 8037/9864), over the canonical tree head
# --------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """RFC 7515 §2: base64url without padding; anything else is rejected."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tree_head_payload(tree_size: int, root_hash: bytes, timestamp: int) -> bytes:
    """The signed bytes' payload: canonical JSON of ``{root_hash (hex), timestamp (ms), tree_size}``."""
    return canonical_json({"root_hash": root_hash.hex(), "timestamp": timestamp, "tree_size": tree_size})


def sign_tree_head(
    private_key: Ed25519PrivateKey, kid: str, tree_size: int, root_hash: bytes, timestamp: int
) -> dict[str, Any]:
    """Build ``sth.json``: the tree head fields plus a compact JWS (alg Ed25519) over their canonical JSON."""
    if len(root_hash) != HASH_SIZE:
        raise ValueError("root_hash must be 32 bytes")
    header = {"alg": STH_ALG, "kid": kid, "typ": STH_TYP}
    signing_input = _b64url(canonical_json(header)) + "." + _b64url(tree_head_payload(tree_size, root_hash, timestamp))
    signature = private_key.sign(signing_input.encode("ascii"))
    return {
        "tree_size": tree_size,
        "root_hash": root_hash.hex(),
        "timestamp": timestamp,
        "kid": kid,
        "signature": signing_input + "." + _b64url(signature),
    }


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """RFC 8037 §2: the OKP/Ed25519 JWK (alg per RFC 9864) for a tree-head key, as published in the JWKS."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": kid, "alg": STH_ALG, "use": "sig"}


class FormatError(Exception):
    """An input file cannot be read as the documented format (exit status 2)."""


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A parsed ``sth.json``; ``source`` names the file in messages."""

    tree_size: int
    root_hash: bytes
    timestamp: int
    kid: str
    signature: str
    source: str = "sth.json"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_tree_head(obj: Any, source: str = "sth.json") -> SignedTreeHead:
    """Validate the shape of a signed tree head (not its signature); raise FormatError."""
    if not isinstance(obj, dict):
        raise FormatError(f"{source}: not a JSON object")
    for name in ("tree_size", "root_hash", "timestamp", "kid", "signature"):
        if name not in obj:
            raise FormatError(f"{source}: missing {name!r}")
    if not _is_int(obj["tree_size"]) or obj["tree_size"] < 0:
        raise FormatError(f"{source}: 'tree_size' must be a non-negative integer")
    if not _is_int(obj["timestamp"]) or obj["timestamp"] < 0:
        raise FormatError(f"{source}: 'timestamp' must be a non-negative integer (ms since the epoch)")
    if not isinstance(obj["root_hash"], str) or not _HEX64.fullmatch(obj["root_hash"]):
        raise FormatError(f"{source}: 'root_hash' must be 64 lowercase hex digits")
    if not isinstance(obj["kid"], str) or not isinstance(obj["signature"], str):
        raise FormatError(f"{source}: 'kid' and 'signature' must be strings")
    return SignedTreeHead(
        obj["tree_size"],
        bytes.fromhex(obj["root_hash"]),
        obj["timestamp"],
        obj["kid"],
        obj["signature"],
        source,
    )


def parse_jwks(obj: Any, source: str = "jwks.json") -> dict[str, list[dict[str, Any]]]:
    """RFC 7517 §5: a JWK Set; returns the keys grouped by ``kid``."""
    if not isinstance(obj, dict) or not isinstance(obj.get("keys"), list):
        raise FormatError(f"{source}: not a JWK set (an object with a 'keys' array)")
    by_kid: dict[str, list[dict[str, Any]]] = {}
    for i, key in enumerate(obj["keys"]):
        if not isinstance(key, dict):
            raise FormatError(f"{source}: keys[{i}] is not an object")
        if isinstance(key.get("kid"), str):
            by_kid.setdefault(key["kid"], []).append(key)
    return by_kid


def _ed25519_key(jwk: Mapping[str, Any]) -> Ed25519PublicKey | None:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    if jwk.get("alg", STH_ALG) not in _ACCEPTED_ALGS:
        return None
    if jwk.get("use", "sig") != "sig" or not isinstance(jwk.get("x"), str):
        return None
    try:
        raw = _b64url_decode(jwk["x"])
        return Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
    except ValueError:
        return None


def check_tree_head_signature(head: SignedTreeHead, jwks: Mapping[str, Sequence[Mapping[str, Any]]]) -> str | None:
    """RFC 7515 §5.2 / RFC 8037 §3.1 / RFC 9864: check the JWS; return None if valid, else why not."""
    parts = head.signature.split(".")
    if len(parts) != 3:
        return "signature is not a compact JWS (header.payload.signature)"
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = _b64url_decode(parts[1])
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return "signature is not a well-formed compact JWS"
    if not isinstance(header, dict):
        return "JWS header is not a JSON object"
    if header.get("alg") not in _ACCEPTED_ALGS:
        return f"JWS alg is {header.get('alg')!r}, expected {STH_ALG!r}"
    if header.get("typ") != STH_TYP:
        return f"JWS typ is {header.get('typ')!r}, expected {STH_TYP!r}"
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extensions, so we MUST reject
        return "JWS header has 'crit' extensions this verifier does not understand"
    if header.get("kid") != head.kid:
        return f"JWS kid {header.get('kid')!r} differs from the tree head's kid {head.kid!r}"
    if payload != tree_head_payload(head.tree_size, head.root_hash, head.timestamp):
        return "signed payload does not match tree_size/root_hash/timestamp"
    candidates = jwks.get(head.kid, ())
    if not candidates:
        return f"kid {head.kid!r} is not in the JWK set"
    keys = [k for k in (_ed25519_key(c) for c in candidates) if k is not None]
    if not keys:
        return f"key {head.kid!r} in the JWK set is not an OKP/Ed25519 signing key"
    signing_input = (parts[0] + "." + parts[1]).encode("ascii")
    for key in keys:
        try:
            key.verify(signature, signing_input)
            return None
        except InvalidSignature:
            continue
    return f"signature does not verify with key {head.kid!r}"


def export_line(index: int, entry: Mapping[str, Any], leaf: bytes | None = None) -> str:
    """One ``export.jsonl`` line; pass the stored leaf hash so the export carries the recorded value."""
    leaf = entry_leaf_hash(entry) if leaf is None else leaf
    return json.dumps({"index": index, "entry": entry, "leaf_hash": leaf.hex()}, ensure_ascii=False) + "\n"


def inclusion_proof_json(leaf_index: int, tree_size: int, inclusion_path: Sequence[bytes]) -> dict[str, Any]:
    """RFC 9162 §4.11 ``inclusion_proof_v2`` fields, hashes in hex (as the API serves them)."""
    return {"leaf_index": leaf_index, "tree_size": tree_size, "inclusion_path": [h.hex() for h in inclusion_path]}


def consistency_proof_json(tree_size_1: int, tree_size_2: int, consistency_path: Sequence[bytes]) -> dict[str, Any]:
    """RFC 9162 §4.12 ``consistency_proof_v2`` fields, hashes in hex (the ``--proof`` file)."""
    return {
        "tree_size_1": tree_size_1,
        "tree_size_2": tree_size_2,
        "consistency_path": [h.hex() for h in consistency_path],
    }


def parse_consistency_proof(obj: Any, source: str = "proof.json") -> tuple[int, int, list[bytes]]:
    """RFC 9162 §4.12 shape: ``{tree_size_1, tree_size_2, consistency_path: [hex, ...]}``."""
    if not isinstance(obj, dict):
        raise FormatError(f"{source}: not a JSON object")
    size1, size2, path = obj.get("tree_size_1"), obj.get("tree_size_2"), obj.get("consistency_path")
    if not isinstance(size1, int) or not isinstance(size2, int) or not isinstance(path, list):
        raise FormatError(f"{source}: needs integer tree_size_1, tree_size_2 and a consistency_path array")
    if isinstance(size1, bool) or isinstance(size2, bool) or size1 < 0 or size2 < 0:
        raise FormatError(f"{source}: tree sizes must be non-negative integers")
    if not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in path):
        raise FormatError(f"{source}: consistency_path items must be 64 lowercase hex digits")
    return size1, size2, [bytes.fromhex(h) for h in path]


# --------------------------------------------------------------------------------------------------
# Export verification
# --------------------------------------------------------------------------------------------------

MODIFIED = "modified"
MISSING = "missing"
OUT_OF_ORDER = "out-of-order"
DUPLICATE = "duplicate"
SIZE = "size"
ROOT = "root-mismatch"
SIGNATURE = "bad-signature"
FORK = "fork"
RENUMBERED = "renumbered"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding; ``index`` is the first bad log position when it is known exactly."""

    kind: str
    message: str
    index: int | None = None
    line: int | None = None
    #: When only a range is known (rewrites consistent with their own leaf hashes): [start, end).
    index_range: tuple[int, int] | None = None


@dataclass(slots=True)
class VerificationReport:
    """Outcome of :func:`verify_export`: problems in order of discovery plus what was checked."""

    entries: int = 0
    tree_size: int | None = None
    root_hash: bytes | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        """The earliest log position named exactly by any problem (None if none is exact)."""
        exact = [p.index for p in self.problems if p.index is not None]
        return min(exact) if exact else None


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_entry_line(text: str, name: str, lineno: int) -> tuple[int, dict[str, Any], bytes]:
    try:
        obj = _STRICT_JSON.decode(text)
    except ValueError:
        raise FormatError(f"{name}:{lineno}: not valid JSON") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{name}:{lineno}: not a JSON object")
    for key in ("index", "entry", "leaf_hash"):
        if key not in obj:
            raise FormatError(f"{name}:{lineno}: missing {key!r}")
    if not _is_int(obj["index"]) or obj["index"] < 0:
        raise FormatError(f"{name}:{lineno}: 'index' must be a non-negative integer")
    if not isinstance(obj["entry"], dict):
        raise FormatError(f"{name}:{lineno}: 'entry' must be a JSON object")
    if not isinstance(obj["leaf_hash"], str) or not _HEX64.fullmatch(obj["leaf_hash"]):
        raise FormatError(f"{name}:{lineno}: 'leaf_hash' must be 64 lowercase hex digits")
    return obj["index"], obj["entry"], bytes.fromhex(obj["leaf_hash"])


class _IndexLabels:
    """Reads the index labels of export lines to name deleted, moved and inserted entries.

    The tree is computed over the lines in file order; the outer ``index`` of each line and, when the
    entry carries one, the entry's own ``index`` (covered by the leaf hash) say where the server put it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.expected = 0  # the outer index the next line should carry
        self._gaps: list[list[int]] = []  # skipped outer indices, sorted disjoint [start, end)
        self._gap_starts: list[int] = []
        self._recent: list[tuple[int, int]] = [(-1, 0)] * 4096  # (index, line) by index % 4096
        self._offset = 0  # entry index minus outer index on the last line that had one

    def _take_from_gap(self, index: int) -> bool:
        i = bisect.bisect_right(self._gap_starts, index) - 1
        if i < 0 or index >= self._gaps[i][1]:
            return False
        start, end = self._gaps[i]
        pieces = [[a, b] for a, b in ((start, index), (index + 1, end)) if a < b]
        self._gaps[i : i + 1] = pieces
        self._gap_starts[i : i + 1] = [a for a, _ in pieces]
        return True

    def check(self, index: int, inner: Any, position: int, lineno: int) -> list[Problem]:
        """Problems this line's labels reveal (usually none)."""
        if index == self.expected and self._offset == 0 and (inner == index or not _is_int(inner)):
            self.expected += 1  # the common case: in sequence, nothing to record
            self._recent[index % 4096] = (index, lineno)
            return []
        where = f"{self.name}:{lineno}"
        found: list[Problem] = []
        if index == self.expected:
            self.expected += 1
        elif index > self.expected:
            gone = f"entry {self.expected}" if index == self.expected + 1 else f"entries {self.expected}..{index - 1}"
            found.append(
                Problem(
                    MISSING,
                    f"{where}: expected index {self.expected}, found {index} ({gone} deleted or moved)",
                    self.expected,
                    lineno,
                )
            )
            self._gaps.append([self.expected, index])
            self._gap_starts.append(self.expected)
            self.expected = index + 1
        elif self._take_from_gap(index):
            found.append(
                Problem(
                    OUT_OF_ORDER,
                    f"{where}: index {index} is out of order (expected at position {index}, "
                    f"found at position {position})",
                    index,
                    lineno,
                )
            )
        else:
            seen, other_line = self._recent[index % 4096]
            other = other_line if seen == index else None
            also = f" (also on line {other})" if other is not None else ""
            found.append(
                Problem(DUPLICATE, f"{where}: index {index} appears twice{also}: an entry was inserted", index, lineno)
            )
        self._recent[index % 4096] = (index, lineno)
        if _is_int(inner):
            offset = inner - index
            if offset != self._offset and offset != 0:
                found.append(
                    Problem(
                        RENUMBERED,
                        f"{where}: index {index}: the entry itself records index {inner} (entries before it "
                        "were deleted, inserted or moved and the export renumbered)",
                        min(inner, position),
                        lineno,
                    )
                )
            self._offset = offset
        return found


def verify_export(
    entry_lines: Iterable[str],
    sth: Mapping[str, Any] | SignedTreeHead,
    jwks: Mapping[str, Any],
    *,
    old_sths: Sequence[Mapping[str, Any] | SignedTreeHead] = (),
    proof: Mapping[str, Any] | None = None,
    entries_name: str = "export.jsonl",
    jwks_name: str = "jwks.json",
    proof_name: str = "proof.json",
) -> VerificationReport:
    """Recompute the tree from an export and check it against signed tree heads.

    Raises FormatError for unreadable input; everything else is reported as a :class:`Problem`.
    """
    head = sth if isinstance(sth, SignedTreeHead) else parse_tree_head(sth)
    olds = [o if isinstance(o, SignedTreeHead) else parse_tree_head(o, "old-sth.json") for o in old_sths]
    keys = parse_jwks(jwks, jwks_name)
    consistency = parse_consistency_proof(proof, proof_name) if proof is not None else None
    if consistency is not None and not any(o.tree_size == consistency[0] for o in olds):
        raise FormatError(f"{proof_name}: tree_size_1 {consistency[0]} matches no --old-sth")
    if consistency is not None and consistency[1] != head.tree_size:
        raise FormatError(f"{proof_name}: tree_size_2 {consistency[1]} is not the --sth tree_size")

    report = VerificationReport(tree_size=head.tree_size, root_hash=head.root_hash)
    heads = [*olds, head]
    checkpoints = {h.tree_size for h in heads}
    prefix_roots: dict[int, bytes] = {0: EMPTY_ROOT} if 0 in checkpoints else {}
    acc = TreeAccumulator()
    labels = _IndexLabels(entries_name)
    for lineno, raw in enumerate(entry_lines, 1):
        if not raw.strip():
            continue
        index, entry, recorded = _parse_entry_line(raw, entries_name, lineno)
        report.problems.extend(labels.check(index, entry.get("index"), acc.size, lineno))
        computed = entry_leaf_hash(entry)
        if computed != recorded:
            report.problems.append(
                Problem(
                    MODIFIED,
                    f"{entries_name}:{lineno}: index {index}: entry does not match its leaf_hash (entry modified)",
                    index,
                    lineno,
                )
            )
        acc.append(computed)
        if acc.size in checkpoints:
            prefix_roots[acc.size] = acc.root()
    report.entries = acc.size

    # Signatures first: a head that does not verify proves nothing about the entries.
    valid: list[SignedTreeHead] = []
    for h in heads:
        why = check_tree_head_signature(h, keys)
        if why is None:
            valid.append(h)
        else:
            report.problems.append(Problem(SIGNATURE, f"{h.source}: {why}"))

    if acc.size < head.tree_size:
        report.problems.append(
            Problem(
                SIZE,
                f"{entries_name}: has {acc.size} entries but {head.source} signs tree_size "
                f"{head.tree_size} (entries from index {acc.size} are missing)",
                acc.size,
            )
        )
    elif acc.size > head.tree_size:
        report.notes.append(
            f"entries {head.tree_size}..{acc.size - 1} are newer than {head.source} and not covered by a signed head"
        )

    _check_roots(report, valid, prefix_roots, entries_name)
    if consistency is not None:
        size1, size2, path = consistency
        old = next(o for o in olds if o.tree_size == size1)
        both_signed = old in valid and head in valid  # an unauthenticated root proves nothing either way
        if both_signed and not verify_consistency(size1, size2, old.root_hash, head.root_hash, path):
            report.problems.append(
                Problem(
                    FORK,
                    f"{proof_name}: consistency proof from tree_size {size1} ({old.source}) to "
                    f"{size2} ({head.source}) does not verify: the two heads are a fork",
                )
            )
    return report


def _check_roots(
    report: VerificationReport, valid: Sequence[SignedTreeHead], prefix_roots: Mapping[int, bytes], name: str
) -> None:
    """Compare each validly signed head with the recomputed root of the entries it covers."""
    by_size: dict[int, list[SignedTreeHead]] = {}
    for h in valid:
        by_size.setdefault(h.tree_size, []).append(h)
    for size, same in sorted(by_size.items()):
        if len({h.root_hash for h in same}) > 1:
            report.problems.append(
                Problem(
                    FORK,
                    f"{same[0].source} and {same[1].source}: both validly sign tree_size {size} with "
                    "different root hashes: the log equivocated (fork)",
                    index_range=(0, size),
                )
            )
    by_time = sorted(valid, key=lambda h: (h.timestamp, h.tree_size))
    for earlier, later in itertools.pairwise(by_time):
        if later.tree_size < earlier.tree_size and later.timestamp > earlier.timestamp:
            report.problems.append(
                Problem(
                    FORK,
                    f"{later.source}: signs tree_size {later.tree_size} at {later.timestamp}, after "
                    f"{earlier.source} signed tree_size {earlier.tree_size} at {earlier.timestamp}: "
                    "the log shrank (rollback)",
                    index_range=(later.tree_size, earlier.tree_size),
                )
            )
    good = sorted(h.tree_size for h in valid if prefix_roots.get(h.tree_size) == h.root_hash)
    bad = sorted(
        (h for h in valid if h.tree_size in prefix_roots and prefix_roots[h.tree_size] != h.root_hash),
        key=lambda h: h.tree_size,
    )
    for h in bad:
        lower = max((g for g in good if g < h.tree_size), default=0)
        later_good = [g for g in good if g > h.tree_size]
        span = f"indices {lower}..{h.tree_size - 1}"
        exact = [p.index for p in report.problems if p.index is not None and p.index < h.tree_size]
        where = f"first bad index {min(exact)}" if exact else f"first bad index in {span}"
        if later_good:
            report.problems.append(
                Problem(
                    FORK,
                    f"{h.source}: fork: the signed head at tree_size {h.tree_size} is not a prefix of "
                    f"the signed head at tree_size {later_good[0]}, which matches {name}; the log was "
                    f"rewritten in {span}",
                    index_range=(lower, h.tree_size),
                )
            )
        else:
            report.problems.append(
                Problem(
                    ROOT,
                    f"{h.source}: root of the first {h.tree_size} entries of {name} does not match "
                    f"the signed root ({where})",
                    index_range=(lower, h.tree_size),
                )
            )


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        raise FormatError(f"{path}: not valid JSON") from None


def _read_lines(path: str) -> Iterable[str]:
    try:
        with open(path, encoding="utf-8") as f:
            yield from f
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not UTF-8") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="verifier.py", description="Verify an Intent Vault audit log export against signed tree heads."
    )
    parser.add_argument("--entries", required=True, help="entries export (JSON lines)")
    parser.add_argument("--sth", required=True, help="signed tree head to verify the export against")
    parser.add_argument("--jwks", required=True, help="JWK set with the log's Ed25519 signing keys")
    parser.add_argument("--old-sth", action="append", default=[], help="earlier signed tree head (repeatable)")
    parser.add_argument("--proof", help="consistency proof from an --old-sth to --sth")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    started = time.perf_counter()
    try:
        sth = parse_tree_head(_load_json(args.sth), args.sth)
        olds = [parse_tree_head(_load_json(p), p) for p in args.old_sth]
        for old in olds:
            if old.tree_size > sth.tree_size:
                raise FormatError(f"{old.source}: tree_size {old.tree_size} is larger than {args.sth}'s")
        report = verify_export(
            _read_lines(args.entries),
            sth,
            _load_json(args.jwks),
            old_sths=olds,
            proof=_load_json(args.proof) if args.proof else None,
            entries_name=args.entries,
            jwks_name=args.jwks,
            proof_name=args.proof or "proof.json",
        )
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(problem.message)
    if not report.ok:
        first = report.first_bad_index
        summary = f"first bad index {first}" if first is not None else "see above"
        print(f"TAMPERED: {len(report.problems)} problem(s); {summary}")
        return 1
    elapsed = time.perf_counter() - started
    print(
        f"OK: {report.entries} entries; tree_size {sth.tree_size} root {sth.root_hash.hex()} signed by "
        f"{sth.kid!r} at {sth.timestamp}; {len(olds)} earlier head(s) consistent ({elapsed:.2f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
