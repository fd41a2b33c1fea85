"""``intent-vault audit check``: replay the log and report what an auditor must see.

Three families of findings, one line each:

- **compliance** (from the log's own entries, nothing else): every ``vendor.read`` / ``webhook.delivered`` not
  covered by a live grant at that moment (``uncovered-read``), every read or refresh made with a token after
  its revocation (``read-after-revoke``), and every grant or read that goes beyond the IEEE 7012 agreement the
  grant was made under (``beyond-agreement``: fields, scopes or retention the agreement does not permit, an
  intentcast read without intentcasting, or permits in the log that differ from the roster's);
- **tree heads**: entries that waited longer than the allowed delay for a signed tree head or are still unsigned
  (``sth-gap``), heads whose signature fails (``sth-signature``), heads that do not match the entries
  (``sth-mismatch``), a head smaller than an earlier one (``sth-rollback``), and a head kept outside the database
  (an auditor's saved ``sth.json``/``old-sths/``, the vault's witness file) that the log no longer extends
  (``sth-fork``: found even when the stored heads were deleted);
- **integrity** of the stored log itself: a deleted, inserted, renumbered or edited entry, a replaced private
  payload, or nodes that disagree with the entries, each named by its position (``integrity``).

The compliance replay (:func:`replay`) is a pure function of the entry objects; docs/AUDIT.md lists the kinds and
public-detail fields it reads, which the OAuth, grants and feed rooms must emit exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from vault_server.audit import service, store
from vault_server.audit.models import AuditSth
from vault_server.audit.verifier import (
    FormatError,
    SignedTreeHead,
    TreeAccumulator,
    check_tree_head_signature,
    entry_leaf_hash,
    leaf_hash,
    parse_jwks,
    parse_tree_head,
    verify_consistency,
    verify_inclusion,
)
from vault_server.context import VaultContext
from vault_server.policy.models import AgreementPermits

SIGNAL_READ_KINDS = frozenset({"vendor.read", "webhook.delivered"})
# every kind that records data leaving the vault to a vendor: each needs a live grant at that moment
READ_KINDS = SIGNAL_READ_KINDS | {"identity.read", "answer.read", "intentcast.read"}
UNCOVERED = "uncovered-read"
AFTER_REVOKE = "read-after-revoke"
BEYOND_AGREEMENT = "beyond-agreement"
STH_GAP = "sth-gap"
STH_SIGNATURE = "sth-signature"
STH_MISMATCH = "sth-mismatch"
STH_ROLLBACK = "sth-rollback"
STH_FORK = "sth-fork"
INTEGRITY = "integrity"


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    index: int | None = None

    def line(self) -> str:
        where = f"index {self.index}: " if self.index is not None else ""
        return f"{self.kind}: {where}{self.message}"


@dataclass
class CheckReport:
    entries: int = 0
    sths: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


# ---- compliance replay ---------------------------------------------------------------------------------
@dataclass
class _Grant:
    grant_id: str
    vendor_id: str | None
    subject: str | None
    categories: frozenset[str] | None
    fields: frozenset[str] | None
    expires_at: int | None
    created_index: int
    ended: tuple[str, int] | None = None  # (kind, index) of grant.revoked / grant.expired
    agreement: Mapping[str, Any] | None = None  # {"id", "version", "permits"} the grant was made under
    permits: AgreementPermits | None = None  # the agreement's permits, parsed once (None: absent or malformed)

    def under(self, agreement: Mapping[str, Any]) -> None:
        """The grant is (now) made under ``agreement``."""
        self.agreement, self.permits = agreement, _permits(agreement)


def _strs(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, (list, tuple)):
        return frozenset(str(v) for v in value)
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def category_covered(category: str, granted: Iterable[str]) -> bool:
    """A granted category covers itself and its descendants (taxonomy ids are dotted: ``electronics.tv``)."""
    return any(category == g or category.startswith(g + ".") for g in granted)


def _why_not_covered(g: _Grant, entry: Mapping[str, Any], details: Mapping[str, Any]) -> str | None:
    at = _int(entry.get("at")) or 0
    if g.ended is not None:
        return f"grant {g.grant_id} was {g.ended[0].split('.')[-1]} at index {g.ended[1]}"
    if g.expires_at is not None and at >= g.expires_at:
        return f"grant {g.grant_id} expired at {g.expires_at} (read at {at})"
    vendor = details.get("vendor_id")
    if g.vendor_id is not None and vendor is not None and vendor != g.vendor_id:
        return f"grant {g.grant_id} belongs to vendor {g.vendor_id}, not {vendor}"
    if g.subject is not None and entry.get("subject") is not None and entry.get("subject") != g.subject:
        return f"grant {g.grant_id} is for another consumer"
    cats = _strs(details.get("categories")) or frozenset()
    if g.categories is not None:
        outside = sorted(c for c in cats if not category_covered(c, g.categories))
        if outside:
            return f"categories {', '.join(outside)} are outside grant {g.grant_id}"
    flds = _strs(details.get("fields")) or frozenset()
    if g.fields is not None and entry.get("kind") in SIGNAL_READ_KINDS:  # identity fields are consented apart
        extra = sorted(flds - g.fields)
        if extra:
            return f"fields {', '.join(extra)} are outside grant {g.grant_id}"
    return None


Roster = Mapping[tuple[str, str], Mapping[str, Any]]


def _permits(agreement: Mapping[str, Any] | None) -> AgreementPermits | None:
    raw = agreement.get("permits") if agreement is not None else None
    if not isinstance(raw, Mapping):
        return None
    try:
        return AgreementPermits.model_validate(dict(raw))
    except ValueError:
        return None


def _agreement_name(agreement: Mapping[str, Any]) -> str:
    return f"{agreement.get('id')} v{agreement.get('version')}"


def _grant_beyond(g: _Grant, details: Mapping[str, Any], roster: Roster | None, index: int | None) -> list[Finding]:
    """A grant (as created or narrowed) that allows more than its agreement permits, or names permits that are not
    the roster's."""
    agreement = g.agreement
    if agreement is None:
        return []
    name = _agreement_name(agreement)
    out: list[Finding] = []
    if roster is not None:
        known = roster.get((str(agreement.get("id")), str(agreement.get("version"))))
        if known is not None and dict(known) != dict(agreement.get("permits") or {}):
            out.append(
                Finding(
                    BEYOND_AGREEMENT,
                    f"grant {g.grant_id} records permits for {name} that differ from the roster's",
                    index,
                )
            )
    permits = g.permits
    if permits is None:
        return [*out, Finding(BEYOND_AGREEMENT, f"grant {g.grant_id} names {name} without its permits", index)]
    why: list[str] = []
    if not permits.service_delivery:
        why.append("the agreement permits no service delivery")
    extra = sorted((g.fields or frozenset()) & permits.banned_fields())
    if extra:
        why.append(f"fields {', '.join(extra)}")
    scopes = sorted((_strs(details.get("scope")) or frozenset()) & permits.banned_scopes())
    if scopes:
        why.append(f"scopes {', '.join(scopes)}")
    retention = _int(details.get("retention_days"))
    if retention is not None and retention > permits.retention_days:
        why.append(f"retention {retention} days (at most {permits.retention_days})")
    if why:
        out.append(Finding(BEYOND_AGREEMENT, f"grant {g.grant_id} allows beyond {name}: {'; '.join(why)}", index))
    return out


