"""Audit rules: append an entry in the caller's transaction, sign tree heads, build proofs and exports.

Every room records what matters with :func:`record` (or :func:`record_many` for a batch: a feed page, a token
response, a round of webhook deliveries) inside the same unit of work as the action, so the entry commits (or rolls
back) with it. Entry shape (the canonical JSON of this object is the RFC 9162 leaf data)::

    {"v": 1, "index": 41, "at": 1767225600000, "kind": "vendor.read", "actor": "vendor:acme",
     "subject": "<pseudonym or null>", "details": {...public...}, "private_sha256": "<hex or null>"}

``subject`` is a keyed pseudonym of the consumer (HMAC blind index, scope ``audit-subject``); ``details`` holds
only non-personal facts (ids, categories, fields, counts); anything personal goes in ``private``, encrypted with
the consumer's data key and committed to by the SHA-256 of its ciphertext, so the log still verifies after the
key is shredded (the payload alone becomes unreadable).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from vault_server.audit import heads, store
from vault_server.audit.merkle import append_to_frontier, consistency_proof, inclusion_proof, leaf_hash, root_hash
from vault_server.audit.models import AuditEntry, AuditSth
from vault_server.audit.verifier import (
    canonical_json,
    consistency_proof_json,
    export_line,
    inclusion_proof_json,
    sign_tree_head,
)
from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher, DecryptionError
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.service import DataKeyGone, cipher_for, ciphers_for
from vault_server.db import utcnow
from vault_server.errors import NotFound, ValidationFailed, VaultError

ENTRY_VERSION = 1
PRIVATE_TABLE = "audit_entry"
SUBJECT_SCOPE = "audit-subject"
MAX_PAGE = 1000
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class AuditIntegrityError(VaultError):
    status = 500
    slug = "audit-integrity"
    title = "The audit log does not match its own tree"


class ProofUnavailable(NotFound):
    slug = "audit-proof-unavailable"
    title = "No such proof for this log"


def subject_pseudonym(ring: KeyRing, consumer_id: str) -> str:
    """The consumer's pseudonym in the log: a keyed HMAC, stable, not reversible without the index key."""
    return ring.blind_index(SUBJECT_SCOPE, consumer_id)


#: public detail values that would join the log to a consumer's rows (grant, cast, offer, token ids, the pairwise
#: subject): replaced by per-consumer keyed tokens, consistent within one consumer so ``audit check`` still links them
DETAIL_TOKEN_KEYS = frozenset(
    {"grant_id", "subject", "cast_id", "offer_id", "question_id", "token_id", "family_id", "message_id", "record_id"}
)
DETAIL_TOKEN_PURPOSE = "audit-detail-token"  # noqa: S105 (an HKDF label, not a secret)


def detail_token(key: bytes, consumer_id: str, name: str, value: str) -> str:
    """A per-consumer keyed token for one public detail value (HMAC-SHA256, 80 bits shown)."""
    return hmac.digest(key, f"{consumer_id}\x00{name}\x00{value}".encode(), "sha256").hex()[:20]


def category_chain(key: bytes, consumer_id: str, category: str) -> str:
    """A category as a dotted chain of per-consumer tokens of its prefixes: ``electronics.tv`` becomes
    ``T(electronics).T(electronics.tv)``, so "a granted category covers its descendants" is still a prefix test."""
    parts = category.split(".")
    return ".".join(detail_token(key, consumer_id, "category", ".".join(parts[: i + 1])) for i in range(len(parts)))


