"""PKCE (RFC 7636) with S256 only: the RFC's own test vector, refusals, and a property over random verifiers."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault_server.oauth import pkce
from vault_server.oauth.errors import OAuthError

# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def test_rfc7636_appendix_b_vector() -> None:
    assert pkce.check_challenge(CHALLENGE, "S256") == CHALLENGE
    assert pkce.verify(VERIFIER, CHALLENGE)
    assert not pkce.verify(VERIFIER[:-1] + "l", CHALLENGE)


@pytest.mark.parametrize(
    ("challenge", "method", "fragment"),
    [
        (None, "S256", "required"),
        ("", None, "required"),
        (CHALLENGE, None, "S256"),
        (CHALLENGE, "plain", "S256"),
        (CHALLENGE, "s256", "S256"),
        (VERIFIER + "x", "S256", "base64url"),
        (CHALLENGE[:-1] + "=", "S256", "base64url"),
    ],
)
def test_challenge_refusals(challenge: str | None, method: str | None, fragment: str) -> None:
    with pytest.raises(OAuthError) as err:
        pkce.check_challenge(challenge, method)
    assert err.value.error == "invalid_request" and fragment in err.value.description


@pytest.mark.parametrize("verifier", [None, "", "a" * 42, "a" * 129, "a" * 42 + " ", "ä" * 43])
def test_malformed_verifiers_never_verify(verifier: str | None) -> None:
    assert not pkce.verify(verifier, CHALLENGE)


@given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_s256_round_trip(verifier: str) -> None:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert pkce.verify(verifier, pkce.check_challenge(challenge, "S256"))
    assert not pkce.verify(verifier, challenge[::-1]) or challenge == challenge[::-1]
