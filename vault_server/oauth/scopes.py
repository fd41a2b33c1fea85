"""OAuth scopes (RFC 6749 §3.3): what vendors may ask for, what only first-party clients get, identity scopes."""

from __future__ import annotations

from vault_server.oauth.errors import OAuthError

VENDOR_SCOPES = ("signals:read", "intents:read", "offers:write", "questions:write", "identity:name", "identity:email")
IDENTITY_SCOPES = ("identity:name", "identity:email")
DEVICE_SCOPES = ("gestures:write", "signals:read:self", "terms:self")
SCOPE_LABELS = {
    "signals:read": "read the intent signals you share below",
    "intents:read": "read intents you declared and chose to share",
    "offers:write": "send you offers in answer to your intentcasts",
    "questions:write": "ask you questions (you may ignore them)",
    "identity:name": "see your name",
    "identity:email": "see your e-mail address",
    "gestures:write": "record your shopping gestures into your vault",
    "signals:read:self": "read your own signals",
    "terms:self": "see and choose the terms (IEEE 7012 agreement) you proffer to vendors",
}


def parse_scope(raw: str | None, allowed: tuple[str, ...]) -> list[str]:
    """Returns the requested scopes in canonical order; ``invalid_scope`` for anything not in ``allowed``."""
    requested = [s for s in (raw or "").split(" ") if s]
    unknown = sorted(set(requested) - set(allowed))
    if unknown:
        raise OAuthError("invalid_scope", f"unknown or not allowed scope(s): {', '.join(unknown)}")
    return [s for s in allowed if s in set(requested)]
