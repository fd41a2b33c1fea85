"""Tampering with the stored log directly in the database (UPDATE, DELETE, INSERT) is caught, with its position,
by `audit check` over the database and by the offline verifier over an export. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from vault_server.accounts import service as accounts
from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.check import INTEGRITY, STH_MISMATCH, CheckReport, run_check
from vault_server.audit.merkle import MemoryNodeStore
from vault_server.audit.tasks import maybe_make_sth
from vault_server.audit.verifier import VerificationReport, canonical_json, entry_leaf_hash, leaf_hash, verify_export
from vault_server.context import VaultContext

from ..conftest import PASSWORD

N = 12


@pytest.fixture
def log(ctx: VaultContext) -> dict[str, Any]:
    """A 12-entry log with signed heads at 8 and 12 (reads about one consumer, private parts encrypted)."""
    with ctx.db.session() as s:
        dana = accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="dana@example.com", password=PASSWORD
        )
    for i in range(N):
        with ctx.db.session() as s:
            audit.record(
                session=s,
                ctx=ctx,
                kind="grant.created" if i == 0 else "vendor.read",
                actor="vendor:acme",
                consumer_id=dana.id,
                details={"vendor_id": "acme", "grant_id": "g1", "categories": ["electronics"], "record_count": i},
                private={"n": i},
            )
        if i + 1 == 8:
            maybe_make_sth(ctx, force=True)
    maybe_make_sth(ctx, force=True)
    assert run_check(ctx, max_delay_seconds=3600).ok
    return {"consumer": dana.id}


def _sql(ctx: VaultContext, statement: str, **params: Any) -> None:
    with ctx.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _check(ctx: VaultContext) -> CheckReport:
    return run_check(ctx, max_delay_seconds=3600)


def _verify(ctx: VaultContext) -> VerificationReport:
    with ctx.db.session() as s:
        latest = store.latest_sth(s)
        assert latest is not None
        lines = list(audit.export_lines(s))
    return verify_export(lines, audit.sth_json(latest), audit.jwks(ctx))


def _integrity(report: CheckReport) -> list[tuple[int | None, str]]:
    """Integrity findings that name a position (a changed entry also changes the head root: reported unindexed)."""
    return [(f.index, f.message) for f in report.findings if f.kind == INTEGRITY and f.index is not None]


def test_update_of_an_entry_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(
        ctx,
        "UPDATE audit_entry SET entry = REPLACE(entry, :a, :b) WHERE idx = 5",
        a='"record_count":5',
        b='"record_count":0',
    )
    report = _check(ctx)
    assert _integrity(report) == [(5, "entry does not match its recorded leaf hash (modified)")]
    assert "integrity: index 5: entry does not match" in report.lines()[0]
    offline = _verify(ctx)
    assert not offline.ok and offline.first_bad_index == 5
    assert "index 5: entry does not match its leaf_hash (entry modified)" in offline.problems[0].message


def test_delete_of_an_entry_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(ctx, "DELETE FROM audit_entry WHERE idx = 6")
    assert _integrity(_check(ctx)) == [(6, "entry is missing (deleted from audit_entry)")]
    offline = _verify(ctx)
    assert not offline.ok and offline.first_bad_index == 6


def test_delete_of_the_newest_entry_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(ctx, "DELETE FROM audit_entry WHERE idx = :i", i=N - 1)
    assert _integrity(_check(ctx)) == [(N - 1, "entry is missing (deleted from audit_entry)")]
    offline = _verify(ctx)
    assert not offline.ok and offline.first_bad_index == N - 1


def _forged(index: int, at: int) -> str:
    entry = {
        "v": 1,
        "index": index,
        "at": at,
        "kind": "grant.created",
        "actor": "vendor:acme",
        "subject": None,
        "details": {"vendor_id": "acme", "grant_id": "g-forged", "categories": ["health"]},
        "private_sha256": None,
    }
    return canonical_json(entry).decode()


def test_insert_past_the_head_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(
        ctx,
        "INSERT INTO audit_entry (idx, at_ms, ts, kind, actor, subject, vendor_id, entry, private_enc) "
        "VALUES (:i, 1, CURRENT_TIMESTAMP, 'grant.created', 'vendor:acme', NULL, 'acme', :e, NULL)",
        i=N,
        e=_forged(N, 1),
    )
    assert _integrity(_check(ctx)) == [(N, f"entry is beyond the log head (tree_size {N}): inserted")]


def test_insert_in_the_middle_with_renumbering_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    # shift entries 4.. up by one (highest first: idx is the primary key), then insert a forged entry at 4
    for idx in range(N - 1, 3, -1):
        _sql(ctx, "UPDATE audit_entry SET idx = :new WHERE idx = :old", new=idx + 1, old=idx)
    _sql(
        ctx,
        "INSERT INTO audit_entry (idx, at_ms, ts, kind, actor, subject, vendor_id, entry, private_enc) "
        "VALUES (4, 1, CURRENT_TIMESTAMP, 'grant.created', 'vendor:acme', NULL, 'acme', :e, NULL)",
        e=_forged(4, 1),
    )
    findings = _integrity(_check(ctx))
    assert findings[0] == (4, "entry does not match its recorded leaf hash (modified)")
    assert (5, "entry records index 4: renumbered, inserted or moved") in findings
    offline = _verify(ctx)
    assert not offline.ok and offline.first_bad_index == 4


def test_update_of_a_leaf_node_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(ctx, "UPDATE audit_node SET hash = :h WHERE level = 0 AND idx = 3", h=hashlib.sha256(b"x").digest())
    assert _integrity(_check(ctx))[0] == (3, "entry does not match its recorded leaf hash (modified)")
    offline = _verify(ctx)
    assert offline.first_bad_index == 3


def test_replaced_private_payload_is_named(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(ctx, "UPDATE audit_entry SET private_enc = (SELECT private_enc FROM audit_entry WHERE idx = 2) WHERE idx = 7")
    assert _integrity(_check(ctx)) == [(7, "private payload was removed or replaced")]
    with ctx.db.session() as s:
        row = store.get_entry(s, 7)
        assert row is not None  # and it does not decrypt either: its AAD binds it to index 2
        assert audit.read_private(session=s, ctx=ctx, row=row, consumer_id=log["consumer"]) is None


def rewrite_consistently(ctx: VaultContext, index: int, size: int = N) -> None:
    """What an attacker with write access to the database does: edit entry ``index`` and recompute every node
    and the head, so the stored log agrees with itself (a fork of the signed log)."""
    with ctx.db.session() as s:
        rows = store.entries_range(s, 0, size)
    mem = MemoryNodeStore()
    for row in rows:
        obj = json.loads(row.entry)
        if row.idx == index:
            obj["details"]["record_count"] = -1
            _sql(ctx, "UPDATE audit_entry SET entry = :e WHERE idx = :i", e=canonical_json(obj).decode(), i=index)
        result = mem.append(int(row.idx), [leaf_hash(canonical_json(obj))])
        for node in result.nodes:
            _sql(
                ctx,
                "UPDATE audit_node SET hash = :h WHERE level = :l AND idx = :i",
                h=node.hash,
                l=node.level,
                i=node.idx,
            )
    _sql(ctx, "UPDATE audit_head SET root_hash = :r", r=result.root_hash)


def test_consistent_rewrite_is_caught_by_the_signed_heads(ctx: VaultContext, log: dict[str, Any]) -> None:
    """An attacker who edits entry 5 and recomputes every node and the head: only the signatures catch it."""
    rewrite_consistently(ctx, 5)
    report = _check(ctx)
    assert _integrity(report) == []
    mismatches = [f.message for f in report.findings if f.kind == STH_MISMATCH]
    assert len(mismatches) == 2 and "(tree_size 8) does not match the stored entries" in mismatches[0]
    offline = _verify(ctx)
    assert not offline.ok
    assert offline.problems[0].kind == "root-mismatch"
    # and a tree head is never signed over a tree that disagrees with its own head row
    _sql(ctx, "UPDATE audit_head SET root_hash = :r", r=entry_leaf_hash({"x": 1}))
    with pytest.raises(audit.AuditIntegrityError):
        maybe_make_sth(ctx, force=True)
