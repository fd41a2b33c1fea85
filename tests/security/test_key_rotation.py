"""Signing-key rotation with several processes (two contexts on one database and keyring, each with its own
clock): a token signed by either verifies against the JWKS the other publishes at every moment of a rotation —
before it, while the next key is only published, when it activates, long after; and for a process started after
the rotation. The moments are simulated with clocks, not waited for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from joserfc import jwk, jwt

from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.crypto.signing import ACTIVATION_DELAY, REFRESH_SECONDS, rotate_signing_key
from vault_server.db import utcnow
from vault_server.web.health import jwks as jwks_endpoint


class Clock:
    """A wall clock and a monotonic clock that move together under the test's control."""

    def __init__(self) -> None:
        self.wall = utcnow()
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


def _process(settings: Settings, clock: Clock) -> VaultContext:
    ctx = build_context(settings)
    ctx.keys.clock = clock.now
    ctx.keys.monotonic = clock.monotonic
    return ctx


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def processes(ctx: VaultContext, settings: Settings, clock: Clock) -> Iterator[tuple[VaultContext, VaultContext]]:
    _ = ctx.keyset  # the vault's first key exists (as after `intent-vault init`)
    a, b = _process(settings, clock), _process(settings, clock)
    yield a, b
    a.db.dispose()
    b.db.dispose()


def _published(ctx: VaultContext) -> jwk.KeySet:
    """The JWKS exactly as the process serves it on /.well-known/jwks.json."""
    body = json.loads(bytes(jwks_endpoint(ctx).body))
    return jwk.KeySet.import_key_set(body)


def _crosses(signer: VaultContext, verifier: VaultContext) -> str:
    token = signer.keyset.encode_jwt({"sub": "ps_x", "iat": 1}, typ="at+jwt")
    decoded = jwt.decode(token, _published(verifier), algorithms=["EdDSA"])  # raises when not published
    assert decoded.claims["sub"] == "ps_x"
    return str(decoded.header["kid"])


def test_every_token_verifies_against_every_process_through_a_rotation(
    processes: tuple[VaultContext, VaultContext], settings: Settings, clock: Clock
) -> None:
    a, b = processes
    old = _crosses(a, b)
    assert _crosses(b, a) == old
    with a.db.session() as s:  # `intent-vault keys rotate` from a third process (the CLI)
        new, _, activates_at = rotate_signing_key(session=s, ring=a.ring, now=clock.now())
    late: VaultContext | None = None
    seen: set[str] = set()
    step = REFRESH_SECONDS / 4
    elapsed = 0.0
    total = ACTIVATION_DELAY.total_seconds() + 4 * REFRESH_SECONDS
    while elapsed <= total:
        for signer, verifier in ((a, b), (b, a)):
            seen.add(_crosses(signer, verifier))
        if late is not None:  # restarted after the rotation: must not sign early, must publish what others sign
            seen.add(_crosses(late, a))
            seen.add(_crosses(a, late))
            seen.add(_crosses(b, late))
        if elapsed >= REFRESH_SECONDS:  # within seconds every process publishes the next key
            for proc in (a, b):
                assert new in {k["kid"] for k in proc.keyset.jwks()["keys"]}
        if clock.now() < activates_at:
            assert a.keyset.kid == b.keyset.kid == old  # nobody signs with a key before it activates
        if late is None and elapsed >= 1:
            late = _process(settings, clock)
        # fast through the quiet middle, step by step around publication and activation
        quiet = REFRESH_SECONDS * 2 < elapsed < ACTIVATION_DELAY.total_seconds() - REFRESH_SECONDS * 2
        seconds = 30.0 if quiet else step
        clock.advance(seconds)
        elapsed += seconds
    assert seen == {old, new}  # both keys signed during the run, and every signature crossed
    assert a.keyset.kid == b.keyset.kid == new
    assert late is not None and late.keyset.kid == new
    assert {k["kid"] for k in b.keyset.jwks()["keys"]} >= {old, new}  # the retired key stays published
    late.db.dispose()


def test_jwks_version_follows_rotation(processes: tuple[VaultContext, VaultContext], clock: Clock) -> None:
    a, b = processes
    before = b.keyset.version
    with a.db.session() as s:
        rotate_signing_key(session=s, ring=a.ring, now=clock.now())
    clock.advance(REFRESH_SECONDS)
    assert b.keyset.version != before  # a JWKS body cached under the version is not served stale
    assert a.keyset.version == b.keyset.version
