"""Signed consent receipts: ISO/IEC TS 27560:2023 consent records in the W3C Data Privacy Vocabulary (DPV), as
JSON-LD, signed as a compact JWS with the vault key set and verifiable by anyone against the published JWKS.

The keys are the 27560 information elements in plain snake_case (``record_id``, ``pii_principal_id``,
``consent_status``, ``purposes``, ``jurisdiction``, ``collection_method``...), and the inline ``@context`` maps
each one to the DPV term the DPV consent-record guide (https://w3id.org/dpv/guides/consent-27560) uses for it
(``dpv:hasDataSubject``, ``dpv:hasConsentStatus``, ``dpv:hasPersonalDataHandling``...), so a JSON reader sees the
standard's field names and a JSON-LD processor sees DPV. What 27560 and DPV have no term for (the OAuth scope,
the RFC 9396 details, the grant version) lives under the vault's own namespace ``iv:``. ``SCHEMA_FILE`` is the
JSON Schema every receipt the vault issues validates against (tests check each one).
"""

from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.jwk import KeySet

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants.models import Grant
from vault_server.vendors.models import VendorApp

RECEIPT_TYP = "consent-receipt+jws"
SCHEMA_VERSION = "ISO/IEC TS 27560:2023"
PROFILE = "https://w3id.org/dpv/guides/consent-27560"
SCHEMA_FILE = Path(__file__).with_name("consent-receipt.schema.json")
VAULT_NS = "https://intent-vault.org/ns/receipt#"

#: grant event -> the DPV consent status it leaves the record in
CONSENT_STATUS = {
    "active": "dpv:ConsentGiven",
    "withdrawn": "dpv:ConsentWithdrawn",
    "expired": "dpv:ConsentExpired",
}
#: the personal data each RFC 9396 field discloses, as DPV personal-data concepts (pd: extension)
FIELD_DATA = {
    "stage": "pd:PurchasesAndSpendingHabit",
    "score": "pd:Interest",
    "price_band": "pd:PurchasesAndSpendingHabit",
    "brand": "pd:Preference",
    "declared_intent": "pd:Intention",
    "last_seen": "pd:BrowsingBehavior",
}
COLLECTION_METHOD = "vault consent screen (OAuth 2.0 authorization request with RFC 9396 details), explicit approval"

_ID = {"@type": "@id"}
CONTEXT: dict[str, Any] = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "loc": "https://w3id.org/dpv/loc#",
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "iv": VAULT_NS,
    "schema_version": "dct:conformsTo",
    "profile": {"@id": "dct:conformsTo", "@type": "@id"},
    "record_id": "dpv:hasIdentifier",
    "receipt_id": "iv:receiptId",
    "receipt_timestamp": {"@id": "dct:issued", "@type": "xsd:dateTime"},
    "language": "dct:language",
    "pii_principal_id": "dpv:hasDataSubject",
    "consent_status": {"@id": "dpv:hasConsentStatus", "@type": "@id"},
    "consent_timestamp": {"@id": "dct:created", "@type": "xsd:dateTime"},
    "updated_timestamp": {"@id": "dct:modified", "@type": "xsd:dateTime"},
    "expires_at": {"@id": "iv:expiresAt", "@type": "xsd:dateTime"},
    "revoked_at": {"@id": "iv:revokedAt", "@type": "xsd:dateTime"},
    "end_reason": "iv:endReason",
    "event": "dct:hasPart",
    "event_type": "iv:eventType",
    "event_time": {"@id": "dct:date", "@type": "xsd:dateTime"},
    "grant_version": "dct:hasVersion",
    "duration": {"@id": "dpv:hasDuration", "@type": "xsd:duration"},
    "collection_method": "iv:collectionMethod",
    "jurisdiction": {"@id": "dpv:hasJurisdiction", "@type": "@id"},
    "legal_basis": {"@id": "dpv:hasLegalBasis", "@type": "@id"},
    "notice": {"@id": "dpv:hasNotice", "@type": "@id"},
    "withdrawal_method": {"@id": "dpv:hasWithdrawalMethod", "@type": "@id"},
    "pii_controllers": {"@id": "dpv:hasDataController", "@container": "@set"},
    "record_keeper": "iv:recordKeeper",
    "name": "dpv:hasName",
    "client_id": "dpv:hasIdentifier",
    "contact": "dpv:hasContact",
    "url": {"@id": "dct:source", "@type": "@id"},
    "jwks_uri": {"@id": "iv:jwksUri", "@type": "@id"},
    "agreement": {"@id": "dpv:hasPolicy"},
    "agreement_id": "dct:identifier",
    "agreement_version": "dct:hasVersion",
    "title": "dct:title",
    "purposes": {"@id": "dpv:hasPersonalDataHandling", "@container": "@set"},
    "purpose": "dpv:hasPurpose",
    "description": "dct:description",
    "personal_data": {"@id": "dpv:hasPersonalData", "@type": "@id", "@container": "@set"},
    "processing": {"@id": "dpv:hasProcessing", "@type": "@id", "@container": "@set"},
    "recipients": {"@id": "dpv:hasRecipient", "@type": "@id", "@container": "@set"},
    "storage_condition": "dpv:hasStorageCondition",
    "third_party_disclosure": {"@id": "iv:thirdPartyDisclosure", "@type": "xsd:boolean"},
    "categories": {"@id": "iv:category", "@container": "@set"},
    "fields": {"@id": "iv:field", "@container": "@set"},
    "min_stage": "iv:minStage",
    "frequency": "iv:frequency",
    "scope": {"@id": "iv:scope", "@container": "@set"},
    "identity_revealed": {"@id": "iv:identityRevealed", "@container": "@set"},
    "authorization_details": {"@id": "iv:authorizationDetails", "@type": "@json"},
    "requested": {"@id": "iv:requested", "@type": "@json"},
}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _days(n: int) -> str:
    return f"P{max(int(n), 0)}D"


