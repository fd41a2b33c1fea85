"""Property: random appends through the database store (record() and batches of nodes) keep a tree whose every
inclusion and consistency proof verifies, on SQLite and PostgreSQL; each operation reads its nodes in one query."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.merkle import (
    MemoryNodeStore,
    append_leaves,
    consistency_proof,
    inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from vault_server.audit.verifier import entry_leaf_hash, leaf_hash
from vault_server.context import VaultContext


def _reset(ctx: VaultContext) -> None:
    with ctx.db.engine.begin() as conn:
        for table in ("audit_sth", "audit_node", "audit_entry", "audit_head"):
            conn.execute(text(f"DELETE FROM {table}"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=8), data=st.data())
def test_random_appends_through_the_db_store_prove_everything(
    ctx: VaultContext, batches: list[int], data: st.DataObject
) -> None:
    _reset(ctx)
    mem = MemoryNodeStore()
    size = 0
    roots: dict[int, bytes] = {0: root_hash(mem, 0)}
    for batch in batches:
        with ctx.db.session() as s:
            if data.draw(st.booleans(), label="through record()"):
                for _ in range(batch):
                    row = audit.record(
                        session=s, ctx=ctx, kind="vendor.read", actor="vendor:x", consumer_id=None, details={"n": size}
                    )
                    mem.append(size, [leaf_hash(row.entry.encode())])
                    size += 1
            else:  # a batch of leaves in one append_leaves call, as a bulk importer would
                leaves = [entry_leaf_hash({"bulk": size + i}) for i in range(batch)]
                start, _ = store.lock_head(s)
                result = append_leaves(store.DbNodeStore(s), start, leaves)
                store.DbNodeStore(s).put(result.nodes)
                store.set_head(s, result.tree_size, result.root_hash)
                mem.append(size, leaves)
                size += batch
        roots[size] = root_hash(mem, size)
    with ctx.db.session() as s:
        db = store.DbNodeStore(s)
        assert store.read_head(s) == (size, roots[size])
        for n, root in roots.items():
            assert root_hash(db, n) == root
        for m in sorted(roots):
            for n in sorted(roots):
                if m <= n:
                    path = consistency_proof(db, m, n)
                    assert path == consistency_proof(mem, m, n)
                    assert verify_consistency(m, n, roots[m], roots[n], path)
        for n in sorted(roots):
            for i in range(n):
                leaf = mem.get_nodes([(0, i)])[0]
                assert verify_inclusion(i, n, leaf, inclusion_proof(db, i, n), roots[n])


def test_each_store_operation_is_one_select(ctx: VaultContext) -> None:
    with ctx.db.session() as s:
        for i in range(100):
            audit.record(session=s, ctx=ctx, kind="vendor.read", actor="vendor:x", consumer_id=None, details={"i": i})
    selects: list[str] = []

    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_node" in statement:
            selects.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", _count)
    try:
        with ctx.db.session() as s:
            db = store.DbNodeStore(s)
            inclusion_proof(db, 37, 100)
            consistency_proof(db, 37, 100)
            root_hash(db, 99)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", _count)
    assert len(selects) == 3