def _read_beyond(g: _Grant, entry: Mapping[str, Any], details: Mapping[str, Any], index: int | None) -> Finding | None:
    """A read covered by ``g`` that takes what the grant's agreement does not permit."""
    permits = g.permits
    if g.agreement is None or permits is None:
        return None  # no agreement, or malformed permits: reported once, at the grant
    kind = entry.get("kind")
    vendor = details.get("vendor_id")
    name = _agreement_name(g.agreement)
    if not permits.service_delivery:
        return Finding(BEYOND_AGREEMENT, f"{kind} by {vendor} under {name}, which permits no service delivery", index)
    if kind == "intentcast.read" and not permits.intentcasting:
        return Finding(
            BEYOND_AGREEMENT, f"intentcast read by {vendor} under {name}, which permits no intentcasting", index
        )
    if kind in SIGNAL_READ_KINDS:
        extra = sorted((_strs(details.get("fields")) or frozenset()) & permits.banned_fields())
        if extra:
            return Finding(
                BEYOND_AGREEMENT, f"read by {vendor} took fields {', '.join(extra)} that {name} does not permit", index
            )
    return None


class Replayer:
    """Compliance state built from the log's own entries, fed one entry at a time in log order (streaming).

    ``roster`` (``(agreement id, version) -> permits``) is the auditor's copy of the agreements roster: when given,
    the permits the log records for a grant's agreement must be the roster's."""

    def __init__(self, roster: Roster | None = None) -> None:
        self.roster = roster
        self.grants: dict[str, _Grant] = {}
        self.by_pair: dict[tuple[Any, Any], list[_Grant]] = {}
        self.revoked_tokens: dict[str, int] = {}
        self.revoked_families: dict[str, int] = {}
        self.findings: list[Finding] = []

    def feed(self, entry: Mapping[str, Any]) -> None:
        kind = entry.get("kind")
        details = entry.get("details") or {}
        if not isinstance(details, Mapping):
            return
        index = _int(entry.get("index"))
        pos = index if index is not None else -1
        grant_id = details.get("grant_id")
        grants = self.grants
        if kind == "grant.created" and isinstance(grant_id, str):
            g = _Grant(
                grant_id,
                details.get("vendor_id"),
                entry.get("subject"),
                _strs(details.get("categories")),
                _strs(details.get("fields")),
                _int(details.get("expires_at")),
                pos,
            )
            if isinstance(details.get("agreement"), Mapping):
                g.under(details["agreement"])
            grants[grant_id] = g
            self.by_pair.setdefault((g.vendor_id, g.subject), []).append(g)
            self.findings.extend(_grant_beyond(g, details, self.roster, index))
        elif kind == "grant.narrowed" and isinstance(grant_id, str) and grant_id in grants:
            g = grants[grant_id]
            if "categories" in details:
                g.categories = _strs(details.get("categories"))
            if "fields" in details:
                g.fields = _strs(details.get("fields"))
            if "expires_at" in details:
                g.expires_at = _int(details.get("expires_at"))
            if isinstance(details.get("agreement"), Mapping):
                g.under(details["agreement"])
            self.findings.extend(_grant_beyond(g, details, self.roster, index))
        elif kind in ("grant.revoked", "grant.expired") and isinstance(grant_id, str) and grant_id in grants:
            if grants[grant_id].ended is None:
                grants[grant_id].ended = (str(kind), pos)
        elif kind == "token.revoked":
            if isinstance(details.get("token_id"), str):
                self.revoked_tokens.setdefault(details["token_id"], pos)
            if isinstance(details.get("family_id"), str):
                self.revoked_families.setdefault(details["family_id"], pos)
        if kind in READ_KINDS or kind == "token.refreshed":
            self.findings.extend(_token_findings(entry, details, index, self.revoked_tokens, self.revoked_families))
        if kind in READ_KINDS:
            finding, under = _coverage_finding(entry, details, index, grants, self.by_pair)
            if finding is not None:
                self.findings.append(finding)
            if under is not None:
                beyond = _read_beyond(under, entry, details, index)
                if beyond is not None:
                    self.findings.append(beyond)


