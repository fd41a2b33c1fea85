"""record_many(): k entries as one batch give the same log as k record() calls, in a constant number of statements,
and concurrent batches never lose or double a leaf."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from vault_server.accounts import service as accounts
from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.merkle import MemoryNodeStore, consistency_proof, frontier_of, inclusion_proof, root_hash
from vault_server.audit.verifier import entry_leaf_hash, verify_export
from vault_server.context import VaultContext
from vault_server.crypto.service import DataKeyGone, shred

from ..conftest import PASSWORD


def _consumers(ctx: VaultContext, n: int) -> list[str]:
    with ctx.db.session() as s:
        return [
            accounts.sign_up(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"b{i}@example.com", password=PASSWORD
            ).id
            for i in range(n)
        ]


def _spec(i: int, consumer_id: str | None) -> audit.AuditSpec:
    return audit.AuditSpec(
        kind="vendor.read",
        actor="vendor:v-acme",
        consumer_id=consumer_id,
        details={"vendor_id": "v-acme", "grant_id": f"g-{i}", "record_count": i},
        private={"signals": [f"item {i}"]} if consumer_id is not None else None,
    )


@contextmanager
def statements(ctx: VaultContext) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs (executemany counts once)."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)


def _mirror(ctx: VaultContext) -> tuple[MemoryNodeStore, int]:
    """The stored entries appended one at a time to an in-memory tree (what k single record() calls build)."""
    mem = MemoryNodeStore()
    with ctx.db.session() as s:
        rows = store.entries_range(s, 0, 10_000)
    for row in rows:
        mem.append(int(row.idx), [entry_leaf_hash(json.loads(row.entry))])
    return mem, len(rows)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(min_value=1, max_value=13), min_size=1, max_size=5), picks=st.data())
def test_batches_build_the_tree_of_single_appends(ctx: VaultContext, batches: list[int], picks: st.DataObject) -> None:
    with ctx.db.session() as s:  # each example starts from an empty log
        for table in ("audit_node", "audit_entry", "audit_head"):
            s.execute(text(f"DELETE FROM {table}"))
    before = 0
    for k in batches:
        with ctx.db.session() as s:
            rows = audit.record_many(
                session=s,
                ctx=ctx,
                entries=[_spec(i, None) for i in range(k)],
            )
            assert [r.idx for r in rows] == list(range(before, before + k))
            before += k
    mem, size = _mirror(ctx)
    with ctx.db.session() as s:
        head_size, head_root = store.read_head(s)
        assert (head_size, head_root) == (size, root_hash(mem, size))
        index = picks.draw(st.integers(min_value=0, max_value=size - 1))
        first = picks.draw(st.integers(min_value=0, max_value=size))
        proof = audit.inclusion(session=s, index=index)
        assert [bytes.fromhex(h) for h in proof["inclusion_path"]] == inclusion_proof(mem, index, size)
        cons = audit.consistency(session=s, first=first)
        assert [bytes.fromhex(h) for h in cons["consistency_path"]] == consistency_proof(mem, first, size)


def test_a_batch_equals_single_records_entry_for_entry(ctx: VaultContext) -> None:
    ids = _consumers(ctx, 3)
    specs = [_spec(i, ids[i % 3] if i % 4 else None) for i in range(9)]
    with ctx.db.session() as s:
        singles = [
            audit.record(
                session=s,
                ctx=ctx,
                kind=sp.kind,
                actor=sp.actor,
                consumer_id=sp.consumer_id,
                details=sp.details,
                private=sp.private,
            )
            for sp in specs
        ]
    with ctx.db.session() as s:
        batch = audit.record_many(session=s, ctx=ctx, entries=specs)
    assert [r.idx for r in batch] == list(range(9, 18))
    for one, many in zip(singles, batch, strict=True):
        a, b = json.loads(one.entry), json.loads(many.entry)
        # the same entry but for its position, time and the digest of a freshly encrypted private part
        for key in ("index", "at", "private_sha256"):
            a.pop(key), b.pop(key)
        assert a == b and (one.private_enc is None) == (many.private_enc is None)
    with ctx.db.session() as s:
        for row, spec in zip(store.entries_range(s, 9, 18), specs, strict=True):
            private = audit.read_private(session=s, ctx=ctx, row=row, consumer_id=spec.consumer_id or "")
            assert spec.consumer_id is None or private == {
                "signals": [f"item {spec.details['record_count']}"],
                "details": spec.details,  # the clear details, tokenised in the public log
            }
        sth = audit.sth_json(audit.make_sth(session=s, ctx=ctx))
        lines = list(audit.export_lines(s))
    report = verify_export(lines, sth, audit.jwks(ctx))
    assert report.ok, [p.message for p in report.problems]
    assert sth["tree_size"] == 18


def test_a_batch_costs_the_same_statements_whatever_its_size(ctx: VaultContext) -> None:
    ids = _consumers(ctx, 6)
    with ctx.db.session() as s:
        audit.record(session=s, ctx=ctx, kind="admin.policy_change", actor="admin:a", consumer_id=None, details={})
    counts = []
    for k in (3, 60):
        with ctx.db.session() as s, statements(ctx) as seen:
            audit.record_many(session=s, ctx=ctx, entries=[_spec(i, ids[i % 6]) for i in range(k)])
        counts.append(len(seen))
    assert counts[0] == counts[1], counts


def test_an_invalid_spec_writes_nothing(ctx: VaultContext) -> None:
    (dana,) = _consumers(ctx, 1)
    bad = audit.AuditSpec(kind="vendor.read", actor="v", consumer_id=dana, details={"raw": dana})
    with ctx.db.session() as s, pytest.raises(ValueError, match="pseudonymised"):
        audit.record_many(session=s, ctx=ctx, entries=[_spec(0, dana), bad])
    with ctx.db.session() as s:
        shred(session=s, account_id=dana)
    with ctx.db.session() as s, pytest.raises(DataKeyGone):
        audit.record_many(session=s, ctx=ctx, entries=[_spec(0, None), _spec(1, dana)])
    with ctx.db.session() as s:
        assert store.read_head(s)[0] == 0 and store.entries_range(s, 0, 10) == []


def test_concurrent_batches_never_lose_or_double_a_leaf(ctx: VaultContext) -> None:
    ids = _consumers(ctx, 4)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for round_ in range(6):
                with ctx.db.session() as s:
                    audit.record_many(
                        session=s,
                        ctx=ctx,
                        entries=[
                            audit.AuditSpec(
                                kind="vendor.read",
                                actor=f"vendor:w{w}",
                                consumer_id=ids[w],
                                details={"round": round_, "n": n},
                                private={"n": n},
                            )
                            for n in range(1 + (w + round_) % 7)
                        ],
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = sum(1 + (w + r) % 7 for w in range(4) for r in range(6))
    with ctx.db.session() as s:
        rows = store.entries_range(s, 0, 1000)
    assert [r.idx for r in rows] == list(range(expected))
    objs = [json.loads(r.entry) for r in rows]
    seen = {(o["actor"], o["details"]["round"], o["details"]["n"]) for o in objs}
    assert len(seen) == expected
    mem, size = _mirror(ctx)
    with ctx.db.session() as s:
        assert store.read_head(s) == (size, root_hash(mem, size))
        sth = audit.sth_json(audit.make_sth(session=s, ctx=ctx))
        lines = list(audit.export_lines(s))
    report = verify_export(lines, sth, audit.jwks(ctx))
    assert report.ok, [p.message for p in report.problems]


def test_entries_are_stored_byte_for_byte_whatever_their_characters(ctx: VaultContext) -> None:
    """What was hashed is what is stored (PostgreSQL sends a batch as one JSON document): quotes, backslashes,
    control characters, non-ASCII and astral characters survive, and the log verifies."""
    (dana,) = _consumers(ctx, 1)
    awkward = [
        'quote " and \\ backslash',
        "line\nbreak\ttab\x01",
        "K\u00e4se \u2013 \u00fcn\u00efcode \u2713",
        "astral \U0001f6d2\U0001d11e",
        "{'json': [1]}",
    ]
    specs = [
        audit.AuditSpec(
            kind="vendor.read",
            actor="vendor:v-odd",
            consumer_id=dana if i % 2 else None,
            details={"vendor_id": "v-odd", "note": text_, "n": i},
            private={"text": text_} if i % 2 else None,
        )
        for i, text_ in enumerate(awkward)
    ]
    with ctx.db.session() as s:
        rows = audit.record_many(session=s, ctx=ctx, entries=specs)
    with ctx.db.session() as s:
        stored = store.entries_range(s, 0, len(specs))
        assert [r.entry for r in stored] == [r.entry for r in rows]
        assert [r.private_enc for r in stored] == [r.private_enc for r in rows]
        assert [json.loads(r.entry)["details"].get("note") for r in stored if r.subject is None] == awkward[::2]
        for row, spec in zip(stored, specs, strict=True):
            if spec.private is not None:
                private = audit.read_private(session=s, ctx=ctx, row=row, consumer_id=dana)
                assert private is not None and private["text"] == spec.private["text"]
        sth = audit.sth_json(audit.make_sth(session=s, ctx=ctx))
        lines = list(audit.export_lines(s))
    report = verify_export(lines, sth, audit.jwks(ctx))
    assert report.ok, [p.message for p in report.problems]


def test_the_head_row_carries_the_frontier_and_a_stale_one_is_not_used(ctx: VaultContext) -> None:
    """An append starts from the frontier stored with the head; one that belongs to another size (a head from
    before revision 0301, or edited by hand) is ignored and the nodes are read: the tree stays that of single
    appends."""
    for k in (5, 3):
        with ctx.db.session() as s:
            audit.record_many(session=s, ctx=ctx, entries=[_spec(i, None) for i in range(k)])
    with ctx.db.session() as s:
        size, packed = s.execute(text("SELECT tree_size, frontier FROM audit_head")).one()
        assert size == 8 and store.unpack_frontier(8, packed) == frontier_of(store.DbNodeStore(s), 8)
        # a frontier of another size (as a hand edit or an old head leaves it): not used
        s.execute(text("UPDATE audit_head SET frontier = :f"), {"f": store.pack_frontier(7, [b"\x00" * 32] * 3)})
    with ctx.db.session() as s:
        audit.record_many(session=s, ctx=ctx, entries=[_spec(i, None) for i in range(4)])
    mem, size = _mirror(ctx)
    with ctx.db.session() as s:
        assert store.read_head(s) == (size, root_hash(mem, size)) and size == 12
