"""Rules of the terms room: which agreement a consumer proffers, the vendor's answer, how an agreement bounds a
grant, and the signed record of the agreement in force.

IEEE 7012 puts the person first: the vault proffers the consumer's chosen roster agreement; the vendor app
accepts it (it is in the app's accepted list), counters once with the first agreement of its list, or declines
(it accepts none: no access). The agreement in force travels in every RFC 9396 detail of the grant
(``"agreement": {"id", "version"}``) and caps it (:func:`bound`): a grant never allows more than its agreement.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jws
from joserfc.jwk import KeySet
from sqlmodel import Session, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import Conflict, NotFound, ValidationFailed
from vault_server.grants.models import Grant
from vault_server.policy.models import Agreement, AgreementsFile
from vault_server.terms.models import DEFAULT_VENDOR, AgreementRecord, TermsChoice, VendorTerms
from vault_server.vendors import keys as vendor_keys
from vault_server.vendors.models import VendorApp

RECORD_TYP = "myterms-record+jws"
RECORD_SCHEMA = "intent-vault-myterms-record/1 (IEEE 7012-2025)"

Outcome = Literal["accepted", "countered", "declined"]


class TermsUnavailable(NotFound):
    slug = "terms-unavailable"
    title = "This vault proffers no agreements"


class UnknownAgreement(ValidationFailed):
    slug = "unknown-agreement"
    title = "No such agreement in the roster"


class RecordInvalid(Exception):
    """An agreement record whose signatures or content do not check out."""


@dataclass(frozen=True)
class Resolution:
    """The vendor's answer to what the consumer proffered."""

    outcome: Outcome
    proffered: Agreement
    agreement: Agreement | None  # in force once the consumer agrees (None: declined)


# ---- the roster -------------------------------------------------------------------------------------------------
def roster(ctx: VaultContext) -> AgreementsFile | None:
    """The roster the vault proffers from (policies/agreements.yaml), or None when the deployment has none."""
    return ctx.policy.agreements


def _require_roster(ctx: VaultContext) -> AgreementsFile:
    found = roster(ctx)
    if found is None:
        raise TermsUnavailable("this vault has no agreements.yaml in its policy directory")
    return found


def agreement(ctx: VaultContext, agreement_id: str) -> Agreement:
    """The roster agreement ``agreement_id``; UnknownAgreement otherwise."""
    for item in _require_roster(ctx).agreements:
        if item.id == agreement_id:
            return item
    raise UnknownAgreement(f"'{agreement_id}' is not in the roster; see GET /v1/terms/roster")


def roster_view(ctx: VaultContext) -> dict[str, Any]:
    found = _require_roster(ctx)
    return {
        "version": found.version,
        "default": found.default,
        "agreements": [item.model_dump() for item in found.agreements],
    }


# ---- the consumer's choice --------------------------------------------------------------------------------------
def proffered(*, session: Session, ctx: VaultContext, account_id: str, vendor_id: str) -> Agreement:
    """Returns the agreement the consumer proffers to ``vendor_id``: its own choice, else their default, else the
    roster's default."""
    found = _require_roster(ctx)
    rows = {
        row.vendor_id: row.agreement_id
        for row in session.exec(
            select(TermsChoice).where(
                TermsChoice.account_id == account_id,
                TermsChoice.vendor_id.in_([vendor_id, DEFAULT_VENDOR]),  # type: ignore[attr-defined]
            )
        ).all()
    }
    for candidate in (rows.get(vendor_id), rows.get(DEFAULT_VENDOR), found.default):
        if candidate is not None:
            try:
                return agreement(ctx, candidate)
            except UnknownAgreement:
                continue  # the roster dropped it: fall back, never fail a consent on a stale choice
    return agreement(ctx, found.default)


def choices(*, session: Session, ctx: VaultContext, account_id: str) -> dict[str, Any]:
    """Returns the consumer's default agreement and per-vendor choices."""
    rows = session.exec(select(TermsChoice).where(TermsChoice.account_id == account_id)).all()
    default = next((r.agreement_id for r in rows if r.vendor_id == DEFAULT_VENDOR), _require_roster(ctx).default)
    return {
        "default": default,
        "vendors": {r.vendor_id: r.agreement_id for r in rows if r.vendor_id != DEFAULT_VENDOR},
    }


