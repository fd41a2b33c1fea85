"""Small security primitives: random tokens, their hashes, CSRF tokens, constant-time checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str, nbytes: int = 32) -> str:
    """A random bearer secret with a readable prefix (``ivs_`` session, ``ivp_`` personal token...)."""
    return prefix + secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(key: bytes, binding: str) -> str:
    """A CSRF token bound to a session (or pre-session nonce): HMAC, so nothing extra is stored."""
    return hmac.new(key, b"csrf\x00" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_valid(key: bytes, binding: str, provided: str | None) -> bool:
    if not provided or not binding:
        return False
    return hmac.compare_digest(csrf_token(key, binding), provided)
