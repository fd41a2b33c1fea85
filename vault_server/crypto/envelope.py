"""AES-256-GCM envelope encryption with per-consumer data keys.

Wire format of a stored ciphertext (bytes)::

    0x01 | nonce (12) | AES-GCM(ciphertext || tag)

AAD is ``"intent-vault/1|<table>|<row id>|<consumer id>"``, so a ciphertext copied to another row, table or
consumer fails authentication. A wrapped DEK is::

    0x01 | kid length (1) | kid (ascii) | nonce (12) | AES-GCM(dek || tag)   with AAD "dek|<consumer id>"

The kid header lets ``keys rotate`` re-wrap DEKs under a new KEK while older wrappings stay readable.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault_server.crypto.keyring import KeyRing

VERSION = 1
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext could not be authenticated: tampered, moved to another row, or its key is gone."""


def aad_for(table: str, row_id: str, consumer_id: str) -> bytes:
    return f"intent-vault/{VERSION}|{table}|{row_id}|{consumer_id}".encode()


def new_dek() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_dek(ring: KeyRing, consumer_id: str, dek: bytes) -> bytes:
    kid, kek = ring.active_kek()
    nonce = os.urandom(NONCE_BYTES)
    kid_raw = kid.encode("ascii")
    body = AESGCM(kek).encrypt(nonce, dek, b"dek|" + consumer_id.encode())
    return bytes([VERSION, len(kid_raw)]) + kid_raw + nonce + body


def wrapped_kid(wrapped: bytes) -> str:
    if len(wrapped) < 2 or wrapped[0] != VERSION:
        raise DecryptionError("wrapped key has an unknown format version")
    return wrapped[2 : 2 + wrapped[1]].decode("ascii")


def unwrap_dek(ring: KeyRing, consumer_id: str, wrapped: bytes) -> bytes:
    kid = wrapped_kid(wrapped)
    start = 2 + wrapped[1]
    nonce, body = wrapped[start : start + NONCE_BYTES], wrapped[start + NONCE_BYTES :]
    try:
        return AESGCM(ring.kek(kid)).decrypt(nonce, body, b"dek|" + consumer_id.encode())
    except InvalidTag as exc:
        raise DecryptionError(f"data key of consumer {consumer_id} does not authenticate under KEK {kid}") from exc


def rewrap_dek(ring: KeyRing, consumer_id: str, wrapped: bytes) -> bytes:
    """Unwrap with whichever KEK wrapped it and wrap again under the active KEK."""
    return wrap_dek(ring, consumer_id, unwrap_dek(ring, consumer_id, wrapped))


class ConsumerCipher:
    """Encrypts and decrypts one consumer's values, each bound to its table and row."""

    __slots__ = ("_aead", "consumer_id")

    def __init__(self, consumer_id: str, dek: bytes):
        self.consumer_id = consumer_id
        self._aead = AESGCM(dek)

    def encrypt(self, table: str, row_id: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad_for(table, row_id, self.consumer_id))

    def decrypt(self, table: str, row_id: str, blob: bytes) -> bytes:
        if not blob or blob[0] != VERSION:
            raise DecryptionError(f"{table}/{row_id}: unknown ciphertext format")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, aad_for(table, row_id, self.consumer_id))
        except InvalidTag as exc:
            raise DecryptionError(
                f"{table}/{row_id}: ciphertext does not authenticate (tampered, moved or wrong key)"
            ) from exc