def choose(
    *, session: Session, ctx: VaultContext, account_id: str, agreement_id: str | None, vendor_id: str | None = None
) -> dict[str, Any]:
    """Sets the consumer's default agreement (``vendor_id`` None) or the one for a vendor; ``agreement_id`` None
    removes a per-vendor choice. Audited. Returns :func:`choices`."""
    key = vendor_id or DEFAULT_VENDOR
    if vendor_id is not None and session.get(VendorApp, vendor_id) is None:
        raise NotFound("no such vendor app")
    row = session.get(TermsChoice, (account_id, key))
    if agreement_id is None:
        if vendor_id is None:
            raise ValidationFailed("the default agreement cannot be removed; choose another one")
        if row is not None:
            session.delete(row)
    else:
        chosen = agreement(ctx, agreement_id)
        if row is None:
            row = TermsChoice(account_id=account_id, vendor_id=key, agreement_id=chosen.id)
        row.agreement_id, row.updated_at = chosen.id, utcnow()
        session.add(row)
    session.flush()
    audit.record(
        session=session,
        ctx=ctx,
        kind="terms.chosen",
        actor="consumer",
        consumer_id=account_id,
        details={"vendor_id": vendor_id, "agreement_id": agreement_id},
    )
    return choices(session=session, ctx=ctx, account_id=account_id)


# ---- the vendor's side ------------------------------------------------------------------------------------------
def vendor_terms(*, session: Session, ctx: VaultContext, vendor_id: str) -> tuple[list[str], bool]:
    """Returns (the roster agreements the app accepts, preferred first; whether it counters a proffer it does not
    accept). An app that declared nothing accepts the roster's default and counters with it."""
    row = session.get(VendorTerms, vendor_id)
    if row is not None and row.accepted:
        return list(row.accepted), row.counter
    found = roster(ctx)
    return ([found.default] if found is not None else []), True


def set_vendor_terms(
    *, session: Session, ctx: VaultContext, vendor_id: str, accepted: Sequence[str], counter: bool = True
) -> list[str]:
    """Records which roster agreements the app accepts (each must be in the roster) and whether it counters.
    Returns the list."""
    ids = list(dict.fromkeys(accepted))
    if not ids:
        raise ValidationFailed("accept at least one roster agreement (GET /v1/terms/roster lists them)")
    for agreement_id in ids:
        agreement(ctx, agreement_id)
    row = session.get(VendorTerms, vendor_id) or VendorTerms(vendor_id=vendor_id)
    row.accepted, row.counter, row.updated_at = ids, counter, utcnow()
    session.add(row)
    session.flush()
    return ids


def resolve(proffer: Agreement, accepted: Sequence[str], counter: bool, ctx: VaultContext) -> Resolution:
    """The vendor's answer: accept the proffer, counter once with its first accepted agreement, or decline."""
    if proffer.id in accepted:
        return Resolution("accepted", proffer, proffer)
    for agreement_id in accepted if counter else ():
        try:
            return Resolution("countered", proffer, agreement(ctx, agreement_id))
        except UnknownAgreement:
            continue
    return Resolution("declined", proffer, None)


def resolution_for(*, session: Session, ctx: VaultContext, account_id: str, app: VendorApp) -> Resolution | None:
    """What the consent screen shows: the consumer's proffer and the app's answer (None: no roster)."""
    if roster(ctx) is None:
        return None
    proffer = proffered(session=session, ctx=ctx, account_id=account_id, vendor_id=app.id)
    accepted, counter = vendor_terms(session=session, ctx=ctx, vendor_id=app.id)
    return resolve(proffer, accepted, counter, ctx)


