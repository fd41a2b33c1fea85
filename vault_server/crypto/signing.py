"""The vault's Ed25519 key set: JWS signing for JWTs, consent receipts and audit tree heads; JWKS publishing.

Rotation is publish-then-activate: ``rotate_signing_key`` adds a *next* key that every process publishes in its
JWKS at once but signs with only from ``activates_at`` (``ACTIVATION_DELAY`` later, longer than the JWKS
``max-age`` vendors may cache, and far longer than ``REFRESH_SECONDS``, how often each process re-reads the key
table). So no process signs with a key that another process, or a vendor's cached JWKS, does not publish yet.
Retired keys stay published for good: the consent receipts and audit tree heads they signed never expire.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwk, jws, jwt
from sqlmodel import Session, col, select

from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.models import SigningKey
from vault_server.crypto.service import unwrap_signing_secret, wrap_signing_secret
from vault_server.db import Database, utcnow

ALG = "EdDSA"
ALGORITHMS = [ALG]
#: How long a rotated key is published before it signs (the JWKS is served with max-age 300 s).
ACTIVATION_DELAY = timedelta(minutes=10)
#: How often a running process re-reads the signing-key table to pick up a rotation.
REFRESH_SECONDS = 2.0

Clock = Callable[[], datetime]


def create_signing_key(*, session: Session, ring: KeyRing, activates_at: datetime | None = None) -> SigningKey:
    """Generate an Ed25519 key, store it wrapped by the KEK, and return the row (signing from ``activates_at``,
    or at once when None)."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kid = utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    public = jwk.OKPKey.import_key(private.public_key(), parameters={"kid": kid, "use": "sig", "alg": ALG})
    row = SigningKey(
        kid=kid,
        private_wrapped=wrap_signing_secret(ring, kid, raw),
        kek_id=ring.active,
        public_jwk=json.dumps(public.as_dict(private=False), sort_keys=True),
        activates_at=activates_at,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class _Key:
    kid: str
    public: dict[str, Any]
    activates_at: datetime
    wrapped: SigningKey


def _fingerprint(rows: Sequence[SigningKey]) -> str:
    parts = sorted(f"{r.kid}|{r.created_at.isoformat()}|{r.activates_at}" for r in rows)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class KeySet:
    """A snapshot of the signing keys: all of them published, the newest activated one signs (chosen at the
    moment of signing, so a snapshot taken before a key's activation starts signing with it on time)."""

    def __init__(self, keys: list[_Key], ring: KeyRing, *, fingerprint: str, clock: Clock = utcnow):
        if not keys:
            raise ValueError("a key set needs at least one key")
        self._keys = sorted(keys, key=lambda k: (k.activates_at, k.kid), reverse=True)
        self._ring = ring
        self._clock = clock
        self.fingerprint = fingerprint
        self._public = [k.public for k in self._keys]
        #: Changes exactly when the published JWKS changes: cache the JWKS body under it.
        self.version = hashlib.sha256(json.dumps(self._public, sort_keys=True).encode()).hexdigest()[:16]
        self._verify_set = jwk.KeySet([jwk.OKPKey.import_key(item) for item in self._public])
        self._private: dict[str, jwk.OKPKey] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_rows(cls, rows: Sequence[SigningKey], ring: KeyRing, *, clock: Clock = utcnow) -> KeySet:
        keys = [_Key(r.kid, json.loads(r.public_jwk), r.activates_at or r.created_at, r) for r in rows]
        return cls(keys, ring, fingerprint=_fingerprint(rows), clock=clock)

    @classmethod
    def load(cls, *, session: Session, ring: KeyRing, clock: Clock = utcnow) -> KeySet:
        """Every stored key; creates the vault's first key (signing at once) when there is none."""
        rows = list(session.exec(select(SigningKey).order_by(col(SigningKey.created_at).desc())).all())
        if not rows:
            rows = [create_signing_key(session=session, ring=ring)]
        return cls.from_rows(rows, ring, clock=clock)

    # ---- which key signs --------------------------------------------------------------------------
    def _signer(self) -> _Key:
        now = self._clock()
        active = [k for k in self._keys if k.activates_at <= now]
        return active[0] if active else self._keys[-1]

    @property
    def kid(self) -> str:
        """The kid that signs now."""
        return self._signer().kid

    def next_kids(self) -> list[str]:
        """Published keys that do not sign yet (activation pending)."""
        now = self._clock()
        return [k.kid for k in self._keys if k.activates_at > now]

    def _private_key(self, key: _Key) -> jwk.OKPKey:
        with self._lock:
            found = self._private.get(key.kid)
            if found is None:
                secret = unwrap_signing_secret(self._ring, key.wrapped)
                found = jwk.OKPKey.import_key(
                    Ed25519PrivateKey.from_private_bytes(secret), parameters={"kid": key.kid, "alg": ALG}
                )
                self._private[key.kid] = found
            return found

    # ---- publish, sign, verify ---------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self._public)}

    def active_ed25519(self) -> tuple[str, Ed25519PrivateKey]:
        """The signing key's kid and its cryptography private key (the audit room signs tree heads with it)."""
        signer = self._signer()
        key = self._private_key(signer).private_key
        assert isinstance(key, Ed25519PrivateKey)
        return signer.kid, key

    def sign_jws(self, payload: bytes, *, typ: str | None = None) -> str:
        signer = self._signer()
        header: dict[str, Any] = {"alg": ALG, "kid": signer.kid}
        if typ:
            header["typ"] = typ
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jws.serialize_compact(header, payload, self._private_key(signer), algorithms=ALGORITHMS)

    def verify_jws(self, token: str) -> bytes:
        """Returns the payload of a compact JWS signed by any key of the set; raises on a bad signature."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = jws.deserialize_compact(token, self._verify_set, algorithms=ALGORITHMS)
        return obj.payload

    def encode_jwt(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        signer = self._signer()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode(
                {"alg": ALG, "kid": signer.kid, "typ": typ}, claims, self._private_key(signer), algorithms=ALGORITHMS
            )

    def decode_jwt(self, token: str) -> jwt.Token:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.decode(token, self._verify_set, algorithms=ALGORITHMS)


class KeySetSource:
    """A process's view of the key set: re-reads the signing-key table at most every ``REFRESH_SECONDS`` and
    rebuilds the snapshot when a key was added (so a rotation made by any process or the CLI is published here
    within seconds)."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        *,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_seconds: float = REFRESH_SECONDS,
    ):
        self.db = db
        self.ring = ring
        self.clock = clock
        self.monotonic = monotonic
        self.refresh_seconds = refresh_seconds
        self._current: KeySet | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self, *, force: bool = False) -> KeySet:
        """The key set, re-read from the database when the last read is older than the refresh interval. One
        thread re-reads; the others keep using the current snapshot meanwhile."""
        current = self._current
        if current is not None and not force:
            if self.monotonic() - self._checked < self.refresh_seconds or not self._lock.acquire(blocking=False):
                return current
        else:
            self._lock.acquire()
        try:
            with self.db.session() as s:
                rows = list(s.exec(select(SigningKey)).all())
                if self._current is None or _fingerprint(rows) != self._current.fingerprint:
                    self._current = (
                        KeySet.from_rows(rows, self.ring, clock=self.clock)
                        if rows
                        else KeySet.load(session=s, ring=self.ring, clock=self.clock)
                    )
            self._checked = self.monotonic()
            return self._current
        finally:
            self._lock.release()


def rotate_signing_key(
    *, session: Session, ring: KeyRing, delay: timedelta = ACTIVATION_DELAY, now: datetime | None = None
) -> tuple[str, list[str], datetime]:
    """Publish a new signing key that signs from ``now + delay``; the keys signing until then retire at that
    moment (and stay published). Returns (new kid, kids that retire, activation time). ``delay`` zero is for a
    compromised key: vendors that cached the JWKS may then reject new tokens until their cache expires."""
    now = now or utcnow()
    activates_at = now + delay
    retiring: list[str] = []
    for row in session.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None))).all():
        row.retired_at = activates_at
        session.add(row)
        retiring.append(row.kid)
    new = create_signing_key(session=session, ring=ring, activates_at=activates_at)
    return new.kid, retiring, activates_at
