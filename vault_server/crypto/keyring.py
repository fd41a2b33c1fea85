"""The key-encryption keyring: 256-bit KEKs with key ids, one active, older ones kept for unwrapping.

The file is JSON, mode 0600, written atomically::

    {"format": "intent-vault-keyring/1", "active": "<kid>",
     "keks": [{"kid": "<kid>", "key": "<base64url 32 bytes>", "created": "<iso>"}],
     "index_key": "<base64url 32 bytes>"}

``index_key`` keys the HMAC blind indexes; it is not rotated with the KEK so lookups keep working.
A running server re-reads the file when it changes (``refresh``), so ``keys rotate`` can re-wrap every DEK
while the server keeps serving.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault_server.errors import ConfigError

KEYRING_FORMAT = "intent-vault-keyring/1"
KEY_BYTES = 32


class KeyRingError(ConfigError):
    """The keyring is missing, unreadable, too permissive or malformed."""


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid_for(key: bytes) -> str:
    """A short, non-secret key id: a domain-separated hash of the key."""
    return "k" + hashlib.sha256(b"intent-vault kek id\x00" + key).hexdigest()[:15]


def _hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


@dataclass
class KeyRing:
    """KEKs by kid, the active kid, and the blind-index key. Thread-safe refresh from its file."""

    keks: dict[str, bytes]
    active: str
    index_key: bytes
    path: Path | None = None
    _mtime: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def generate(cls) -> KeyRing:
        key = secrets.token_bytes(KEY_BYTES)
        return cls(keks={kid_for(key): key}, active=kid_for(key), index_key=secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_env_key(cls, value: str) -> KeyRing:
        """A single KEK given inline (``VAULT_KEK``): base64url of 32 bytes. The index key is derived."""
        try:
            key = b64d(value.strip())
        except (ValueError, TypeError) as exc:
            raise KeyRingError("VAULT_KEK is not valid base64url") from exc
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"VAULT_KEK must decode to {KEY_BYTES} bytes (256 bits), got {len(key)}")
        return cls(keks={kid_for(key): key}, active=kid_for(key), index_key=_hkdf(key, b"intent-vault blind index"))

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        ring = cls(keks={}, active="", index_key=b"", path=path)
        ring._read()
        return ring

    def _read(self) -> None:
        assert self.path is not None
        path = self.path
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise KeyRingError(f"key file {path} does not exist; run `intent-vault init` to create it") from exc
        if os.name == "posix" and stat.S_IMODE(st.st_mode) & 0o077:
            raise KeyRingError(
                f"key file {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be readable by its owner only "
                f"(run `chmod 600 {path}`)"
            )
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyRingError(f"key file {path} is not readable JSON: {exc}") from exc
        keks, active, index_key = _parse(doc, path)
        self.keks, self.active, self.index_key, self._mtime = keks, active, index_key, st.st_mtime

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last read; True when it did."""
        if self.path is None:
            return False
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except FileNotFoundError:
                return False
            if mtime == self._mtime:
                return False
            self._read()
            return True

    # ---- persistence --------------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return {
            "format": KEYRING_FORMAT,
            "active": self.active,
            "keks": [{"kid": kid, "key": b64e(key), "created": now} for kid, key in self.keks.items()],
            "index_key": b64e(self.index_key),
        }

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (temp file in the same directory, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kek-", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_document(), handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.path = path
        self._mtime = path.stat().st_mtime

    # ---- use ------------------------------------------------------------------------------------
    def kek(self, kid: str) -> bytes:
        key = self.keks.get(kid)
        if key is None and self.refresh():
            key = self.keks.get(kid)
        if key is None:
            raise KeyRingError(f"no key-encryption key with id {kid} in the keyring")
        return key

    def active_kek(self) -> tuple[str, bytes]:
        self.refresh()
        return self.active, self.keks[self.active]

    def add_active(self) -> str:
        """Generate a new KEK and make it active; older keys stay for unwrapping. Returns its kid."""
        key = secrets.token_bytes(KEY_BYTES)
        kid = kid_for(key)
        self.keks[kid] = key
        self.active = kid
        return kid

    def blind_index(self, scope: str, value: str) -> str:
        """HMAC-SHA256 blind index of ``value`` within ``scope`` (e.g. a consumer id): hex, not reversible."""
        return hmac.digest(self.index_key, scope.encode() + b"\x00" + value.encode(), "sha256").hex()

    def derive(self, purpose: str) -> bytes:
        """A purpose-bound secret derived from the index key (e.g. CSRF or pairwise-subject keys)."""
        return _hkdf(self.index_key, b"intent-vault " + purpose.encode())


def _parse(doc: Any, path: Path) -> tuple[dict[str, bytes], str, bytes]:
    if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
        raise KeyRingError(f"key file {path} is not an intent-vault keyring (format {KEYRING_FORMAT})")
    keks: dict[str, bytes] = {}
    for item in doc.get("keks") or []:
        try:
            key = b64d(item["key"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyRingError(f"key file {path}: a KEK entry is malformed") from exc
        if len(key) != KEY_BYTES or item.get("kid") != kid_for(key):
            raise KeyRingError(f"key file {path}: KEK {item.get('kid')!r} is not a valid 256-bit key for its id")
        keks[item["kid"]] = key
    active = doc.get("active")
    if active not in keks:
        raise KeyRingError(f"key file {path}: active key {active!r} is not in the keyring")
    try:
        index_key = b64d(doc["index_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyRingError(f"key file {path}: index_key missing or malformed") from exc
    if len(index_key) != KEY_BYTES:
        raise KeyRingError(f"key file {path}: index_key must be 256 bits")
    return keks, str(active), index_key
