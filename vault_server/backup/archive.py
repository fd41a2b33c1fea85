"""The backup archive format: a plaintext header, then a zlib-compressed JSON-lines body sealed in chunks with
AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015; what age and Tink's streaming
AEAD use), so a multi-gigabyte vault is never held in memory and any damage is found:

``IVBACKUP1\\n`` · header length (4 bytes, big endian) · header (JSON) · chunks, each ``length (4 bytes) ·
ciphertext``. Chunk ``i`` is sealed under nonce ``prefix (7 random bytes) · i (4 bytes) · last (1 byte)`` with
the SHA-256 of magic + header as associated data: an edited header, a changed, dropped, swapped or duplicated
chunk and a cut-off archive (no chunk marked last) all fail to open.

The key is derived, never stored: HKDF-SHA256 over the vault's key-encryption key named in the header (its kid),
with a random per-archive salt. A backup therefore needs nothing but the key file to restore — the same file
without which the restored data keys could not be unwrapped anyway — and a copy of the archive alone (a stolen
backup tape) reveals nothing, not even through its size per table (the body is compressed, then sealed).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault_server.crypto.keyring import KeyRing, b64d, b64e
from vault_server.errors import VaultError

MAGIC = b"IVBACKUP1\n"
FORMAT = 1
CHUNK = 1 << 20  # plaintext bytes per sealed chunk
MAX_HEADER = 64 * 1024
INFO = b"intent-vault backup v1"


class ArchiveError(VaultError):
    """The archive cannot be read: not an archive, wrong key, damaged or cut short."""

    slug = "backup-archive"
    title = "Backup archive error"


def _key(ring: KeyRing, kid: str, salt: bytes) -> bytes:
    if kid not in ring.keks:
        raise ArchiveError(
            f"this archive was sealed with key {kid}, which is not in the key file {ring.path or '(VAULT_KEK)'}; "
            "restore with the key file of the vault that made the backup"
        )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=INFO).derive(ring.kek(kid))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 1 << 32:
        raise ArchiveError("archive too large: more than 2^32 chunks")
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


class Writer:
    """Write records (JSON-serialisable objects, one per line) into a sealed archive."""

    def __init__(self, out: IO[bytes], ring: KeyRing, meta: dict[str, Any]):
        kid, _ = ring.active_kek()
        salt, self._prefix = os.urandom(16), os.urandom(7)
        header = {**meta, "format": FORMAT, "kid": kid, "salt": b64e(salt), "nonce_prefix": b64e(self._prefix),
                  "cipher": "AES-256-GCM STREAM, HKDF-SHA256 from the KEK", "compression": "zlib"}  # fmt: skip
        head = json.dumps(header, sort_keys=True).encode()
        self._aad = hashlib.sha256(MAGIC + head).digest()
        self._aead = AESGCM(_key(ring, kid, salt))
        self._out = out
        self._zip = zlib.compressobj(6)
        self._pending = bytearray()
        self._index = 0
        self.bytes_written = 0
        self._write(MAGIC + struct.pack(">I", len(head)) + head)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def _seal(self, data: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, last), data, self._aad)
        self._write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def record(self, obj: Any) -> None:
        self._pending += self._zip.compress(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        while len(self._pending) > CHUNK:
            self._seal(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]

    def close(self) -> None:
        self._pending += self._zip.flush()
        while len(self._pending) > CHUNK:
            self._seal(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()
        self._out.flush()


@dataclass(frozen=True)
class Header:
    meta: dict[str, Any]
    aad: bytes


def read_header(source: IO[bytes]) -> Header:
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise ArchiveError("not an Intent Vault backup archive (bad magic)")
    raw_len = source.read(4)
    if len(raw_len) != 4 or not 0 < struct.unpack(">I", raw_len)[0] <= MAX_HEADER:
        raise ArchiveError("the archive header is damaged")
    head = source.read(struct.unpack(">I", raw_len)[0])
    try:
        meta = json.loads(head)
        if meta.get("format") != FORMAT:
            raise ArchiveError(f"archive format {meta.get('format')} is not supported by this version")
        b64d(meta["salt"]), b64d(meta["nonce_prefix"]), str(meta["kid"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ArchiveError("the archive header is damaged") from None
    return Header(meta=meta, aad=hashlib.sha256(MAGIC + head).digest())


def check_key(ring: KeyRing, header: Header) -> None:
    """Fail early, before anything is written, when the key file lacks the archive's key."""
    _key(ring, str(header.meta["kid"]), b64d(header.meta["salt"]))


def records(source: IO[bytes], ring: KeyRing) -> Iterator[Any]:
    """Open the archive chunk by chunk and yield its records; raises ArchiveError on a wrong key or any damage
    (before yielding anything from a damaged chunk: each chunk is authenticated whole)."""
    header = read_header(source)
    meta = header.meta
    aead = AESGCM(_key(ring, str(meta["kid"]), b64d(meta["salt"])))
    prefix = b64d(meta["nonce_prefix"])
    unzip = zlib.decompressobj()
    buffer = b""
    index = 0
    finished = False
    while not finished:
        raw_len = source.read(4)
        if len(raw_len) < 4:
            raise ArchiveError("the archive is truncated: its last chunk is missing")
        length = struct.unpack(">I", raw_len)[0]
        sealed = source.read(length)
        if len(sealed) != length or length > CHUNK + 1024:
            raise ArchiveError("the archive is truncated or damaged")
        try:
            data = aead.decrypt(_nonce(prefix, index, False), sealed, header.aad)
        except InvalidTag:
            try:
                data = aead.decrypt(_nonce(prefix, index, True), sealed, header.aad)
                finished = True
            except InvalidTag:
                if index == 0:
                    raise ArchiveError(
                        "the archive does not open with this key file (wrong key file, or the archive was altered)"
                    ) from None
                raise ArchiveError(
                    f"the archive was altered or damaged (chunk {index} does not authenticate)"
                ) from None
        index += 1
        try:
            buffer += unzip.decompress(data)
        except zlib.error:
            raise ArchiveError("the archive body is damaged") from None
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield json.loads(line)
    if source.read(1):
        raise ArchiveError("the archive has data after its last chunk (altered)")
    if buffer or not unzip.eof:
        raise ArchiveError("the archive body is incomplete")
