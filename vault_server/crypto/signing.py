"""The vault's Ed25519 key set: JWS signing for JWTs, consent receipts and audit tree heads; JWKS publishing.

The newest unretired key signs; retired keys stay published so earlier signatures keep verifying.
"""

from __future__ import annotations

import json
import secrets
import warnings
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwk, jws, jwt
from sqlmodel import Session, col, select

from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.models import SigningKey
from vault_server.crypto.service import unwrap_signing_secret, wrap_signing_secret
from vault_server.db import utcnow

ALG = "EdDSA"
ALGORITHMS = [ALG]


def create_signing_key(*, session: Session, ring: KeyRing) -> SigningKey:
    """Generate an Ed25519 key, store it wrapped by the KEK, and return the row."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kid = utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    public = jwk.OKPKey.import_key(private.public_key(), parameters={"kid": kid, "use": "sig", "alg": ALG})
    row = SigningKey(
        kid=kid,
        private_wrapped=wrap_signing_secret(ring, kid, raw),
        kek_id=ring.active,
        public_jwk=json.dumps(public.as_dict(private=False), sort_keys=True),
    )
    session.add(row)
    session.flush()
    return row


class KeySet:
    """Signing keys loaded from the database; cheap to rebuild after a rotation."""

    def __init__(self, signer_kid: str, private: jwk.OKPKey, public: list[dict[str, Any]]):
        self.kid = signer_kid
        self._private = private
        self._public = public
        self._verify_set = jwk.KeySet([jwk.OKPKey.import_key(item) for item in public])

    @classmethod
    def load(cls, *, session: Session, ring: KeyRing) -> KeySet:
        rows = session.exec(select(SigningKey).order_by(col(SigningKey.created_at).desc())).all()
        active = next((r for r in rows if r.retired_at is None), None)
        if active is None:
            active = create_signing_key(session=session, ring=ring)
            rows = [active, *rows]
        secret = unwrap_signing_secret(ring, active)
        private = jwk.OKPKey.import_key(
            Ed25519PrivateKey.from_private_bytes(secret), parameters={"kid": active.kid, "alg": ALG}
        )
        return cls(active.kid, private, [json.loads(r.public_jwk) for r in rows])

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self._public)}

    def active_ed25519(self) -> tuple[str, Ed25519PrivateKey]:
        """The signing key's kid and its cryptography private key (the audit room signs tree heads with it)."""
        key = self._private.private_key
        assert isinstance(key, Ed25519PrivateKey)
        return self.kid, key

    def sign_jws(self, payload: bytes, *, typ: str | None = None) -> str:
        header: dict[str, Any] = {"alg": ALG, "kid": self.kid}
        if typ:
            header["typ"] = typ
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jws.serialize_compact(header, payload, self._private, algorithms=ALGORITHMS)

    def verify_jws(self, token: str) -> bytes:
        """Returns the payload of a compact JWS signed by any key of the set; raises on a bad signature."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = jws.deserialize_compact(token, self._verify_set, algorithms=ALGORITHMS)
        return obj.payload

    def encode_jwt(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode({"alg": ALG, "kid": self.kid, "typ": typ}, claims, self._private, algorithms=ALGORITHMS)

    def decode_jwt(self, token: str) -> jwt.Token:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.decode(token, self._verify_set, algorithms=ALGORITHMS)


def rotate_signing_key(*, session: Session, ring: KeyRing) -> tuple[str, list[str]]:
    """Retire every active signing key and create a new one. Returns (new kid, retired kids)."""
    retired: list[str] = []
    now: datetime = utcnow()
    for row in session.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None))).all():
        row.retired_at = now
        session.add(row)
        retired.append(row.kid)
    new = create_signing_key(session=session, ring=ring)
    return new.kid, retired