# ---- bounding a grant -------------------------------------------------------------------------------------------
def bound(
    details: Sequence[dict[str, Any]], scopes: Sequence[str], terms: Agreement
) -> tuple[list[dict[str, Any]], list[str]]:
    """``details`` and ``scopes`` narrowed to what ``terms`` permits, each detail naming the agreement.

    Without service delivery nothing is left; intentcasting unlocks intents:read, offers:write and the
    declared_intent field; analytics unlocks score and last_seen; retention is capped at the agreement's.
    """
    permits = terms.permits
    if not permits.service_delivery or permits.retention_days < 1:
        return [], []
    banned_fields = permits.banned_fields()
    out: list[dict[str, Any]] = []
    for detail in details:
        fields = [f for f in detail.get("fields", []) if f not in banned_fields]
        if not fields:
            continue
        out.append(
            {
                **detail,
                "fields": fields,
                "retention_days": min(
                    int(detail.get("retention_days", permits.retention_days)), permits.retention_days
                ),
                "agreement": {"id": terms.id, "version": terms.version},
            }
        )
    kept = [s for s in scopes if s not in permits.banned_scopes()]
    if not out and "signals:read" in kept:
        kept.remove("signals:read")
    return out, kept


# ---- the record -------------------------------------------------------------------------------------------------
def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_document(ctx: VaultContext, grant: Grant, app: VendorApp, resolution: Resolution) -> dict[str, Any]:
    """The agreement record both parties sign (its canonical JSON is the JWS payload)."""
    terms = resolution.agreement
    assert terms is not None
    return {
        "schema": RECORD_SCHEMA,
        "recordId": str(uuid.uuid4()),
        "agreement": {"id": terms.id, "version": terms.version, "title": terms.title, "url": terms.url},
        "rosterVersion": _require_roster(ctx).version,
        "outcome": resolution.outcome,
        "proffered": {"id": resolution.proffered.id, "version": resolution.proffered.version},
        "firstParty": {"role": "individual", "subject": grant.subject},
        "secondParty": {"role": "entity", "clientId": app.id, "name": app.name},
        "agent": {"name": "Intent Vault", "url": ctx.settings.base_url},
        "grantId": grant.id,
        "agreedAt": utcnow().isoformat(),
        "permits": terms.permits.model_dump(),
    }


def record_agreement(
    *, session: Session, ctx: VaultContext, grant: Grant, app: VendorApp, resolution: Resolution
) -> AgreementRecord:
    """Signs and stores the record of the agreement now in force for ``grant``; audited."""
    document = record_document(ctx, grant, app, resolution)
    terms = resolution.agreement
    assert terms is not None
    row = AgreementRecord(
        id=document["recordId"],
        grant_id=grant.id,
        account_id=grant.account_id,
        vendor_id=app.id,
        agreement_id=terms.id,
        agreement_version=terms.version,
        outcome=resolution.outcome,
        record=document,
        vault_jws=ctx.keyset.sign_jws(canonical(document), typ=RECORD_TYP),
    )
    session.add(row)
    session.flush()
    _audit(session, ctx, f"agreement.{resolution.outcome}", grant.account_id, app.id, row, actor="consumer")
    return row


def record_declined(
    *, session: Session, ctx: VaultContext, account_id: str, app: VendorApp, proffer: Agreement
) -> None:
    """Audits that the vendor accepted none of the consumer's terms (no grant was made)."""
    audit.record(
        session=session,
        ctx=ctx,
        kind="agreement.declined",
        actor="consumer",
        consumer_id=account_id,
        details={"vendor_id": app.id, "agreement_id": proffer.id, "agreement_version": proffer.version},
    )


def _audit(
    session: Session, ctx: VaultContext, kind: str, account_id: str, vendor_id: str, row: AgreementRecord, actor: str
) -> None:
    audit.record(
        session=session,
        ctx=ctx,
        kind=kind,
        actor=actor,
        consumer_id=account_id,
        details={
            "vendor_id": vendor_id,
            "record_id": row.id,
            "agreement_id": row.agreement_id,
            "agreement_version": row.agreement_version,
        },
    )


def records_for_account(*, session: Session, account_id: str) -> list[AgreementRecord]:
    """Returns the consumer's agreement records, newest first."""
    return list(
        session.exec(
            select(AgreementRecord)
            .where(AgreementRecord.account_id == account_id)
            .order_by(AgreementRecord.created_at.desc())  # type: ignore[attr-defined]
        ).all()
    )


def records_for_vendor(
    *, session: Session, vendor_id: str, pending_only: bool = False, limit: int = 200
) -> list[AgreementRecord]:
    """Returns the app's agreement records, newest first (``pending_only``: those it has not countersigned)."""
    query = select(AgreementRecord).where(AgreementRecord.vendor_id == vendor_id)
    if pending_only:
        query = query.where(AgreementRecord.vendor_jws.is_(None))  # type: ignore[union-attr]
    return list(session.exec(query.order_by(AgreementRecord.created_at.desc()).limit(limit)).all())  # type: ignore[attr-defined]


