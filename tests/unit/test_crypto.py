"""Envelope encryption: round trips, tamper/AAD/key failures, keyring checks, rotation and crypto-shredding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import select

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher, DecryptionError, new_dek, unwrap_dek, wrap_dek
from vault_server.crypto.keyring import KeyRing, KeyRingError, b64e
from vault_server.crypto.models import DataKey
from vault_server.crypto.service import DataKeyGone, cipher_for, rotate_kek

from ..conftest import PASSWORD


def test_round_trip_and_binding() -> None:
    cipher = ConsumerCipher("c1", new_dek())
    blob = cipher.encrypt("gesture", "row-1", "Läufer 42 € 🙂".encode())
    assert cipher.decrypt("gesture", "row-1", blob).decode() == "Läufer 42 € 🙂"
    assert b"Laufer" not in blob


@pytest.mark.parametrize(
    ("table", "row", "consumer"),
    [("gesture", "row-2", "c1"), ("intent", "row-1", "c1"), ("gesture", "row-1", "c2")],
    ids=["other-row", "other-table", "other-consumer"],
)
def test_moved_ciphertext_fails(table: str, row: str, consumer: str) -> None:
    dek = new_dek()
    blob = ConsumerCipher("c1", dek).encrypt("gesture", "row-1", b"secret")
    with pytest.raises(DecryptionError, match="does not authenticate"):
        ConsumerCipher(consumer, dek).decrypt(table, row, blob)


def test_tampered_ciphertext_fails() -> None:
    cipher = ConsumerCipher("c1", new_dek())
    blob = bytearray(cipher.encrypt("t", "r", b"secret"))
    blob[-1] ^= 0x01
    with pytest.raises(DecryptionError, match="tampered, moved or wrong key"):
        cipher.decrypt("t", "r", bytes(blob))


def test_wrong_key_fails() -> None:
    blob = ConsumerCipher("c1", new_dek()).encrypt("t", "r", b"secret")
    with pytest.raises(DecryptionError):
        ConsumerCipher("c1", new_dek()).decrypt("t", "r", blob)


def test_unknown_format_version_fails() -> None:
    with pytest.raises(DecryptionError, match="unknown ciphertext format"):
        ConsumerCipher("c1", new_dek()).decrypt("t", "r", b"\x09abc")


def test_wrapped_dek_bound_to_consumer_and_kek() -> None:
    ring = KeyRing.generate()
    dek = new_dek()
    wrapped = wrap_dek(ring, "c1", dek)
    assert unwrap_dek(ring, "c1", wrapped) == dek
    with pytest.raises(DecryptionError):
        unwrap_dek(ring, "c2", wrapped)
    with pytest.raises(KeyRingError, match="no key-encryption key"):
        unwrap_dek(KeyRing.generate(), "c1", wrapped)


def test_keyring_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    KeyRing.generate().save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    KeyRing.load(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyRingError, match=r"mode 0644.*chmod 600"):
        KeyRing.load(path)


def test_keyring_errors_are_readable(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="does not exist; run `intent-vault init`"):
        KeyRing.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyRingError, match="not readable JSON"):
        KeyRing.load(bad)
    with pytest.raises(KeyRingError, match="must decode to 32 bytes"):
        KeyRing.from_env_key(b64e(b"short"))


def test_blind_index_is_keyed_and_scoped() -> None:
    a, b = KeyRing.generate(), KeyRing.generate()
    assert a.blind_index("c1", "electronics.tv") == a.blind_index("c1", "electronics.tv")
    assert a.blind_index("c1", "electronics.tv") != a.blind_index("c2", "electronics.tv")
    assert a.blind_index("c1", "electronics.tv") != b.blind_index("c1", "electronics.tv")


def _make_consumers(ctx: VaultContext, n: int) -> list[str]:
    ids = []
    with ctx.db.session() as s:
        for i in range(n):
            acc = accounts.sign_up(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"c{i}@example.com", password=PASSWORD, name=f"N{i}"
            )
            ids.append(acc.id)
    return ids


def test_kek_rotation_keeps_every_row_readable(ctx: VaultContext, tmp_path: Path) -> None:
    ids = _make_consumers(ctx, 7)
    old_kid = ctx.ring.active
    path = tmp_path / "rotated.json"
    ctx.ring.add_active()
    ctx.ring.save(path)
    report = rotate_kek(db=ctx.db, ring=ctx.ring, batch=3)
    assert report.rewrapped_data_keys == 7 and report.remaining_under_old == 0
    assert report.new_kid != old_kid
    # a process that only knows the new keyring file reads everything
    fresh = KeyRing.load(path)
    with ctx.db.session() as s:
        assert {k.kek_id for k in s.exec(select(DataKey)).all()} == {report.new_kid}
        for i, account_id in enumerate(ids):
            acc = s.get(Account, account_id)
            assert acc is not None
            assert accounts.profile(session=s, ring=fresh, account=acc)["email"] == f"c{i}@example.com"
    # without the new KEK the re-wrapped keys cannot be opened
    only_old = KeyRing(keks={old_kid: ctx.ring.keks[old_kid]}, active=old_kid, index_key=ctx.ring.index_key)
    with ctx.db.session() as s, pytest.raises(KeyRingError):
        cipher_for(session=s, ring=only_old, account_id=ids[0])


def test_deleted_consumer_rows_cannot_be_decrypted(ctx: VaultContext) -> None:
    (account_id,) = _make_consumers(ctx, 1)
    with ctx.db.session() as s:
        acc = s.get(Account, account_id)
        assert acc is not None
        email_blob = acc.email_enc
        assert email_blob is not None
        accounts.delete_account(session=s, account=acc)
    with ctx.db.session() as s:
        with pytest.raises(DataKeyGone):
            cipher_for(session=s, ring=ctx.ring, account_id=account_id)
        acc = s.get(Account, account_id)
        assert acc is not None and acc.email_enc is None and acc.deleted_at is not None
    # even a ciphertext kept elsewhere (a backup) is useless: no DEK can be found for it any more
    with ctx.db.session() as s:
        assert s.get(DataKey, account_id) is None
