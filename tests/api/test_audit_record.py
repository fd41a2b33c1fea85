"""record(): one entry per call in the caller's transaction, pseudonymised, private part encrypted, tree kept."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from vault_server.accounts import flows
from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.merkle import MemoryNodeStore, root_hash, verify_inclusion
from vault_server.audit.models import AuditEntry
from vault_server.audit.verifier import entry_leaf_hash, verify_export
from vault_server.context import VaultContext

from ..conftest import PASSWORD


def _consumer(ctx: VaultContext, email: str = "dana@example.com") -> Account:
    with ctx.db.session() as s:
        return accounts.sign_up(session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD)


def _read(ctx: VaultContext, consumer_id: str, n: int = 3) -> AuditEntry:
    with ctx.db.session() as s:
        return audit.record(
            session=s,
            ctx=ctx,
            kind="vendor.read",
            actor="vendor:v-acme",
            consumer_id=consumer_id,
            details={"vendor_id": "v-acme", "grant_id": "g-1", "categories": ["electronics/tv"], "record_count": n},
            private={"items": ["65-inch TV under 900 EUR"]},
        )


def test_record_appends_in_order_and_keeps_the_tree(ctx: VaultContext) -> None:
    dana = _consumer(ctx)
    first = _read(ctx, dana.id)
    with ctx.db.session() as s:
        second = audit.record(
            session=s, ctx=ctx, kind="admin.key_rotation", actor="system", consumer_id=None, details={"signing": True}
        )
    assert (first.idx, second.idx) == (0, 1)
    mem = MemoryNodeStore()
    with ctx.db.session() as s:
        rows = store.entries_range(s, 0, 10)
        for row in rows:
            mem.append(int(row.idx), [entry_leaf_hash(json.loads(row.entry))])
        size, head_root = store.read_head(s)
        assert size == 2 and head_root == root_hash(mem, 2) == root_hash(store.DbNodeStore(s), 2)
        proof = audit.inclusion(session=s, index=0)
    assert verify_inclusion(
        0, 2, bytes.fromhex(proof["leaf_hash"]), [bytes.fromhex(h) for h in proof["inclusion_path"]], head_root
    )


def test_entry_is_pseudonymous_and_private_part_encrypted(ctx: VaultContext) -> None:
    dana = _consumer(ctx)
    row = _read(ctx, dana.id)
    assert dana.id not in row.entry and "900 EUR" not in row.entry
    obj = json.loads(row.entry)
    assert obj["subject"] == audit.subject_pseudonym(ctx.ring, dana.id) and obj["details"]["record_count"] == 3
    assert obj["private_sha256"] and row.private_enc and b"900 EUR" not in row.private_enc
    with ctx.db.session() as s:
        stored = s.get(AuditEntry, row.idx)
        assert stored is not None
        private = audit.read_private(session=s, ctx=ctx, row=stored, consumer_id=dana.id)
        assert private is not None and private["items"] == ["65-inch TV under 900 EUR"]


def test_entry_rolls_back_with_the_action(ctx: VaultContext) -> None:
    dana = _consumer(ctx)
    with pytest.raises(RuntimeError), ctx.db.session() as s:
        audit.record(session=s, ctx=ctx, kind="grant.created", actor="consumer", consumer_id=dana.id, details={})
        raise RuntimeError("the action failed")
    with ctx.db.session() as s:
        assert store.read_head(s)[0] == 0
        assert s.exec(select(AuditEntry)).first() is None


def test_raw_consumer_id_and_floats_are_refused(ctx: VaultContext) -> None:
    dana = _consumer(ctx)
    with ctx.db.session() as s:
        with pytest.raises(ValueError, match="pseudonymised"):
            audit.record(session=s, ctx=ctx, kind="vendor.read", actor="v", consumer_id=dana.id, details={"c": dana.id})
        with pytest.raises(ValueError, match="floats"):
            audit.record(session=s, ctx=ctx, kind="vendor.read", actor="v", consumer_id=None, details={"x": 0.5})
        with pytest.raises(ValueError, match="dotted"):
            audit.record(session=s, ctx=ctx, kind="Read", actor="v", consumer_id=None, details={})


def test_log_verifies_after_the_consumer_is_deleted(ctx: VaultContext) -> None:
    dana = _consumer(ctx)
    _read(ctx, dana.id)
    with ctx.db.session() as s:
        account = s.get(Account, dana.id)
        assert account is not None
        flows.delete_account(session=s, ctx=ctx, account=account)
    with ctx.db.session() as s:
        sth = audit.sth_json(audit.make_sth(session=s, ctx=ctx))
        lines = list(audit.export_lines(s))
        rows = store.entries_range(s, 0, 100)
        assert all(audit.read_private(session=s, ctx=ctx, row=r, consumer_id=dana.id) is None for r in rows)
    report = verify_export(lines, sth, audit.jwks(ctx))
    assert report.ok, [p.message for p in report.problems]
    assert sth["tree_size"] == len(lines)
