"""The vault never signs a forked or shrunken log, and `audit check` finds a fork even after the stored heads were
deleted: an attacker with write access to the database rewrites entry 5 consistently (entries, nodes, head) and
deletes `audit_sth`. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.check import STH_FORK, STH_SIGNATURE, load_known_heads, run_check
from vault_server.audit.merkle import root_hash
from vault_server.audit.tasks import maybe_make_sth
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context

from .test_audit_tamper import N, _sql, log, rewrite_consistently

__all__ = ["log"]  # the 12-entry log fixture, heads signed at 8 and 12


def _heads(ctx: VaultContext) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        return [audit.sth_json(r) for r in store.all_sths(s)]


def _grow(ctx: VaultContext, consumer: str, n: int = 1) -> None:
    for _ in range(n):
        with ctx.db.session() as s:
            audit.record(session=s, ctx=ctx, kind="vendor.read", actor="vendor:acme", consumer_id=consumer,
                         details={"vendor_id": "acme", "grant_id": "g1", "categories": ["electronics"]})  # fmt: skip


def test_the_vault_refuses_a_second_root_for_a_size_it_signed(ctx: VaultContext, log: dict[str, Any]) -> None:
    rewrite_consistently(ctx, 5)  # same size 12, another root
    with pytest.raises(audit.AuditIntegrityError, match="forked"):
        maybe_make_sth(ctx, force=True)
    assert len(_heads(ctx)) == 2  # nothing new was signed


def test_the_vault_refuses_a_fork_after_the_stored_heads_were_deleted(
    ctx: VaultContext, settings: Settings, log: dict[str, Any], tmp_path: Path
) -> None:
    witnessed = build_context(settings.model_copy(update={"audit_witness_file": tmp_path / "sth-witness.json"}))
    try:
        _grow(ctx, log["consumer"])
        maybe_make_sth(witnessed, force=True)  # a process with a witness file signs tree_size 13
        rewrite_consistently(ctx, 5, size=N + 1)
        _sql(ctx, "DELETE FROM audit_sth")
        # the process that signed remembers, and so does a restarted one reading the witness file
        restarted = build_context(witnessed.settings)
        for process in (ctx, witnessed, restarted):
            with pytest.raises(audit.AuditIntegrityError, match="forked"):
                maybe_make_sth(process, force=True)
        restarted.db.dispose()
        assert _heads(ctx) == []
    finally:
        witnessed.db.dispose()


def test_the_vault_refuses_to_sign_a_shrunken_log_or_over_a_forged_head(ctx: VaultContext, log: dict[str, Any]) -> None:
    _sql(ctx, "DELETE FROM audit_entry WHERE idx >= 10")
    _sql(ctx, "UPDATE audit_head SET tree_size = 10, root_hash = :r", r=_root_at(ctx, 10))
    with pytest.raises(audit.AuditIntegrityError, match="shrank"):
        maybe_make_sth(ctx, force=True)
    _sql(ctx, "DELETE FROM audit_sth WHERE tree_size = 12")
    _sql(ctx, "UPDATE audit_sth SET signature = :s", s=_heads(ctx)[0]["signature"][:-4] + "AAAA")
    fresh = build_context(ctx.settings)  # no memory of its own: the stored head is all it has
    try:
        with pytest.raises(audit.AuditIntegrityError, match="does not verify"):
            maybe_make_sth(fresh, force=True)
    finally:
        fresh.db.dispose()


def _root_at(ctx: VaultContext, size: int) -> bytes:
    with ctx.db.session() as s:
        return root_hash(store.DbNodeStore(s), size)


def test_growth_is_signed_normally_with_a_witness(
    ctx: VaultContext, settings: Settings, log: dict[str, Any], tmp_path: Path
) -> None:
    witnessed = build_context(settings.model_copy(update={"audit_witness_file": tmp_path / "w.json"}))
    try:
        for grow in (1, 2):
            _grow(ctx, log["consumer"], grow)
            row = maybe_make_sth(witnessed, force=True)
            assert row is not None
        assert row.tree_size == N + 3
        assert json.loads((tmp_path / "w.json").read_text())["tree_size"] == row.tree_size
        assert run_check(witnessed, max_delay_seconds=3600).ok
    finally:
        witnessed.db.dispose()


def test_audit_check_finds_the_fork_from_heads_kept_outside_the_database(
    ctx: VaultContext, log: dict[str, Any], tmp_path: Path
) -> None:
    saved = tmp_path / "export"
    (saved / "old-sths").mkdir(parents=True)
    first, latest = _heads(ctx)
    (saved / "old-sths" / "8.json").write_text(json.dumps(first))
    (saved / "sth.json").write_text(json.dumps(latest))
    (saved / "jwks.json").write_text(json.dumps(audit.jwks(ctx)))
    known = load_known_heads([saved])
    assert sorted(h["tree_size"] for _, h in known) == [8, 12]
    fresh = build_context(ctx.settings)  # `intent-vault audit check` is a new process: no memory of the heads
    try:
        assert run_check(fresh, max_delay_seconds=3600, known_heads=known).ok
        rewrite_consistently(ctx, 5)
        _sql(ctx, "DELETE FROM audit_sth")
        assert run_check(fresh, max_delay_seconds=3600).ok  # the stored log alone looks fine ...
        forks = [f for f in run_check(fresh, max_delay_seconds=3600, known_heads=known).findings if f.kind == STH_FORK]
        assert len(forks) == 2 and all("forked below index" in f.message for f in forks)  # ... the saved heads not
        forged = {**latest, "root_hash": "00" * 32}
        findings = run_check(fresh, max_delay_seconds=3600, known_heads=[("forged.json", forged)]).findings
        assert [f.kind for f in findings] == [STH_SIGNATURE]  # a head that does not verify proves nothing
    finally:
        fresh.db.dispose()