def replay(entries: Iterable[Mapping[str, Any]], roster: Roster | None = None) -> list[Finding]:
    """Replay entry objects in log order; return every uncovered read, every use of a revoked token and everything
    beyond a grant's agreement."""
    replayer = Replayer(roster)
    for entry in entries:
        replayer.feed(entry)
    return replayer.findings


def _token_findings(
    entry: Mapping[str, Any],
    details: Mapping[str, Any],
    index: int | None,
    revoked_tokens: Mapping[str, int],
    revoked_families: Mapping[str, int],
) -> list[Finding]:
    what = "refresh" if entry.get("kind") == "token.refreshed" else "read"
    token_id, family_id = details.get("token_id"), details.get("family_id")
    if isinstance(token_id, str) and token_id in revoked_tokens:
        return [
            Finding(
                AFTER_REVOKE,
                f"{what} by {details.get('vendor_id')} with token {token_id} revoked at index "
                f"{revoked_tokens[token_id]}",
                index,
            )
        ]
    if isinstance(family_id, str) and family_id in revoked_families:
        return [
            Finding(
                AFTER_REVOKE,
                f"{what} by {details.get('vendor_id')} with token family {family_id} revoked at index "
                f"{revoked_families[family_id]}",
                index,
            )
        ]
    return []


