"""ciphers_for(): many accounts' data keys from one query through a short-lived cache that never outlives a
shredded or re-wrapped key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher
from vault_server.crypto.service import (
    DataKeyGone,
    _UnwrappedKeys,
    cipher_for,
    ciphers_for,
    rotate_kek,
    shred,
)

from ..conftest import PASSWORD


def _consumers(ctx: VaultContext, n: int) -> list[str]:
    with ctx.db.session() as s:
        return [
            accounts.sign_up(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"k{i}@example.com", password=PASSWORD
            ).id
            for i in range(n)
        ]


def _secrets(ctx: VaultContext, ids: list[str]) -> dict[str, bytes]:
    with ctx.db.session() as s:
        ciphers = ciphers_for(session=s, ring=ctx.ring, account_ids=ids)
        return {a: c.encrypt("t", "r", f"secret of {a}".encode()) for a, c in ciphers.items()}


def test_one_query_for_many_accounts_and_the_same_keys_as_cipher_for(ctx: VaultContext) -> None:
    ids = _consumers(ctx, 5)
    blobs = _secrets(ctx, ids)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with ctx.db.session() as s:
        event.listen(ctx.db.engine, "before_cursor_execute", count)
        try:
            ciphers = ciphers_for(session=s, ring=ctx.ring, account_ids=[*ids, "no-such-account"])
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", count)
        assert len([q for q in statements if "data_key" in q]) == 1
        assert set(ciphers) == set(ids)
        for account_id in ids:
            one = cipher_for(session=s, ring=ctx.ring, account_id=account_id)
            assert one.decrypt("t", "r", blobs[account_id]) == f"secret of {account_id}".encode()
            assert ciphers[account_id].decrypt("t", "r", blobs[account_id]) == f"secret of {account_id}".encode()


def test_shredding_is_immediate_even_with_the_cache_warm(ctx: VaultContext) -> None:
    ids = _consumers(ctx, 2)
    blobs = _secrets(ctx, ids)  # the cache now holds both unwrapped keys
    with ctx.db.session() as s:
        acc = s.get(Account, ids[0])
        assert acc is not None
        accounts.delete_account(session=s, account=acc)
    with ctx.db.session() as s:
        assert set(ciphers_for(session=s, ring=ctx.ring, account_ids=ids)) == {ids[1]}
        with pytest.raises(DataKeyGone):
            cipher_for(session=s, ring=ctx.ring, account_id=ids[0])
        assert cipher_for(session=s, ring=ctx.ring, account_id=ids[1]).decrypt("t", "r", blobs[ids[1]])
    # shredding inside the reading transaction acts on that transaction's next read too
    with ctx.db.session() as s:
        assert shred(session=s, account_id=ids[1])
        assert ciphers_for(session=s, ring=ctx.ring, account_ids=ids) == {}


def test_keys_rotate_keeps_everything_readable_with_the_cache_warm(ctx: VaultContext, tmp_path: Path) -> None:
    ids = _consumers(ctx, 4)
    blobs = _secrets(ctx, ids)
    old_kid = ctx.ring.active
    ctx.ring.add_active()
    ctx.ring.save(tmp_path / "rotated.json")
    report = rotate_kek(db=ctx.db, ring=ctx.ring, batch=3)
    assert report.rewrapped_data_keys == 4 and report.new_kid != old_kid
    with ctx.db.session() as s:
        ciphers = ciphers_for(session=s, ring=ctx.ring, account_ids=ids)
    assert {a: c.decrypt("t", "r", blobs[a]) for a, c in ciphers.items()} == {a: f"secret of {a}".encode() for a in ids}


def test_the_cache_is_bounded_and_short_lived(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("vault_server.crypto.service.time.monotonic", lambda: clock[0])
    cache = _UnwrappedKeys(size=3, ttl=60.0)
    ciphers = {i: ConsumerCipher(f"c{i}", bytes(32)) for i in range(5)}
    for i, cipher in ciphers.items():
        cache.put((f"c{i}", b"w", b"k"), cipher)
    assert len(cache) == 3
    assert cache.get(("c0", b"w", b"k")) is None and cache.get(("c4", b"w", b"k")) is ciphers[4]
    clock[0] += 61
    assert cache.get(("c4", b"w", b"k")) is None
