"""The consumer's own terms (IEEE 7012) through the real server and consent form: accept, counter taken,
counter refused, decline; the agreement bounds the grant; the record is signed by both sides and verifies
offline, while tampered or one-sided records do not."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlmodel import select

from vault_server.audit import service as audit
from vault_server.audit.check import BEYOND_AGREEMENT, UNCOVERED, run_check
from vault_server.audit.models import AuditEntry
from vault_server.cli import main
from vault_server.context import VaultContext
from vault_server.grants.models import Grant
from vault_server.terms.models import AgreementRecord

from ..conftest import LiveServer
from .test_oauth_support import (
    approve,
    approve_consent,
    authorize_params,
    browser,
    consent_form,
    consent_page,
    consumer_browser,
    exchange,
    forms,
    pkce_pair,
    post_form,
    register_vendor,
    submit_values,
)

DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics.tv"],
        "min_stage": "interest",
        "fields": ["stage", "score", "price_band", "declared_intent"],
        "purpose": "Send you offers on TVs",
        "retention_days": 60,
        "frequency": "daily",
    }
]
SCOPE = "signals:read intents:read"


def vendor_key() -> tuple[Ed25519PrivateKey, dict[str, Any]]:
    key = Ed25519PrivateKey.generate()
    public = OKPKey.import_key(key.public_key()).as_dict(private=False)  # type: ignore[arg-type]
    return key, {"keys": [{**public, "kid": "vendor-1", "use": "sig", "alg": "EdDSA"}]}


def vendor_with_terms(server: LiveServer, ctx: VaultContext, accepted: list[str], counter: bool = True) -> Any:
    http = browser(server.url)
    _, jwks_doc = key_pair = vendor_key()
    vendor = register_vendor(http, jwks=jwks_doc, accepted_agreements=accepted)
    approve(ctx, vendor["client_id"])
    if not counter:
        r = http.put(
            "/v1/terms/accepted",
            json={"accepted_agreements": accepted, "counter": False},
            auth=(vendor["client_id"], vendor["client_secret"]),
        )
        assert r.status_code == 200, r.text
    return http, vendor, key_pair[0]


def choose(consumer: httpx.Client, agreement_id: str, vendor_id: str | None = None) -> None:
    csrf = consumer.post("/v1/sessions", json={"email": "dana@example.com", "password": "correct horse battery staple"})
    token = csrf.json()["csrf_token"]
    r = consumer.put(
        "/v1/me/terms", json={"agreement_id": agreement_id, "vendor_id": vendor_id}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 200, r.text


def audit_kinds(ctx: VaultContext) -> list[str]:
    with ctx.db.session() as s:
        return [json.loads(r.entry)["kind"] for r in s.exec(select(AuditEntry)).all()]


def grants_of(ctx: VaultContext) -> list[Grant]:
    with ctx.db.session() as s:
        return list(s.exec(select(Grant)).all())


def test_accepted_terms_bound_the_grant_and_travel_with_it(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http, vendor, _ = vendor_with_terms(live_server, ctx, ["cc-sd-base", "cc-sd-offers"])
    consumer = consumer_browser(live_server.url)
    choose(consumer, "cc-sd-base")
    verifier, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge, scope=SCOPE, details=DETAILS)
    page = consent_page(consumer, params)
    assert 'data-testid="terms-accepted"' in page.text and "Service delivery only" in page.text
    query = approve_consent(consumer, params)
    tokens = exchange(vendor_http, vendor, query["code"][0], verifier).json()
    granted = tokens["authorization_details"][0]
    # service delivery only: no analytics (score), no intentcasting (declared_intent, intents:read), 30 days
    assert granted["fields"] == ["stage", "price_band"]
    assert granted["retention_days"] == 30
    assert granted["agreement"] == {"id": "cc-sd-base", "version": "1.0"}
    assert tokens["scope"] == "signals:read"
    assert "agreement.accepted" in audit_kinds(ctx)
    # the public audit details name the record by a keyed token: the database alone cannot join it to the account
    with ctx.db.session() as s:
        entries = [json.loads(r.entry) for r in s.exec(select(AuditEntry)).all()]
        [record] = s.exec(select(AgreementRecord)).all()
    [accepted] = [e for e in entries if e["kind"] == "agreement.accepted"]
    assert accepted["details"]["record_id"].startswith("t_") and record.id not in json.dumps(entries)


def test_the_compliance_check_holds_reads_to_the_agreement(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http, vendor, _ = vendor_with_terms(live_server, ctx, ["cc-sd-base"])
    consumer = consumer_browser(live_server.url)
    choose(consumer, "cc-sd-base")
    verifier, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge, scope=SCOPE, details=DETAILS)
    tokens = exchange(vendor_http, vendor, approve_consent(consumer, params)["code"][0], verifier).json()
    sub = str(ctx.keyset.decode_jwt(tokens["access_token"]).claims["sub"])
    read = vendor_http.get(f"/v1/subjects/{sub}/signals", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 200
    assert not [f for f in run_check(ctx).findings if f.kind == BEYOND_AGREEMENT]
    # a vault that served the analytics field anyway (the grant's agreement permits no analytics) is caught
    [grant] = grants_of(ctx)
    with ctx.db.session() as s:
        audit.record(
            session=s,
            ctx=ctx,
            kind="vendor.read",
            actor=f"vendor:{vendor['client_id']}",
            consumer_id=grant.account_id,
            details={
                "vendor_id": vendor["client_id"],
                "grant_id": grant.id,
                "categories": ["electronics.tv"],
                "fields": ["stage", "score"],
                "record_count": 1,
            },
        )
    findings = run_check(ctx).findings
    [beyond] = [f for f in findings if f.kind == BEYOND_AGREEMENT]  # beyond the agreement, not only the grant
    assert "score" in beyond.line() and "cc-sd-base v1.0" in beyond.line()
    assert [f.index for f in findings if f.kind == UNCOVERED] == [beyond.index]


def test_a_counter_proposal_taken_is_the_agreement_in_force(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http, vendor, _ = vendor_with_terms(live_server, ctx, ["cc-sd-offers"])
    consumer = consumer_browser(live_server.url)
    choose(consumer, "cc-no-stalking")
    verifier, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge, scope=SCOPE, details=DETAILS)
    page = consent_page(consumer, params)
    assert 'data-testid="terms-countered"' in page.text and "#NoStalking" in page.text
    query = approve_consent(consumer, params, set_values={"terms": "counter"})
    tokens = exchange(vendor_http, vendor, query["code"][0], verifier).json()
    granted = tokens["authorization_details"][0]
    assert granted["agreement"]["id"] == "cc-sd-offers" and granted["retention_days"] == 60
    assert set(tokens["scope"].split()) == {"signals:read", "intents:read"}
    records = consumer.get("/v1/me/agreements").json()["records"]
    assert [r["record"]["outcome"] for r in records] == ["countered"]
    assert records[0]["record"]["proffered"]["id"] == "cc-no-stalking"
    assert "agreement.countered" in audit_kinds(ctx)


def test_a_refused_counter_or_a_decline_gives_no_access(live_server: LiveServer, ctx: VaultContext) -> None:
    _, vendor, _ = vendor_with_terms(live_server, ctx, ["cc-sd-offers"])
    consumer = consumer_browser(live_server.url)
    choose(consumer, "cc-no-stalking")
    params = authorize_params(vendor["client_id"], pkce_pair()[1], scope=SCOPE, details=DETAILS)
    query = approve_consent(consumer, params)  # the refuse radio is the default
    assert query["error"] == ["access_denied"] and "counter" in query["error_description"][0]
    assert grants_of(ctx) == []

    _, strict, _ = vendor_with_terms(live_server, ctx, ["cc-sd-offers"], counter=False)
    params = authorize_params(strict["client_id"], pkce_pair()[1], scope=SCOPE, details=DETAILS)
    page = consent_page(consumer, params)
    assert 'data-testid="terms-declined"' in page.text
    values = submit_values(consent_form(page), button=("decision", "approve"), set_values={"terms": "counter"})
    r = post_form(consumer, "/oauth/authorize", values)
    assert r.status_code == 303 and "error=access_denied" in r.headers["location"]  # no way around a decline
    assert grants_of(ctx) == []
    assert "agreement.declined" in audit_kinds(ctx)


def test_narrowing_keeps_the_agreement_and_never_widens_it(live_server: LiveServer, ctx: VaultContext) -> None:
    _, vendor, _ = vendor_with_terms(live_server, ctx, ["cc-sd-offers"])
    consumer = consumer_browser(live_server.url)
    params = authorize_params(vendor["client_id"], pkce_pair()[1], scope=SCOPE, details=DETAILS)
    approve_consent(consumer, params)
    [grant] = grants_of(ctx)
    csrf = consumer.post("/v1/sessions", json={"email": "dana@example.com", "password": "correct horse battery staple"})
    narrowed = [{**grant.authorization_details[0], "fields": ["stage"], "agreement": {"id": "x", "version": "9"}}]
    r = consumer.patch(
        f"/v1/grants/{grant.id}",
        json={"authorization_details": narrowed},
        headers={"X-CSRF-Token": csrf.json()["csrf_token"]},
    )
    assert r.status_code == 200, r.text
    [after] = grants_of(ctx)
    assert after.authorization_details[0]["fields"] == ["stage"]
    assert after.authorization_details[0]["agreement"] == {"id": "cc-sd-offers", "version": "1.0"}


def _countersign(token_payload: dict[str, Any], key: Ed25519PrivateKey) -> str:
    raw = json.dumps(token_payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact(
            {"alg": "EdDSA", "kid": "vendor-1"},
            raw,
            OKPKey.import_key(key),
            algorithms=["EdDSA"],  # type: ignore[arg-type]
        )


def test_both_sides_sign_the_record_and_it_verifies_offline(
    live_server: LiveServer, ctx: VaultContext, tmp_path: Path
) -> None:
    vendor_http, vendor, key = vendor_with_terms(live_server, ctx, ["cc-sd-offers"])
    consumer = consumer_browser(live_server.url)
    params = authorize_params(vendor["client_id"], pkce_pair()[1], scope=SCOPE, details=DETAILS)
    approve_consent(consumer, params)
    [mine] = consumer.get("/v1/me/agreements").json()["records"]
    assert mine["countersigned"] is False
    runner = CliRunner()
    one_sided = tmp_path / "one-sided.json"
    one_sided.write_text(json.dumps(mine))
    result = runner.invoke(main, ["agreement", "verify", str(one_sided)])
    assert result.exit_code == 1 and "no vendor signature" in result.output

    auth = (vendor["client_id"], vendor["client_secret"])
    record_id = mine["record"]["recordId"]
    pending = vendor_http.get("/v1/terms/records", params={"pending": "true"}, auth=auth).json()["records"]
    assert [r["record"]["recordId"] for r in pending] == [record_id]
    theirs = vendor_http.get(f"/v1/terms/records/{record_id}", auth=auth).json()
    assert theirs["record"] == mine["record"]
    other_key = Ed25519PrivateKey.generate()
    bad = vendor_http.post(
        f"/v1/terms/records/{record_id}/countersign", json={"jws": _countersign(theirs["record"], other_key)}, auth=auth
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    altered = {**theirs["record"], "outcome": "countered"}
    bad = vendor_http.post(
        f"/v1/terms/records/{record_id}/countersign", json={"jws": _countersign(altered, key)}, auth=auth
    )
    assert bad.status_code == 422 and "differs" in bad.json()["detail"]
    good = vendor_http.post(
        f"/v1/terms/records/{record_id}/countersign", json={"jws": _countersign(theirs["record"], key)}, auth=auth
    )
    assert good.status_code == 200, good.text
    assert "agreement.countersigned" in audit_kinds(ctx)
    assert vendor_http.get("/v1/terms/records", params={"pending": "true"}, auth=auth).json()["records"] == []

    both = consumer.get(f"/v1/me/agreements/{record_id}").json()
    assert both["countersigned"] is True
    path = tmp_path / "record.json"
    path.write_text(json.dumps(both))
    result = runner.invoke(main, ["agreement", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid agreement record" in result.output and "cc-sd-offers" in result.output
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(ctx.keyset.jwks()))
    assert runner.invoke(main, ["agreement", "verify", str(path), "--jwks", str(jwks_file)]).exit_code == 0

    tampered = {**both, "record": {**both["record"], "permits": {**both["record"]["permits"], "retention_days": 3650}}}
    path.write_text(json.dumps(tampered))
    result = runner.invoke(main, ["agreement", "verify", str(path)])
    assert result.exit_code == 1 and "NOT valid" in result.output
    wrong_keys = tmp_path / "wrong.json"
    _, other_jwks = vendor_key()
    wrong_keys.write_text(json.dumps(other_jwks))
    path.write_text(json.dumps(both))
    result = runner.invoke(main, ["agreement", "verify", str(path), "--jwks", str(wrong_keys)])
    assert result.exit_code == 1 and "vault signature does not verify" in result.output

    # another vendor cannot read or countersign it, and a consumer cannot read someone else's
    _, stranger, _ = vendor_with_terms(live_server, ctx, ["cc-sd-offers"])
    assert (
        vendor_http.get(
            f"/v1/terms/records/{record_id}", auth=(stranger["client_id"], stranger["client_secret"])
        ).status_code
        == 404
    )
    other = consumer_browser(live_server.url, email="erin@example.com")
    assert other.get(f"/v1/me/agreements/{record_id}").status_code == 404


def test_choices_and_registration_reject_unknown_agreements(live_server: LiveServer, ctx: VaultContext) -> None:
    http = browser(live_server.url)
    r = http.post(
        "/oauth/register",
        json={"client_name": "X", "redirect_uris": ["https://shop.example/callback"], "accepted_agreements": ["nope"]},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata" and "nope" in r.text
    roster = http.get("/v1/terms/roster").json()
    assert roster["default"] == "cc-sd-offers" and {a["id"] for a in roster["agreements"]} >= {"cc-sd-base"}
    consumer = consumer_browser(live_server.url)
    token = consumer.post(
        "/v1/sessions", json={"email": "dana@example.com", "password": "correct horse battery staple"}
    ).json()["csrf_token"]
    r = consumer.put("/v1/me/terms", json={"agreement_id": "nope"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert consumer.get("/v1/me/terms").json() == {"default": "cc-sd-offers", "vendors": {}, "vendor_apps": []}
    page = consumer.get("/terms")
    assert page.status_code == 200 and "Service delivery only" in page.text


def test_the_terms_page_sets_a_choice_for_one_vendor(live_server: LiveServer, ctx: VaultContext) -> None:
    _, vendor, _ = vendor_with_terms(live_server, ctx, ["cc-sd-offers"])
    consumer = consumer_browser(live_server.url)
    page = consumer.get("/terms")
    form = next(f for f in forms(page.text) if any(c.get("name") == "vendor_id" for c in f["controls"]))
    values = submit_values(form, set_values={"vendor_id": vendor["client_id"], "agreement_id": "cc-sd-base"})
    assert post_form(consumer, "/terms", [v for v in values if v[0] != "csrf_token"]).status_code == 403
    r = post_form(consumer, "/terms", values)
    assert r.status_code == 303, r.text
    assert consumer.get("/v1/me/terms").json()["vendors"] == {vendor["client_id"]: "cc-sd-base"}
    # the vendor accepts only its own agreement: the consumer's per-vendor choice now meets a counter-proposal
    params = authorize_params(vendor["client_id"], pkce_pair()[1], scope=SCOPE, details=DETAILS)
    assert 'data-testid="terms-countered"' in consent_page(consumer, params).text
