"""Pairwise pseudonymous subject identifiers (OpenID Connect Core §8.1 style): one opaque ``sub`` per
(consumer, vendor), an HMAC under a vault secret, so two vendors cannot join what they see."""

from __future__ import annotations

import base64
import hashlib
import hmac

from vault_server.crypto.keyring import KeyRing


def subject_for(ring: KeyRing, *, account_id: str, vendor_id: str) -> str:
    """The consumer's pseudonym as seen by one vendor: base64url(HMAC-SHA256(key, vendor | consumer))[:32]."""
    mac = hmac.new(ring.derive("pairwise-subject"), f"{vendor_id}\x00{account_id}".encode(), hashlib.sha256)
    return "ps_" + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()[:32]
