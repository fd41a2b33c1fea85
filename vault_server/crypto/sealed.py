"""Sealed columns: values the vault must read back whole but a database reader must not (what a consumer
granted a vendor: categories, fields; their signed receipts).

``SealedJSON`` / ``SealedText`` are column types that AES-256-GCM-encrypt on the way in and decrypt on the way
out, so the rooms using them keep plain Python values. The key is derived from the keyring's index key
(``KeyRing.derive("sealed-columns")``) and installed on the engine by :func:`install_sealer` when the context is
built; the AAD names the column, so a value moved to another column does not open. Unlike per-consumer
ciphertexts these are not bound to a row: crypto-shredding of grants is done by clearing them at account deletion.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from vault_server.crypto.envelope import DecryptionError
from vault_server.crypto.keyring import KeyRing

VERSION = 1
_ATTR = "vault_sealer"


class Sealer:
    """AES-256-GCM with a per-column label as AAD."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, label: str, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, data, b"sealed|" + label.encode())

    def open(self, label: str, blob: bytes) -> bytes:
        if not blob or blob[0] != VERSION:
            raise DecryptionError(f"{label}: unknown sealed format")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], b"sealed|" + label.encode())
        except InvalidTag as exc:
            raise DecryptionError(f"{label}: sealed value does not authenticate (tampered or wrong key)") from exc


def sealer_for(ring: KeyRing) -> Sealer:
    return Sealer(ring.derive("sealed-columns"))


def install_sealer(engine: Engine, ring: KeyRing) -> None:
    """Let this engine's sealed columns encrypt and decrypt (called when the context is built)."""
    setattr(engine.dialect, _ATTR, sealer_for(ring))


def _sealer(dialect: Dialect) -> Sealer:
    sealer: Sealer | None = getattr(dialect, _ATTR, None)
    if sealer is None:
        raise RuntimeError("sealed columns need the vault keyring: build the engine through build_context()")
    return sealer


class SealedJSON(TypeDecorator[Any]):
    """A JSON value stored encrypted."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, label: str):
        super().__init__()
        self.label = label

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return _sealer(dialect).seal(self.label, json.dumps(value, separators=(",", ":"), sort_keys=True).encode())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(_sealer(dialect).open(self.label, bytes(value)))


class SealedText(TypeDecorator[str]):
    """A text value stored encrypted."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, label: str):
        super().__init__()
        self.label = label

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else _sealer(dialect).seal(self.label, value.encode())

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else _sealer(dialect).open(self.label, bytes(value)).decode()
