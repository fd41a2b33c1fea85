"""Data keys: create, load, shred, and re-wrap under a new KEK (``keys rotate``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from vault_server.crypto.envelope import (
    ConsumerCipher,
    new_dek,
    rewrap_dek,
    unwrap_dek,
    wrap_dek,
    wrapped_kid,
)
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.models import DataKey, SigningKey
from vault_server.db import Database, utcnow
from vault_server.errors import NotFound


class DataKeyGone(NotFound):
    slug = "data-key-gone"
    title = "This account's data key no longer exists"


def create_data_key(*, session: Session, ring: KeyRing, account_id: str) -> ConsumerCipher:
    """Create and store a fresh wrapped DEK for an account; returns its cipher."""
    dek = new_dek()
    wrapped = wrap_dek(ring, account_id, dek)
    session.add(DataKey(account_id=account_id, wrapped=wrapped, kek_id=wrapped_kid(wrapped)))
    return ConsumerCipher(account_id, dek)


def cipher_for(*, session: Session, ring: KeyRing, account_id: str) -> ConsumerCipher:
    """Returns the account's cipher; raises DataKeyGone after crypto-shredding."""
    row = session.get(DataKey, account_id)
    if row is None:
        raise DataKeyGone(f"no data key for account {account_id}")
    return ConsumerCipher(account_id, unwrap_dek(ring, account_id, row.wrapped))


def shred(*, session: Session, account_id: str) -> bool:
    """Delete the account's DEK: every ciphertext of the account becomes unreadable. True if one existed."""
    row = session.get(DataKey, account_id)
    if row is None:
        return False
    session.delete(row)
    return True


@dataclass
class RotationReport:
    new_kid: str
    rewrapped_data_keys: int
    rewrapped_signing_keys: int
    remaining_under_old: int


def rotate_kek(
    *, db: Database, ring: KeyRing, batch: int = 500, progress: Callable[[int, int], None] | None = None
) -> RotationReport:
    """Make a new KEK active (the caller saves the keyring first) and re-wrap every DEK and signing key under it.

    Works in small batches so a running server keeps serving; older KEKs stay in the ring for any
    wrapping done concurrently by a server that had not yet seen the new file.
    """
    new_kid = ring.active
    with db.session() as s:
        total = s.exec(select(func.count()).select_from(DataKey).where(DataKey.kek_id != new_kid)).one()
    done = 0
    while True:
        with db.session() as s:
            rows = s.exec(
                select(DataKey).where(DataKey.kek_id != new_kid).order_by(col(DataKey.account_id)).limit(batch)
            ).all()
            for row in rows:
                row.wrapped = rewrap_dek(ring, row.account_id, row.wrapped)
                row.kek_id = new_kid
                row.rewrapped_at = utcnow()
                s.add(row)
        if not rows:
            break
        done += len(rows)
        if progress:
            progress(done, total)
    signing = 0
    with db.session() as s:
        for key in s.exec(select(SigningKey).where(SigningKey.kek_id != new_kid)).all():
            key.private_wrapped = rewrap_dek(ring, "signing:" + key.kid, key.private_wrapped)
            key.kek_id = new_kid
            s.add(key)
            signing += 1
    with db.session() as s:
        remaining = s.exec(select(func.count()).select_from(DataKey).where(DataKey.kek_id != new_kid)).one()
    return RotationReport(new_kid, done, signing, remaining)


def unwrap_signing_secret(ring: KeyRing, key: SigningKey) -> bytes:
    return unwrap_dek(ring, "signing:" + key.kid, key.private_wrapped)


def wrap_signing_secret(ring: KeyRing, kid: str, secret: bytes) -> bytes:
    return wrap_dek(ring, "signing:" + kid, secret)