def _coverage_finding(
    entry: Mapping[str, Any],
    details: Mapping[str, Any],
    index: int | None,
    grants: Mapping[str, _Grant],
    by_pair: Mapping[tuple[Any, Any], list[_Grant]],
) -> tuple[Finding | None, _Grant | None]:
    """(the finding when no live grant covers the read, the grant the read was made under: the one it names, or
    the one that covers it)."""
    vendor = details.get("vendor_id")
    grant_id = details.get("grant_id")
    if isinstance(grant_id, str):
        g = grants.get(grant_id)
        if g is None:
            missing = f"read by {vendor} names grant {grant_id}, which the log never created"
            return Finding(UNCOVERED, missing, index), None
        why = _why_not_covered(g, entry, details)
        return (None, g) if why is None else (Finding(UNCOVERED, f"read by {vendor}: {why}", index), g)
    candidates = by_pair.get((vendor, entry.get("subject")), [])
    if not candidates:
        return Finding(UNCOVERED, f"read by {vendor} with no grant from this consumer in the log", index), None
    reasons = [_why_not_covered(g, entry, details) for g in candidates]
    for g, reason in zip(candidates, reasons, strict=True):
        if reason is None:
            return None, g
    return Finding(UNCOVERED, f"read by {vendor}: {reasons[-1]}", index), None


# ---- tree heads ----------------------------------------------------------------------------------------
def sth_gaps(
    entry_times: Sequence[tuple[int, int]], sths: Sequence[Mapping[str, Any]], *, max_delay_ms: int, now_ms: int
) -> list[Finding]:
    """Entries (``(index, at_ms)`` in log order) that waited more than ``max_delay_ms`` for a covering head.

    ``sths`` are signed heads (``tree_size``, ``timestamp``); an entry is covered by the earliest head whose
    tree_size exceeds its index. Entries no head covers are gaps once older than the delay.
    """
    findings: list[Finding] = []
    ordered = sorted(sths, key=lambda h: (h["timestamp"], h["tree_size"]))
    covered = 0
    pos = 0
    for head in ordered:
        size = int(head["tree_size"])
        if size <= covered:
            continue
        late: list[tuple[int, int]] = []
        while pos < len(entry_times) and entry_times[pos][0] < size:
            index, at = entry_times[pos]
            if index >= covered and int(head["timestamp"]) - at > max_delay_ms:
                late.append((index, at))
            pos += 1
        if late:
            worst = max(int(head["timestamp"]) - at for _, at in late)
            findings.append(
                Finding(
                    STH_GAP,
                    f"entries {late[0][0]}..{late[-1][0]} waited up to {worst // 1000}s for a signed tree head "
                    f"(tree_size {size} at {head['timestamp']}); allowed {max_delay_ms // 1000}s",
                    late[0][0],
                )
            )
        covered = size
    tail = [(i, at) for i, at in entry_times[pos:] if i >= covered and now_ms - at > max_delay_ms]
    if tail:
        findings.append(
            Finding(
                STH_GAP,
                f"entries {tail[0][0]}..{tail[-1][0]} are not covered by any signed tree head, the oldest for "
                f"{(now_ms - tail[0][1]) // 1000}s; allowed {max_delay_ms // 1000}s",
                tail[0][0],
            )
        )
    return findings


def _sth_dict(row: AuditSth) -> dict[str, Any]:
    return {
        "id": row.id,
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "timestamp": row.timestamp,
        "kid": row.kid,
        "signature": row.signature,
    }