def public_details(key: bytes, consumer_id: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """What the log shows publicly about a consumer's entry: category ids and joinable ids replaced by tokens."""
    out: dict[str, Any] = {}
    for name, value in details.items():
        if name == "categories" and isinstance(value, (list, tuple)):
            out[name] = [category_chain(key, consumer_id, str(c)) for c in value]
        elif name == "categories" and isinstance(value, str):
            out[name] = " ".join(category_chain(key, consumer_id, c) for c in value.split())
        elif name in DETAIL_TOKEN_KEYS and isinstance(value, str):
            out[name] = "t_" + detail_token(key, consumer_id, name, value)
        else:
            out[name] = value
    return out


def token_key(ring: KeyRing) -> bytes:
    """The key of the public detail tokens (derived from the index key: the database alone cannot map them)."""
    return ring.derive(DETAIL_TOKEN_PURPOSE)


def now_ms() -> int:
    return int(utcnow().timestamp() * 1000)


def _check_json(value: Any, path: str, needle: str | None = None) -> None:
    """Entries are JSON of objects, arrays, strings, integers, booleans and null (no floats: see docs/AUDIT.md).
    With ``needle`` (a raw consumer id), no key or string may contain it."""
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        if needle is not None and needle in value:
            raise _RawConsumerId()
        return
    if isinstance(value, float):
        raise ValueError(f"audit details {path}: floats are not allowed in entries (use integers or strings)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"audit details {path}: keys must be strings")
            if needle is not None and needle in key:
                raise _RawConsumerId()
            _check_json(item, f"{path}.{key}", needle)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", needle)
        return
    raise ValueError(f"audit details {path}: {type(value).__name__} is not JSON")


class _RawConsumerId(ValueError):
    def __init__(self) -> None:
        super().__init__(
            "the raw consumer id must not appear in public audit details or the actor; it is pseudonymised"
        )


@dataclass(frozen=True, slots=True)
class AuditSpec:
    """One entry to append with :func:`record_many` (the arguments of :func:`record`)."""

    kind: str
    actor: str
    consumer_id: str | None
    details: dict[str, Any]
    private: dict[str, Any] | None = None


def _check_spec(spec: AuditSpec) -> None:
    if not _KIND_RE.match(spec.kind):
        raise ValueError(f"audit kind {spec.kind!r} must be dotted lowercase, like 'grant.created'")
    if not spec.actor or len(spec.actor) > 128:
        raise ValueError("audit actor must be 1..128 characters")
    consumer_id = spec.consumer_id
    if consumer_id is not None and consumer_id in spec.actor:
        raise _RawConsumerId()
    # one walk checks the JSON types and that the raw consumer id is in no key or string (what its canonical JSON
    # would show: ids never hold characters that JSON escapes)
    _check_json(spec.details, "details", consumer_id or None)
    if spec.private is not None:
        if spec.consumer_id is None:
            raise ValueError("private audit details need a consumer_id (they are encrypted with its key)")
        _check_json(spec.private, "private")


def record(
    *,
    session: Session,
    ctx: VaultContext,
    kind: str,
    actor: str,
    consumer_id: str | None,
    details: dict[str, Any],
    private: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the log in the caller's transaction; returns it (``idx`` is its log position).

    ``details`` is public (ids, categories, fields, counts: nothing personal, and never the raw consumer id);
    ``private`` is encrypted with the consumer's data key. Appends are serialised on the ``audit_head`` row until
    the caller's transaction ends. A one-entry :func:`record_many`.
    """
    spec = AuditSpec(kind=kind, actor=actor, consumer_id=consumer_id, details=details, private=private)
    return record_many(session=session, ctx=ctx, entries=[spec])[0]


def record_many(
    *,
    session: Session,
    ctx: VaultContext,
    entries: Sequence[AuditSpec],
    ciphers: Mapping[str, ConsumerCipher] | None = None,
) -> list[AuditEntry]:
    """Append ``entries`` in order, in the caller's transaction, as consecutive leaves; returns the rows.

    The same entries and tree as that many :func:`record` calls, at a constant number of statements (see
    :func:`append_many`, which does the work without building ORM rows to return).
    """
    return [AuditEntry(**values) for values in _append(session, ctx, entries, ciphers)]


def append_many(
    *,
    session: Session,
    ctx: VaultContext,
    entries: Sequence[AuditSpec],
    ciphers: Mapping[str, ConsumerCipher] | None = None,
) -> int:
    """Append ``entries`` like :func:`record_many` and return how many; for hot paths that do not need the rows.

    A constant number of statements whatever the batch: the data keys of the consumers with a private part that
    are not in ``ciphers`` (the caller's already opened keys, e.g. a feed page's) in one query (none when all are
    given), the head locked and its Merkle frontier read in one statement (``audit_head.frontier``), then the
    entries, the new nodes and the new head written (one statement on PostgreSQL, three on SQLite). Everything
    that does not depend on the log position (checks, pseudonyms, public tokens, the private plaintext) is done
    before the head is locked, so concurrent appenders wait for each other as briefly as possible. Every spec is
    validated before anything is written; a private part for an account whose key is gone raises DataKeyGone.
    """
    return len(_append(session, ctx, entries, ciphers))


def _append(
    session: Session, ctx: VaultContext, entries: Sequence[AuditSpec], given: Mapping[str, ConsumerCipher] | None
) -> list[dict[str, Any]]:
    if not entries:
        return []
    tokens = token_key(ctx.ring)
    subjects: dict[str, str] = {}
    # (spec, subject, public details, private plaintext or None, consumer id whose key encrypts it)
    prepared: list[tuple[AuditSpec, str | None, dict[str, Any], bytes | None]] = []
    needs_key: set[str] = set()
    for spec in entries:
        _check_spec(spec)
        consumer_id = spec.consumer_id
        if consumer_id is None:
            prepared.append((spec, None, spec.details, None))
            continue
        subject = subjects.get(consumer_id)
        if subject is None:
            subject = subjects[consumer_id] = subject_pseudonym(ctx.ring, consumer_id)
        public = public_details(tokens, consumer_id, spec.details)
        # the clear details go into the private part (the consumer's key): their own view and export show names
        private: dict[str, Any] | None = spec.private
        if public != spec.details:
            private = {**(private or {}), "details": spec.details}
        if private is not None:
            needs_key.add(consumer_id)
        prepared.append((spec, subject, public, canonical_json(private) if private is not None else None))
    ciphers: Mapping[str, ConsumerCipher] = given or {}
    missing = needs_key - ciphers.keys()
    if missing:
        ciphers = {**ciphers, **ciphers_for(session=session, ring=ctx.ring, account_ids=missing)}
    size, frontier = store.lock_head_frontier(session)
    at = now_ms()
    ts = utcnow()
    rows: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    for offset, (spec, subject, public, plaintext) in enumerate(prepared):
        idx = size + offset
        private_enc: bytes | None = None
        if plaintext is not None:
            cipher = ciphers.get(spec.consumer_id or "")
            if cipher is not None:
                private_enc = cipher.encrypt(PRIVATE_TABLE, str(idx), plaintext)
            elif spec.private is not None:
                raise DataKeyGone(f"no data key for account {spec.consumer_id}")
            # else: only the clear details were to be kept privately, and the key is shredded: keep the tokens
        data = canonical_json(
            {
                "v": ENTRY_VERSION,
                "index": idx,
                "at": at,
                "kind": spec.kind,
                "actor": spec.actor,
                "subject": subject,
                "details": public,
                "private_sha256": hashlib.sha256(private_enc).hexdigest() if private_enc is not None else None,
            }
        )
        leaves.append(leaf_hash(data))
        vendor = public.get("vendor_id")
        rows.append(
            {
                "idx": idx,
                "at_ms": at,
                "ts": ts,
                "kind": spec.kind,
                "actor": spec.actor,
                "subject": subject,
                "vendor_id": str(vendor)[:64] if vendor is not None else None,
                "entry": data.decode("utf-8"),
                "private_enc": private_enc,
            }
        )
    result = append_to_frontier(size, frontier, leaves)
    store.write_append(session, rows, result.nodes, result.tree_size, result.root_hash, result.frontier)
    return rows


def entry_object(row: AuditEntry) -> dict[str, Any]:
    """The hashed entry object as stored."""
    obj: dict[str, Any] = json.loads(row.entry)
    return obj


def read_private(*, session: Session, ctx: VaultContext, row: AuditEntry, consumer_id: str) -> dict[str, Any] | None:
    """The decrypted private details, or None when there are none or the consumer's key was shredded."""
    if row.private_enc is None:
        return None
    try:
        cipher = cipher_for(session=session, ring=ctx.ring, account_id=consumer_id)
        obj: dict[str, Any] = json.loads(cipher.decrypt(PRIVATE_TABLE, str(row.idx), row.private_enc))
    except (DataKeyGone, DecryptionError):
        return None
    return obj


# ---- tree heads --------------------------------------------------------------------------------------
def sth_json(row: AuditSth) -> dict[str, Any]:
    """``sth.json`` exactly as the offline verifier reads it."""
    return {
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "timestamp": row.timestamp,
        "kid": row.kid,
        "signature": row.signature,
    }


def current_head(session: Session) -> tuple[int, bytes]:
    """(tree_size, root_hash) of the log now."""
    return store.read_head(session)


def make_sth(*, session: Session, ctx: VaultContext) -> AuditSth:
    """Sign the current tree head with the vault's active Ed25519 key and store it; returns the row.

    The root is recomputed from the stored nodes and must equal the head row's root: a tree that disagrees with
    itself is never signed (AuditIntegrityError).
    """
    kid, key = ctx.keyset.active_ed25519()
    size, head_root = store.read_head(session)
    computed = root_hash(store.DbNodeStore(session), size)
    if computed != head_root:
        raise AuditIntegrityError(f"audit_head root for tree_size {size} differs from the stored nodes; not signing")
    why = heads.check_before_signing(session=session, witness=ctx.audit_witness, jwks=ctx.keyset.jwks(), size=size)
    if why is not None:  # never sign a fork, a rollback or over a head that does not verify
        raise AuditIntegrityError(f"{why}; not signing")
    sth = sign_tree_head(key, kid, size, computed, max(now_ms(), _last_timestamp(session)))
    row = store.add_sth(session, sth)
    ctx.audit_witness.remember(sth)
    return row


def _last_timestamp(session: Session) -> int:
    latest = store.latest_sth(session)
    return latest.timestamp if latest is not None else 0


def jwks(ctx: VaultContext) -> dict[str, Any]:
    """The JWK set that verifies tree heads: the vault's published signing keys (``/.well-known/jwks.json``)."""
    return ctx.keyset.jwks()


# ---- proofs ------------------------------------------------------------------------------------------
def _tree_size_or_latest(session: Session, tree_size: int | None) -> int:
    size, _ = store.read_head(session)
    if tree_size is None:
        return size
    if tree_size < 0 or tree_size > size:
        raise ProofUnavailable(f"tree_size {tree_size} is beyond the log's size {size}")
    return tree_size


def inclusion(*, session: Session, index: int, tree_size: int | None = None) -> dict[str, Any]:
    """RFC 9162 inclusion proof JSON for entry ``index`` in the tree of ``tree_size`` (default: current)."""
    size = _tree_size_or_latest(session, tree_size)
    if not 0 <= index < size:
        raise ProofUnavailable(f"index {index} is not in a tree of size {size}")
    proof = inclusion_proof_json(index, size, inclusion_proof(store.DbNodeStore(session), index, size))
    leaf = store.leaf_hashes(session, index, index + 1).get(index)
    if leaf is not None:
        proof["leaf_hash"] = leaf.hex()
    return proof


def consistency(*, session: Session, first: int, second: int | None = None) -> dict[str, Any]:
    """RFC 9162 consistency proof JSON from ``first`` to ``second`` (default: current size)."""
    size = _tree_size_or_latest(session, second)
    if not 0 <= first <= size:
        raise ProofUnavailable(f"no consistency proof from tree_size {first} to {size}")
    return consistency_proof_json(first, size, consistency_proof(store.DbNodeStore(session), first, size))


# ---- export ------------------------------------------------------------------------------------------
def export_lines(session: Session, *, start: int = 0, end: int | None = None) -> Iterator[str]:
    """``export.jsonl`` lines (the offline verifier's format) for ``start <= index < end``, in log order.

    Each line carries the stored entry and the leaf hash recorded in ``audit_node`` when the entry was appended,
    so an entry edited afterwards is reported by the verifier at its exact position.
    """
    pending: list[AuditEntry] = []
    for row in store.iter_entries(session, start=start, end=end):
        pending.append(row)
        if len(pending) >= 2000:
            yield from _lines(session, pending)
            pending = []
    yield from _lines(session, pending)


def _lines(session: Session, rows: list[AuditEntry]) -> Iterator[str]:
    if not rows:
        return
    leaves = store.leaf_hashes(session, int(rows[0].idx), int(rows[-1].idx) + 1)
    for row in rows:
        # a missing level-0 node (node table tampered with) falls back to the entry's own hash so the line still
        # parses; the root comparison against the signed head then reports the damage
        yield export_line(int(row.idx), entry_object(row), leaves.get(int(row.idx)))


@dataclass(frozen=True)
class Slice:
    start: int
    end: int


def check_range(start: int, end: int | None, size: int, *, limit: int = MAX_PAGE) -> Slice:
    """Validate and clamp a requested ``[start, end)`` page of the log."""
    if start < 0:
        raise ValidationFailed("start must be >= 0")
    stop = min(size, start + limit) if end is None else end
    if stop < start:
        raise ValidationFailed("end must be >= start")
    if stop - start > limit:
        raise ValidationFailed(f"at most {limit} entries per request; ask for a smaller range")
    return Slice(start, min(stop, size))
