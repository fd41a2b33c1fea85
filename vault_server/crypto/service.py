"""Data keys: create, load, shred, and re-wrap under a new KEK (``keys rotate``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, Join, bindparam
from sqlalchemy import select as sql_select
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
from vault_server.db import Database, one_of, utcnow
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


class _UnwrappedKeys:
    """A bounded, short-lived, in-process cache of unwrapped data keys (as ciphers), keyed by the wrapped blob.

    Keyed by ``(account_id, wrapped, KEK)``: a wrapped blob carries a fresh nonce and the KEK id, so ``keys rotate``
    (new blob) misses at once, a keyring without the blob's KEK cannot reach it, and a shredded key is never looked
    up (callers always read the ``data_key`` row first, so a deleted row means no cipher whatever the cache holds).
    Entries live ``ttl`` seconds at most, the least recently used go first past ``size``, and nothing is ever
    written anywhere but this process's memory.
    """

    def __init__(self, size: int = 4096, ttl: float = 60.0):
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict[tuple[str, bytes, bytes], tuple[float, ConsumerCipher]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, bytes, bytes]) -> ConsumerCipher | None:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if hit[0] <= now:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: tuple[str, bytes, bytes], cipher: ConsumerCipher) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, cipher)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


UNWRAPPED_KEYS = _UnwrappedKeys()
_DATA_KEY = DataKey.__table__  # type: ignore[attr-defined]


def cipher_of(ring: KeyRing, key: DataKey) -> ConsumerCipher:
    """The cipher of a data key row the caller already read (through the unwrap cache)."""
    return _cipher(ring, key.account_id, key.wrapped)


def cipher_from_wrapped(ring: KeyRing, account_id: str, wrapped: bytes) -> ConsumerCipher:
    """The cipher of a wrapped key read with :func:`with_wrapped_key` (through the unwrap cache)."""
    return _cipher(ring, account_id, wrapped)


def with_wrapped_key(table: FromClause, account_column: ColumnElement[str]) -> tuple[Join, ColumnElement[bytes]]:
    """``table`` LEFT JOIN the data keys on ``account_column``, and the wrapped-key column of the join (NULL for a
    shredded account): a room that reads a consumer's ciphertexts gets their keys in the same statement, and opens
    them with :func:`cipher_from_wrapped`."""
    return table.outerjoin(_DATA_KEY, _DATA_KEY.c.account_id == account_column), _DATA_KEY.c.wrapped


def _cipher(ring: KeyRing, account_id: str, wrapped: bytes) -> ConsumerCipher:
    blob = bytes(wrapped)
    # the KEK that opens the blob is part of the key: a keyring without it gets KeyRingError, never a cached DEK
    key = (account_id, blob, ring.kek(wrapped_kid(blob)))
    cipher = UNWRAPPED_KEYS.get(key)
    if cipher is None:
        cipher = ConsumerCipher(account_id, unwrap_dek(ring, account_id, blob))
        UNWRAPPED_KEYS.put(key, cipher)
    return cipher


def data_keys(*, session: Session, account_ids: Collection[str]) -> list[DataKey]:
    """The wrapped data keys of many accounts in one query (shredded accounts have none). While the caller holds
    the rows, :func:`cipher_for` for these accounts is answered by the session's identity map, without a query."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return []
    dialect = session.get_bind().dialect.name
    return list(session.exec(select(DataKey).where(one_of(dialect, col(DataKey.account_id), wanted))).all())


def ciphers_for(*, session: Session, ring: KeyRing, account_ids: Collection[str]) -> dict[str, ConsumerCipher]:
    """Ciphers of many accounts from one Core query for their wrapped keys (no ORM objects: a feed page asks for
    ~100); accounts without a key (shredded) are absent from the result. Unwrapping goes through the short-lived
    cache of :class:`_UnwrappedKeys`. A caller that needs the same keys twice in a transaction (a feed page: the
    signals, then the audit entries) passes this result on instead of asking again."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    query = sql_select(_DATA_KEY.c.account_id, _DATA_KEY.c.wrapped).where(
        one_of(dialect, _DATA_KEY.c.account_id, wanted)
    )
    return {account: _cipher(ring, account, wrapped) for account, wrapped in session.connection().execute(query)}


def cipher_for(*, session: Session, ring: KeyRing, account_id: str) -> ConsumerCipher:
    """Returns the account's cipher; raises DataKeyGone after crypto-shredding. The row is read through the
    session (its identity map answers repeated calls); the unwrap goes through the cache."""
    row = session.get(DataKey, account_id)
    if row is None:
        raise DataKeyGone(f"no data key for account {account_id}")
    return _cipher(ring, account_id, row.wrapped)


_WRAPPED_KEY = sql_select(_DATA_KEY.c.wrapped).where(_DATA_KEY.c.account_id == bindparam("account"))


def cipher_once(*, session: Session, ring: KeyRing, account_id: str) -> ConsumerCipher:
    """:func:`cipher_for` in one prebuilt Core statement, for hot paths that need one account's key once per
    transaction (gesture ingest): no ORM object is built or kept. Raises DataKeyGone after crypto-shredding."""
    wrapped = session.connection().execute(_WRAPPED_KEY, {"account": account_id}).scalar_one_or_none()
    if wrapped is None:
        raise DataKeyGone(f"no data key for account {account_id}")
    return _cipher(ring, account_id, wrapped)


def shred(*, session: Session, account_id: str) -> bool:
    """Delete the account's DEK: every ciphertext of the account becomes unreadable. True if one existed."""
    row = session.get(DataKey, account_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()  # at once: the hot paths read keys with Core statements, which do not autoflush the ORM
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
