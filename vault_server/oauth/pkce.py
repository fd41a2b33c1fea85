"""PKCE (RFC 7636), S256 only: the challenge is required (§4.4.1), ``plain`` is refused, the verifier is
checked per §4.6 in constant time."""

from __future__ import annotations

import hmac
import re

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from vault_server.oauth.errors import OAuthError

#: RFC 7636 §4.1: code_verifier = 43*128 unreserved characters.
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
#: BASE64URL(SHA256(verifier)) without padding is always 43 characters.
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
SUPPORTED_METHODS = ("S256",)


def check_challenge(challenge: str | None, method: str | None) -> str:
    """Returns the challenge of an authorization request; raises ``invalid_request`` when PKCE is missing,
    not S256 (RFC 7636 §4.4.1: plain is not supported here) or malformed."""
    if not challenge:
        raise OAuthError("invalid_request", "code_challenge is required (PKCE, RFC 7636, method S256)")
    if method != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256; plain is not supported")
    if not CHALLENGE_RE.match(challenge):
        raise OAuthError("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier")
    return challenge


def verify(verifier: str | None, challenge: str) -> bool:
    """RFC 7636 §4.6: True when BASE64URL(SHA256(verifier)) equals the stored challenge."""
    if not verifier or not VERIFIER_RE.match(verifier):
        return False
    computed: str = create_s256_code_challenge(verifier)
    return hmac.compare_digest(computed.encode(), challenge.encode())
