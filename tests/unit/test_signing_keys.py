"""The Ed25519 key set: JWS sign/verify, publish-then-activate rotation keeps every signature verifiable, JWKS
publishes public keys only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from joserfc.errors import BadSignatureError

from vault_server.context import VaultContext
from vault_server.crypto.signing import ACTIVATION_DELAY, KeySet, rotate_signing_key
from vault_server.db import utcnow


def test_rotation_publishes_first_then_signs_then_keeps_the_old_key(ctx: VaultContext) -> None:
    first = ctx.keyset
    old_kid = first.kid
    token = first.sign_jws(b'{"hello":"world"}')
    assert first.verify_jws(token) == b'{"hello":"world"}'
    now = utcnow()
    with ctx.db.session() as s:
        new_kid, retiring, activates_at = rotate_signing_key(session=s, ring=ctx.ring, now=now)
    assert retiring == [old_kid] and activates_at == now + ACTIVATION_DELAY
    ctx.reload_keyset()
    second = ctx.keyset
    assert {k["kid"] for k in second.jwks()["keys"]} == {old_kid, new_kid}  # published at once
    assert second.kid == old_kid and second.next_kids() == [new_kid]  # ... but not signing yet
    assert second.verify_jws(token) == b'{"hello":"world"}'
    for key in second.jwks()["keys"]:
        assert "d" not in key and key["kty"] == "OKP" and key["crv"] == "Ed25519"


def test_a_key_rotated_with_no_delay_signs_at_once(ctx: VaultContext) -> None:
    old = ctx.keyset.kid
    token = ctx.keyset.sign_jws(b"before")
    with ctx.db.session() as s:
        new_kid, _, _ = rotate_signing_key(session=s, ring=ctx.ring, delay=timedelta(0))
    ctx.reload_keyset()
    assert ctx.keyset.kid == new_kid != old
    assert ctx.keyset.verify_jws(token) == b"before"  # the retired key still verifies


def test_forged_signature_is_rejected(ctx: VaultContext) -> None:
    token = ctx.keyset.sign_jws(b"payload")
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload[:-2]}AA.{sig}"
    with pytest.raises(BadSignatureError):
        ctx.keyset.verify_jws(forged)
    with ctx.db.session() as s:
        other = KeySet.load(session=s, ring=ctx.ring)
    assert other.kid == ctx.keyset.kid