def _signature_findings(sths: Sequence[dict[str, Any]], jwks: Mapping[str, Any]) -> tuple[list[Finding], set[int]]:
    keys = parse_jwks(jwks)
    findings: list[Finding] = []
    good: set[int] = set()
    for h in sths:
        try:
            head = parse_tree_head({k: h[k] for k in ("tree_size", "root_hash", "timestamp", "kid", "signature")})
        except FormatError as exc:
            findings.append(Finding(STH_SIGNATURE, f"tree head #{h['id']}: {exc}"))
            continue
        why = check_tree_head_signature(head, keys)
        if why is None:
            good.add(int(h["id"]))
        else:
            findings.append(Finding(STH_SIGNATURE, f"tree head #{h['id']} (tree_size {h['tree_size']}): {why}"))
    previous: dict[str, Any] | None = None
    for h in sorted(sths, key=lambda x: (x["timestamp"], x["id"])):
        if previous is not None and h["tree_size"] < previous["tree_size"]:
            findings.append(
                Finding(
                    STH_ROLLBACK,
                    f"tree head #{h['id']} signs tree_size {h['tree_size']} after #{previous['id']} signed "
                    f"{previous['tree_size']}: the log shrank",
                )
            )
        previous = h
    return findings, good


# ---- the whole check over the database -----------------------------------------------------------------
def _known_head_findings(
    known: Sequence[tuple[str, Mapping[str, Any]]], jwks: Mapping[str, Any]
) -> tuple[list[Finding], list[tuple[str, SignedTreeHead]]]:
    """Parse and verify heads kept outside the database; returns (findings, the heads that verify)."""
    keys = parse_jwks(jwks)
    findings: list[Finding] = []
    good: list[tuple[str, SignedTreeHead]] = []
    for name, obj in known:
        try:
            head = parse_tree_head(dict(obj), name)
        except FormatError as exc:
            findings.append(Finding(STH_SIGNATURE, str(exc)))
            continue
        why = check_tree_head_signature(head, keys)
        if why is None:
            good.append((name, head))
        else:
            findings.append(Finding(STH_SIGNATURE, f"{name} (tree_size {head.tree_size}): {why}"))
    return findings, good


