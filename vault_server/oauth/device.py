"""Device Authorization Grant (RFC 8628) for pairing the consumer's browser extension: §3.2 device and user
codes, §3.3 user interaction at /device, §3.5 polling errors (authorization_pending, slow_down, access_denied,
expired_token), §6.1 user codes from a 20-letter alphabet without vowels, 8 characters (≈34 bits)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from vault_server.accounts.security import token_hash
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.models import DeviceCode
from vault_server.oauth.scopes import DEVICE_SCOPES, parse_scope
from vault_server.vendors.models import VendorApp

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
DEVICE_CODE_TTL = timedelta(minutes=10)
INTERVAL = 5


def normalise_user_code(raw: str) -> str:
    """Upper-case, drop dashes and spaces (RFC 8628 §6.1: be lenient in what the user types)."""
    return re.sub(r"[^A-Z]", "", raw.upper())


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def authorize_device(*, session: Session, ctx: VaultContext, app: VendorApp, scope: str | None) -> dict[str, Any]:
    """RFC 8628 §3.2: create a device code for the (first-party) client; returns the JSON response."""
    if not app.first_party:
        raise OAuthError("unauthorized_client", "the device grant is only for the vault's own browser extension")
    scopes = parse_scope(scope, DEVICE_SCOPES) if scope else list(DEVICE_SCOPES)
    if not scopes:
        raise OAuthError("invalid_scope", f"ask for some of: {' '.join(DEVICE_SCOPES)}")
    device_code = "ivdc_" + secrets.token_urlsafe(32)
    user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    session.add(
        DeviceCode(
            device_code_hash=token_hash(device_code),
            user_code=user_code,
            client_id=app.id,
            scope=" ".join(scopes),
            expires_at=utcnow() + DEVICE_CODE_TTL,
            interval=INTERVAL,
        )
    )
    base = ctx.settings.base_url
    return {
        "device_code": device_code,
        "user_code": format_user_code(user_code),
        "verification_uri": f"{base}/device",
        "verification_uri_complete": f"{base}/device?user_code={format_user_code(user_code)}",
        "expires_in": int(DEVICE_CODE_TTL.total_seconds()),
        "interval": INTERVAL,
    }


def find_pending(*, session: Session, user_code: str) -> DeviceCode | None:
    """The pending, unexpired device authorization for a user code, or None."""
    code = normalise_user_code(user_code)
    if len(code) != 8:
        return None
    row = session.exec(select(DeviceCode).where(DeviceCode.user_code == code)).first()
    if row is None or row.status != "pending" or row.expires_at <= utcnow():
        return None
    return row


def decide(*, session: Session, row: DeviceCode, account_id: str, approve: bool, device_name: str) -> None:
    """Record the consumer's decision (§3.3); the device learns it on its next poll."""
    row.status = "approved" if approve else "denied"
    row.account_id = account_id
    row.device_name = (device_name.strip() or "Browser extension")[:200]
    session.add(row)


def claim_approved(*, session: Session, row: DeviceCode) -> bool:
    """Atomically turn an approved code into a used one; False if another poll already did."""
    result = session.execute(
        update(DeviceCode)
        .where(col(DeviceCode.device_code_hash) == row.device_code_hash, col(DeviceCode.status) == "approved")
        .values(status="used")
    )
    return getattr(result, "rowcount", 0) == 1