def _client_iri(app: VendorApp) -> str:
    return f"urn:intent-vault:client:{app.id}"


def _agreement(detail: dict[str, Any]) -> dict[str, Any] | None:
    agreed = detail.get("agreement")
    if not isinstance(agreed, dict):
        return None
    return {
        "@type": "dpv:Policy",
        "agreement_id": str(agreed.get("id")),
        "agreement_version": str(agreed.get("version")),
    }


def _handling(detail: dict[str, Any], app: VendorApp, expires: str) -> dict[str, Any]:
    fields = [str(f) for f in detail.get("fields", [])]
    handling: dict[str, Any] = {
        "@type": "dpv:PersonalDataHandling",
        "purpose": {"@type": "dpv:DirectMarketing", "description": str(detail.get("purpose", ""))},
        "personal_data": sorted({FIELD_DATA.get(f, "pd:Interest") for f in fields}),
        "processing": ["dpv:Use", "dpv:Store"],
        "legal_basis": "dpv:Consent",
        "pii_controllers": [{"@id": _client_iri(app)}],
        "recipients": [_client_iri(app)],
        "third_party_disclosure": False,
        "storage_condition": {"@type": "dpv:StorageDuration", "duration": _days(detail.get("retention_days", 0))},
        "categories": [str(c) for c in detail.get("categories", [])],
        "fields": fields,
        "min_stage": str(detail.get("min_stage", "")),
        "frequency": str(detail.get("frequency", "")),
        "expires_at": expires,
    }
    agreed = _agreement(detail)
    if agreed is not None:
        handling["agreement"] = agreed
    return handling


def build(ctx: VaultContext, grant: Grant, app: VendorApp, event: str) -> dict[str, Any]:
    """The receipt document (a DPV consent record as of ``event``) for the grant as it stands after ``event``."""
    now = utcnow()
    state = "active"
    if grant.revoked_at is not None:
        state = "expired" if grant.end_reason == "expired" else "withdrawn"
    base = ctx.settings.base_url
    expires = grant.expires_at.isoformat()
    controller: dict[str, Any] = {
        "@id": _client_iri(app),
        "@type": "dpv:DataController",
        "name": app.name,
        "client_id": app.id,
        "contact": list(app.contacts),
    }
    if app.homepage:
        controller["url"] = app.homepage
    if app.policy_uri:
        controller["notice"] = app.policy_uri
    agreements = [a for a in (_agreement(d) for d in grant.authorization_details) if a is not None]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"urn:uuid:{grant.id}",
        "@type": "dpv:ConsentRecord",
        "schema_version": SCHEMA_VERSION,
        "profile": PROFILE,
        "record_id": grant.id,
        "receipt_id": str(uuid.uuid4()),
        "receipt_timestamp": now.isoformat(),
        "language": "en",
        "pii_principal_id": grant.subject,
        "consent_status": CONSENT_STATUS[state],
        "consent_timestamp": grant.created_at.isoformat(),
        "updated_timestamp": grant.updated_at.isoformat(),
        "expires_at": expires,
        "revoked_at": _iso(grant.revoked_at),
        "end_reason": grant.end_reason,
        "event": {
            "@type": "dpv:ExplicitlyExpressedConsent",
            "event_type": event,
            "event_time": now.isoformat(),
            "grant_version": grant.version,
            "consent_status": CONSENT_STATUS[state],
            "duration": f"PT{max(int((grant.expires_at - grant.created_at).total_seconds()), 0)}S",
        },
        "collection_method": COLLECTION_METHOD,
        "jurisdiction": f"loc:{ctx.settings.jurisdiction}",
        "legal_basis": "dpv:Consent",
        "withdrawal_method": f"{base}/grants/{grant.id}",
        "pii_controllers": [controller],
        "record_keeper": {
            "@type": "dpv:DataProcessor",
            "name": "Intent Vault",
            "url": base,
            "jwks_uri": base + "/.well-known/jwks.json",
        },
        "purposes": [_handling(d, app, expires) for d in grant.authorization_details],
        "scope": grant.scope.split(),
        "identity_revealed": grant.identity_fields.split(),
        "authorization_details": grant.authorization_details,
        "requested": grant.requested,
    }
    if agreements:
        doc["agreement"] = agreements[0]
    return doc


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
    if not isinstance(doc, dict) or doc.get("@type") != "dpv:ConsentRecord" or "record_id" not in doc:
        raise ReceiptInvalid("the signed payload is not a consent receipt")
    return doc


def summary(doc: dict[str, Any]) -> str:
    """One line saying what a verified receipt records (for the CLI)."""
    event = doc.get("event") or {}
    controllers = doc.get("pii_controllers") or [{}]
    status = str(doc.get("consent_status", "")).removeprefix("dpv:")
    agreed = doc.get("agreement")
    terms = f" under {agreed['agreement_id']} v{agreed['agreement_version']}" if isinstance(agreed, dict) else ""
    return (
        f"valid receipt {doc.get('receipt_id')}: grant {doc.get('record_id')} v{event.get('grant_version')} "
        f"{event.get('event_type')} ({status}) for {controllers[0].get('name')}{terms}"
    )