def check_log(
    session: Session,
    *,
    jwks: Mapping[str, Any],
    max_delay_ms: int,
    now_ms: int,
    batch: int = 5000,
    known_heads: Sequence[tuple[str, Mapping[str, Any]]] = (),
    roster: Roster | None = None,
) -> CheckReport:
    """Replay the stored log: integrity, compliance and tree heads. Reads every entry once, in batches.

    ``known_heads`` are (name, sth.json object) pairs kept outside the database; the log must extend each one.
    """
    report = CheckReport()
    head_size, head_root = store.read_head(session)
    sth_rows = [_sth_dict(r) for r in store.all_sths(session)]
    report.sths = len(sth_rows)
    sig_findings, good_ids = _signature_findings(sth_rows, jwks)
    known_findings, known_good = _known_head_findings(known_heads, jwks)
    sig_findings.extend(known_findings)
    sizes = {int(h["tree_size"]) for h in sth_rows} | {head_size} | {h.tree_size for _, h in known_good}
    roots: dict[int, bytes] = {}
    acc = TreeAccumulator()
    if 0 in sizes:
        roots[0] = acc.root()
    replayer = Replayer(roster)
    entry_times: list[tuple[int, int]] = []
    integrity: list[Finding] = []
    expected = 0
    last_at = 0

    def _take(entries: Sequence[Any]) -> None:
        nonlocal expected, last_at
        if not entries:
            return
        first, last = int(entries[0].idx), int(entries[-1].idx)
        leaves = store.leaf_hashes(session, first, last + 1)
        for row in entries:
            idx = int(row.idx)
            while expected < min(idx, head_size):  # holes: an entry row was deleted
                integrity.append(Finding(INTEGRITY, "entry is missing (deleted from audit_entry)", expected))
                _append(leaves.get(expected) or _missing_leaf(session, expected))
            try:
                obj = json.loads(row.entry)
            except ValueError:
                integrity.append(Finding(INTEGRITY, "entry is not valid JSON (edited)", idx))
                _append(leaves.get(idx) or b"\x00" * 32)
                continue
            computed = leaf_hash(row.entry.encode("utf-8"))  # the stored bytes are the leaf data
            recorded = leaves.get(idx)
            if idx >= head_size:
                integrity.append(
                    Finding(INTEGRITY, f"entry is beyond the log head (tree_size {head_size}): inserted", idx)
                )
            elif recorded is None:
                integrity.append(Finding(INTEGRITY, "its leaf node is missing from audit_node", idx))
            elif recorded != computed:
                integrity.append(Finding(INTEGRITY, "entry does not match its recorded leaf hash (modified)", idx))
            if obj.get("index") != idx:
                integrity.append(
                    Finding(INTEGRITY, f"entry records index {obj.get('index')}: renumbered, inserted or moved", idx)
                )
            digest = obj.get("private_sha256")
            if digest is not None and (
                row.private_enc is None or hashlib.sha256(row.private_enc).hexdigest() != digest
            ):
                integrity.append(Finding(INTEGRITY, "private payload was removed or replaced", idx))
            if idx < head_size:
                _append(computed)
                replayer.feed(obj)
                at = _int(obj.get("at")) or 0
                entry_times.append((idx, at))
                if at < last_at:
                    integrity.append(Finding(INTEGRITY, f"timestamp {at} is earlier than the entry before", idx))
                last_at = max(last_at, at)

    def _append(leaf: bytes) -> None:
        nonlocal expected
        acc.append(leaf)
        expected += 1
        if acc.size in sizes:
            roots[acc.size] = acc.root()

    pending: list[Any] = []
    for row in store.iter_entry_rows(session, batch=batch):
        pending.append(row)
        if len(pending) >= batch:
            _take(pending)
            pending = []
    _take(pending)
    while expected < head_size:
        integrity.append(Finding(INTEGRITY, "entry is missing (deleted from audit_entry)", expected))
        _append(_missing_leaf(session, expected))
    report.entries = expected

    if roots.get(head_size) is not None and roots[head_size] != head_root:
        integrity.append(
            Finding(INTEGRITY, f"the log head's root for tree_size {head_size} does not match the entries")
        )
    report.findings.extend(integrity)

    sth_findings = list(sig_findings)
    for h in sth_rows:
        size = int(h["tree_size"])
        if size > head_size:
            sth_findings.append(
                Finding(STH_MISMATCH, f"tree head #{h['id']} signs tree_size {size} but the log has {head_size}")
            )
        elif int(h["id"]) in good_ids and roots.get(size, b"").hex() != h["root_hash"]:
            sth_findings.append(
                Finding(
                    STH_MISMATCH,
                    f"tree head #{h['id']} (tree_size {size}) does not match the stored entries: the log was "
                    f"rewritten below index {size}",
                )
            )
    for name, known in known_good:
        if known.tree_size > head_size:
            sth_findings.append(
                Finding(STH_FORK, f"{name} signs tree_size {known.tree_size} but the log has {head_size}: it shrank")
            )
        elif roots.get(known.tree_size) != known.root_hash:
            sth_findings.append(
                Finding(
                    STH_FORK,
                    f"{name} (tree_size {known.tree_size}) has another root than the stored entries: the log "
                    f"was forked below index {known.tree_size}",
                )
            )
    sth_findings.extend(
        sth_gaps(
            entry_times, [h for h in sth_rows if int(h["id"]) in good_ids], max_delay_ms=max_delay_ms, now_ms=now_ms
        )
    )
    report.findings.extend(sth_findings)
    report.findings.extend(replayer.findings)
    return report


def _missing_leaf(session: Session, index: int) -> bytes:
    """The recorded leaf hash of an entry whose row is gone (keeps later roots comparable)."""
    return store.leaf_hashes(session, index, index + 1).get(index, b"\x00" * 32)


