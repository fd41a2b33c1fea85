"""The Ed25519 key set: JWS sign/verify, rotation keeps old signatures verifiable, JWKS publishes public keys only."""

from __future__ import annotations

import pytest
from joserfc.errors import BadSignatureError

from vault_server.context import VaultContext
from vault_server.crypto.signing import KeySet, rotate_signing_key


def test_sign_verify_and_rotation(ctx: VaultContext) -> None:
    first = ctx.keyset
    token = first.sign_jws(b'{"hello":"world"}')
    assert first.verify_jws(token) == b'{"hello":"world"}'
    with ctx.db.session() as s:
        new_kid, retired = rotate_signing_key(session=s, ring=ctx.ring)
    assert retired == [first.kid]
    ctx.reload_keyset()
    second = ctx.keyset
    assert second.kid == new_kid != first.kid
    assert second.verify_jws(token) == b'{"hello":"world"}'  # the retired key still verifies
    assert {k["kid"] for k in second.jwks()["keys"]} == {first.kid, new_kid}
    for key in second.jwks()["keys"]:
        assert "d" not in key and key["kty"] == "OKP" and key["crv"] == "Ed25519"


def test_forged_signature_is_rejected(ctx: VaultContext) -> None:
    token = ctx.keyset.sign_jws(b"payload")
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload[:-2]}AA.{sig}"
    with pytest.raises(BadSignatureError):
        ctx.keyset.verify_jws(forged)
    with ctx.db.session() as s:
        other = KeySet.load(session=s, ring=ctx.ring)
    assert other.kid == ctx.keyset.kid
