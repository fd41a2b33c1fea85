"""Consent receipts other tools can read: every receipt the vault issues (each grant event, with the agreement in
force) validates against the published JSON Schema, and a JSON-LD processor reads it as an ISO/IEC TS 27560
consent record in the W3C Data Privacy Vocabulary."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pyld import jsonld
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants.models import ConsentReceipt, Grant
from vault_server.grants.receipts import SCHEMA_FILE, verify
from vault_server.grants.service import expire_due

from ..conftest import LiveServer
from .test_grants import Setup
from .test_oauth_support import approve_consent, authorize_params, pkce_pair

DPV = "https://w3id.org/dpv#"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
def setup(live_server: LiveServer, ctx: VaultContext) -> Setup:
    return Setup(live_server, ctx)


def _every_receipt(ctx: VaultContext, jwks: dict[str, Any]) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.exec(select(ConsentReceipt)).all()
    return [verify(r.jws, jwks) for r in rows]


def test_every_receipt_the_vault_issues_validates(live_server: LiveServer, ctx: VaultContext, validator: Any) -> None:
    setup = Setup(live_server, ctx)
    gid = setup.grant["id"]
    narrower = [{**setup.grant["authorization_details"][0], "categories": ["electronics.tv"]}]
    assert (
        setup.consumer.patch(
            f"/v1/grants/{gid}", json={"authorization_details": narrower}, headers=setup.csrf()
        ).status_code
        == 200
    )
    reveal = setup.consumer.post(f"/v1/grants/{gid}/identity", json={"fields": ["email"]}, headers=setup.csrf())
    assert reveal.is_success
    assert setup.consumer.delete(f"/v1/grants/{gid}/identity", headers=setup.csrf()).is_success
    # approving the vendor again supersedes the live grant; the new one then expires
    _, challenge = pkce_pair()
    approve_consent(setup.consumer, authorize_params(setup.vendor["client_id"], challenge))
    newest = next(g for g in setup.consumer.get("/v1/grants").json() if g["state"] == "live")
    with ctx.db.session() as s:
        row = s.get(Grant, newest["id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    with ctx.db.session() as s:
        assert expire_due(session=s, ctx=ctx) == 1

    docs = _every_receipt(ctx, setup.jwks())
    events = {d["event"]["event_type"] for d in docs}
    assert {"created", "narrowed", "identity_revealed", "identity_withdrawn", "superseded", "expired"} <= events
    for doc in docs:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{doc['event']['event_type']}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors
        )
        # the agreement in force (IEEE 7012) travels in the receipt, at the top and in each purpose
        assert doc["agreement"]["agreement_id"] and all(p["agreement"] == doc["agreement"] for p in doc["purposes"])
        assert doc["jurisdiction"] == f"loc:{ctx.settings.jurisdiction}"
    statuses = {d["event"]["event_type"]: d["consent_status"] for d in docs}
    assert statuses["created"] == "dpv:ConsentGiven"
    assert statuses["superseded"] == "dpv:ConsentWithdrawn" and statuses["expired"] == "dpv:ConsentExpired"


def test_the_schema_rejects_what_a_receipt_must_not_be(setup: Setup, validator: Any) -> None:
    doc = verify(setup.consumer.get(f"/v1/grants/{setup.grant['id']}/receipts").json()[0]["jws"], setup.jwks())
    assert not list(validator.iter_errors(doc))
    for broken in (
        {k: v for k, v in doc.items() if k != "jurisdiction"},  # a 27560 element missing
        {**doc, "consent_status": "given"},  # not a DPV consent status
        {**doc, "purposes": [{**doc["purposes"][0], "third_party_disclosure": True}]},  # never allowed here
        {**doc, "surprise": 1},  # unknown element
    ):
        assert list(validator.iter_errors(broken))


def test_a_json_ld_processor_reads_a_dpv_consent_record(setup: Setup) -> None:
    doc = verify(setup.consumer.get(f"/v1/grants/{setup.grant['id']}/receipts").json()[0]["jws"], setup.jwks())
    (node,) = jsonld.expand(doc)  # the @context is inline: nothing is fetched
    assert node["@type"] == [DPV + "ConsentRecord"]
    assert node[DPV + "hasDataSubject"][0]["@value"] == setup.sub
    assert node[DPV + "hasConsentStatus"][0]["@id"] == DPV + "ConsentGiven"
    assert node[DPV + "hasLegalBasis"][0]["@id"] == DPV + "Consent"
    assert node[DPV + "hasJurisdiction"][0]["@id"].startswith("https://w3id.org/dpv/loc#")
    (controller,) = node[DPV + "hasDataController"]
    assert controller["@type"] == [DPV + "DataController"]
    assert controller[DPV + "hasIdentifier"][0]["@value"] == setup.vendor["client_id"]
    (handling,) = node[DPV + "hasPersonalDataHandling"]
    assert handling[DPV + "hasPurpose"][0]["@type"] == [DPV + "DirectMarketing"]
    assert {p["@id"] for p in handling[DPV + "hasProcessing"]} == {DPV + "Use", DPV + "Store"}
    assert all(d["@id"].startswith("https://w3id.org/dpv/pd#") for d in handling[DPV + "hasPersonalData"])
    assert handling[DPV + "hasPolicy"][0]["http://purl.org/dc/terms/identifier"][0]["@value"]
    storage = handling[DPV + "hasStorageCondition"][0]
    assert storage["@type"] == [DPV + "StorageDuration"] and storage[DPV + "hasDuration"][0]["@value"] == "P30D"