def run_check(
    ctx: VaultContext,
    *,
    max_delay_seconds: int | None = None,
    known_heads: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> CheckReport:
    """The full check over the vault's database; a head may lag an entry by twice the signing interval. The
    vault's own witness of its newest signed head is compared with the log along with ``known_heads``."""
    delay = max_delay_seconds if max_delay_seconds is not None else 2 * ctx.settings.audit_sth_interval_seconds
    known = list(known_heads)
    remembered = ctx.audit_witness.latest()
    if remembered is not None:
        known.append(("the vault's witness of its last signed head", remembered))
    agreements = ctx.policy.agreements
    roster: dict[tuple[str, str], Mapping[str, Any]] = {
        (a.id, a.version): a.permits.model_dump() for a in (agreements.agreements if agreements is not None else ())
    }
    with ctx.db.session() as s:
        return check_log(
            s,
            jwks=service.jwks(ctx),
            max_delay_ms=delay * 1000,
            now_ms=service.now_ms(),
            known_heads=known,
            roster=roster,
        )


def load_known_heads(paths: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Signed tree heads saved outside the vault: ``sth.json`` files, or directories searched for ``*.json``
    heads (an earlier ``audit export`` directory: its ``sth.json`` and ``old-sths/``). Raises FormatError."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*.json") if p.name != "jwks.json") if path.is_dir() else [path]
        for file in files:
            try:
                obj = json.loads(file.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise FormatError(f"{file}: not a readable JSON tree head ({exc})") from exc
            if isinstance(obj, dict) and "signature" in obj and "tree_size" in obj:
                found.append((str(file), obj))
            elif not path.is_dir():
                raise FormatError(f"{file}: not a signed tree head (no tree_size/signature)")
    return found


# ---- offline: a regulator slice ----------------------------------------------------------------------------
def verify_slice(archive: bytes) -> tuple[list[str], dict[str, Any]]:
    """Verify a regulator slice (``/v1/audit/export`` zip) offline: the head's signature, every entry's leaf hash
    and inclusion proof against it, and every earlier head's consistency proof. Returns (problems, summary)."""
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = set(z.namelist())
        for needed in ("entries.jsonl", "sth.json", "jwks.json", "inclusion.jsonl"):
            if needed not in names:
                raise FormatError(f"slice: {needed} is missing")
        head = parse_tree_head(json.loads(z.read("sth.json")), "sth.json")
        keys = parse_jwks(json.loads(z.read("jwks.json")), "jwks.json")
        why = check_tree_head_signature(head, keys)
        if why is not None:
            return [f"sth.json: {why}"], {}
        proofs: dict[int, dict[str, Any]] = {}
        for line in z.read("inclusion.jsonl").decode().splitlines():
            if line.strip():
                p = json.loads(line)
                proofs[int(p["leaf_index"])] = p
        count = 0
        for lineno, line in enumerate(z.read("entries.jsonl").decode().splitlines(), 1):
            if not line.strip():
                continue
            count += 1
            item = json.loads(line)
            index, entry = int(item["index"]), item["entry"]
            leaf = entry_leaf_hash(entry)
            where = f"entries.jsonl:{lineno}: index {index}"
            if leaf.hex() != item.get("leaf_hash"):
                problems.append(f"{where}: entry does not match its leaf_hash (entry modified)")
            if entry.get("index") != index:
                problems.append(f"{where}: the entry itself records index {entry.get('index')}")
            proof = proofs.get(index)
            if proof is None or proof.get("tree_size") != head.tree_size:
                problems.append(f"{where}: no inclusion proof against sth.json")
                continue
            path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
            if not verify_inclusion(index, head.tree_size, leaf, path, head.root_hash):
                problems.append(f"{where}: inclusion proof does not verify against the signed root")
        olds = sorted(n for n in names if n.startswith("old-sths/"))
        for name in olds:
            old = parse_tree_head(json.loads(z.read(name)), name)
            why = check_tree_head_signature(old, keys)
            if why is not None:
                problems.append(f"{name}: {why}")
                continue
            proof_name = f"consistency/{old.tree_size}-{head.tree_size}.json"
            if proof_name not in names:
                problems.append(f"{name}: no consistency proof to sth.json")
                continue
            cp = json.loads(z.read(proof_name))
            path = [bytes.fromhex(h) for h in cp["consistency_path"]]
            if not verify_consistency(old.tree_size, head.tree_size, old.root_hash, head.root_hash, path):
                problems.append(f"{name}: not a prefix of sth.json (fork): consistency proof fails")
    return problems, {"entries": count, "tree_size": head.tree_size, "old_heads": len(olds), "kid": head.kid}
