"""Signed consent receipts: JSON shaped after ISO/IEC TS 27560 (the Kantara Consent Receipt lineage), signed as
a compact JWS with the vault key set, verifiable by anyone against the published JWKS."""

from __future__ import annotations

import json
import uuid
import warnings
from typing import Any

from joserfc import jws
from joserfc.jwk import KeySet

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants.models import Grant
from vault_server.oauth import rar
from vault_server.vendors.models import VendorApp

RECEIPT_TYP = "consent-receipt+jws"
SCHEMA = "intent-vault-consent-receipt/1 (ISO/IEC TS 27560:2023 shaped)"


def build(ctx: VaultContext, grant: Grant, app: VendorApp, event: str) -> dict[str, Any]:
    """The receipt document for the grant as it stands after ``event``."""
    now = utcnow()
    state = "active"
    if grant.revoked_at is not None:
        state = "expired" if grant.end_reason == "expired" else "withdrawn"
    services = []
    for detail in grant.authorization_details:
        services.append(
            {
                "service": rar.TYPE,
                "purposes": [
                    {
                        "purpose": detail["purpose"],
                        "purposeCategory": ["marketing: offers for stated shopping intent"],
                        "consentType": "EXPLICIT",
                        "piiCategory": detail["categories"],
                        "piiFields": detail["fields"],
                        "minStage": detail["min_stage"],
                        "frequency": detail["frequency"],
                        "retentionDays": detail["retention_days"],
                        "primaryPurpose": True,
                        "termination": grant.expires_at.isoformat(),
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        )
    return {
        "schemaVersion": SCHEMA,
        "receiptId": str(uuid.uuid4()),
        "receiptTimestamp": now.isoformat(),
        "language": "en",
        "event": {"type": event, "grantVersion": grant.version},
        "consentRecordId": grant.id,
        "piiPrincipalId": grant.subject,
        "piiControllers": [
            {
                "piiController": app.name,
                "clientId": app.id,
                "contact": ", ".join(app.contacts),
                "url": app.homepage,
                "privacyPolicy": app.policy_uri,
            }
        ],
        "recordKeeper": {
            "name": "Intent Vault",
            "url": ctx.settings.base_url,
            "jwksUri": ctx.settings.base_url + "/.well-known/jwks.json",
        },
        "consentState": state,
        "consentTimestamp": grant.created_at.isoformat(),
        "updatedTimestamp": grant.updated_at.isoformat(),
        "expiresAt": grant.expires_at.isoformat(),
        "revokedAt": grant.revoked_at.isoformat() if grant.revoked_at else None,
        "endReason": grant.end_reason,
        "scope": grant.scope.split(),
        "authorizationDetails": grant.authorization_details,
        "identityRevealed": grant.identity_fields.split(),
        "requested": grant.requested,
        "services": services,
    }


def sign(ctx: VaultContext, document: dict[str, Any]) -> str:
    """Compact JWS of the canonical JSON of the receipt."""
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return ctx.keyset.sign_jws(payload, typ=RECEIPT_TYP)


class ReceiptInvalid(Exception):
    """The receipt's signature does not verify against the given keys, or it is not a receipt."""


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Returns the receipt document when ``token`` is a compact JWS signed by a key of ``jwks``."""
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = jws.deserialize_compact(token.strip(), keys, algorithms=["EdDSA"])
        doc = json.loads(obj.payload)
    except Exception as exc:
        raise ReceiptInvalid(f"signature does not verify: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or "consentRecordId" not in doc:
        raise ReceiptInvalid("the signed payload is not a consent receipt")
    return doc