def get_record(
    *, session: Session, record_id: str, account_id: str | None = None, vendor_id: str | None = None
) -> AgreementRecord:
    """The record if it belongs to the given consumer or vendor; NotFound otherwise (no existence oracle)."""
    row = session.get(AgreementRecord, record_id)
    if (
        row is None
        or (account_id is not None and row.account_id != account_id)
        or (vendor_id is not None and row.vendor_id != vendor_id)
    ):
        raise NotFound("no such agreement record")
    return row


def _vendor_jwks(ctx: VaultContext, app: VendorApp) -> dict[str, Any]:
    found = vendor_keys.public_keys(app, allow_private=ctx.settings.allow_private_webhooks)
    if not found or not found.get("keys"):
        raise Conflict("register your public keys (jwks or jwks_uri) with the app to countersign agreement records")
    return found


def _payload(token: str, keys: KeySet) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = jws.deserialize_compact(token.strip(), keys, algorithms=["EdDSA", "ES256", "RS256", "PS256"])
    payload = json.loads(obj.payload)
    if not isinstance(payload, dict):
        raise ValueError("the payload is not a JSON object")
    return payload


def countersign(*, session: Session, ctx: VaultContext, app: VendorApp, record_id: str, token: str) -> AgreementRecord:
    """Stores the vendor's countersignature: a compact JWS over the record, by a key the app registered."""
    row = get_record(session=session, record_id=record_id, vendor_id=app.id)
    jwks_doc = _vendor_jwks(ctx, app)
    try:
        payload = _payload(token, KeySet.import_key_set(jwks_doc))  # type: ignore[arg-type]
    except Exception as exc:
        raise ValidationFailed(
            f"the countersignature does not verify with your registered keys ({type(exc).__name__})"
        ) from None
    if payload != row.record:
        raise ValidationFailed("the countersigned payload differs from the record; sign the record exactly as served")
    row.vendor_jws, row.vendor_jwks, row.countersigned_at = token.strip(), jwks_doc, utcnow()
    session.add(row)
    session.flush()
    _audit(session, ctx, "agreement.countersigned", row.account_id, app.id, row, actor=f"vendor:{app.id}")
    return row


def download(*, session: Session, ctx: VaultContext, row: AgreementRecord) -> dict[str, Any]:
    """The record as either party downloads it: both signatures and the keys that verify them, for offline checks."""
    app = session.get(VendorApp, row.vendor_id)
    return {
        "record": row.record,
        "vault_jws": row.vault_jws,
        "vendor_jws": row.vendor_jws,
        "vault_jwks": ctx.keyset.jwks(),
        "vendor_jwks": row.vendor_jwks or (app.jwks if app is not None else None),
        "countersigned": row.vendor_jws is not None,
    }


def verify_download(document: dict[str, Any], *, vault_jwks: dict[str, Any] | None = None) -> dict[str, Any]:
    """Checks a downloaded record offline: the vault's signature (against ``vault_jwks``, else the keys in the file),
    the vendor's countersignature against the vendor's keys, and that both sign exactly the record. Returns the
    record; raises RecordInvalid saying what is wrong."""
    record = document.get("record")
    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA:
        raise RecordInvalid("not an agreement record (no record with the IEEE 7012 record schema)")
    for who, token, jwks_doc in (
        ("vault", document.get("vault_jws"), vault_jwks or document.get("vault_jwks")),
        ("vendor", document.get("vendor_jws"), document.get("vendor_jwks")),
    ):
        if not token:
            raise RecordInvalid(f"the record has no {who} signature (one-sided records do not verify)")
        if not isinstance(jwks_doc, dict):
            raise RecordInvalid(f"no keys to check the {who} signature with")
        try:
            payload = _payload(str(token), KeySet.import_key_set(jwks_doc))  # type: ignore[arg-type]
        except Exception as exc:
            raise RecordInvalid(f"the {who} signature does not verify ({type(exc).__name__})") from None
        if payload != record:
            raise RecordInvalid(f"the {who} signature covers a different record than the one in the file")
    return record
