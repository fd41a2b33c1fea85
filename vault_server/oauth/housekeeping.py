"""Purge OAuth rows that can no longer matter: decided or expired authorization requests, codes, device codes,
refresh tokens and client-assertion ids a day after they expired (reuse detection only matters until expiry)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, delete

from vault_server.db import utcnow
from vault_server.oauth.models import AuthorizationCode, AuthorizationRequest, DeviceCode, RefreshToken, UsedAssertion

GRACE = timedelta(days=1)


def purge_expired(*, session: Session, now: datetime | None = None) -> int:
    """Delete rows expired for more than a day; returns how many."""
    cutoff = (now or utcnow()) - GRACE
    total = 0
    for model in (AuthorizationRequest, AuthorizationCode, DeviceCode, RefreshToken, UsedAssertion):
        result = session.exec(delete(model).where(col(model.expires_at) < cutoff))
        total += int(getattr(result, "rowcount", 0) or 0)
    return total
