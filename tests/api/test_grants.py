"""Grants over a real server: narrowing (API and page) that acts at once and never widens, signed receipts
verifiable by both sides (and a tampered one failing, also with the CLI), expiry, export and account deletion,
and an audit entry for every change."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import select

from vault_server.audit.models import AuditEntry
from vault_server.cli import main
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants.models import Grant
from vault_server.grants.receipts import ReceiptInvalid, verify
from vault_server.grants.service import expire_due

from ..conftest import PASSWORD, LiveServer
from .test_oauth_support import (
    DETAILS,
    approve_consent,
    approved_vendor,
    authorize_params,
    basic,
    browser,
    consumer_browser,
    exchange,
    forms,
    pkce_pair,
    post_form,
    submit_values,
)


class Setup:
    def __init__(self, server: LiveServer, ctx: VaultContext) -> None:
        self.ctx = ctx
        self.vendor_http = browser(server.url)
        self.vendor = approved_vendor(self.vendor_http, ctx)
        self.consumer = consumer_browser(server.url)
        verifier, challenge = pkce_pair()
        code = approve_consent(self.consumer, authorize_params(self.vendor["client_id"], challenge))["code"][0]
        self.tokens = exchange(self.vendor_http, self.vendor, code, verifier).json()
        self.sub = str(ctx.keyset.decode_jwt(self.tokens["access_token"]).claims["sub"])
        self.grant = self.consumer.get("/v1/grants").json()[0]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.consumer.get("/v1/me/csrf").json()["csrf_token"]}

    def read(self) -> httpx.Response:
        return self.vendor_http.get(f"/v1/subjects/{self.sub}/signals", headers=self.bearer)

    def jwks(self) -> dict[str, Any]:
        return dict(self.consumer.get("/.well-known/jwks.json").json())


@pytest.fixture
def setup(live_server: LiveServer, ctx: VaultContext) -> Setup:
    return Setup(live_server, ctx)


def test_grant_records_what_was_approved_and_what_was_asked(setup: Setup) -> None:
    g = setup.grant
    assert g["state"] == "live" and g["vendor"]["name"] == "Shop Example" and g["subject"] == setup.sub
    # sensitive category was not ticked, so it is not granted; it is still recorded as asked
    assert g["authorization_details"][0]["categories"] == ["electronics.tv", "electronics.headphones"]
    assert "health.hearing" in g["requested"]["authorization_details"][0]["categories"]
    assert g["purpose"] == DETAILS[0]["purpose"] and g["retention_days"] == 30
    days = (utcnow() - timedelta(days=90)).isoformat()
    assert g["expires_at"] > days  # default 90 days


def test_narrowing_acts_at_once_and_never_widens(setup: Setup) -> None:
    gid = setup.grant["id"]
    narrower = [{**setup.grant["authorization_details"][0], "categories": ["electronics.tv"], "fields": ["stage"]}]
    r = setup.consumer.patch(f"/v1/grants/{gid}", json={"authorization_details": narrower}, headers=setup.csrf())
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    read = setup.read()  # the token issued before the change already sees the narrower grant
    assert read.status_code == 200 and read.json()["grant_version"] == 2
    wider = [{**narrower[0], "categories": ["electronics.tv", "electronics.laptops"]}]
    r = setup.consumer.patch(f"/v1/grants/{gid}", json={"authorization_details": wider}, headers=setup.csrf())
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = setup.consumer.patch(
        f"/v1/grants/{gid}", json={"expires_at": (utcnow() + timedelta(days=900)).isoformat()}, headers=setup.csrf()
    )
    assert (
        r.status_code == 200 and r.json()["expires_at"] == setup.consumer.get(f"/v1/grants/{gid}").json()["expires_at"]
    )
    assert r.json()["version"] == 2  # a later expiry is not a change: it is ignored
    refreshed = setup.vendor_http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": setup.tokens["refresh_token"]},
        auth=basic(setup.vendor),
    ).json()
    assert refreshed["authorization_details"][0]["fields"] == ["stage"]


def test_narrowing_from_the_grant_page(setup: Setup) -> None:
    gid = setup.grant["id"]
    page = setup.consumer.get(f"/grants/{gid}")
    assert page.status_code == 200 and "Shop Example" in page.text
    form = next(f for f in forms(page.text) if f["action"] == f"/grants/{gid}/narrow")
    values = submit_values(form, uncheck={("d0.cat", "electronics.headphones")})
    assert post_form(setup.consumer, form["action"], values).status_code == 303
    g = setup.consumer.get(f"/v1/grants/{gid}").json()
    assert g["authorization_details"][0]["categories"] == ["electronics.tv"]
    without_csrf = [(k, v) for k, v in values if k != "csrf_token"]
    assert post_form(setup.consumer, form["action"], without_csrf).status_code == 403


def test_receipts_verify_for_both_sides_and_tampering_fails(setup: Setup, tmp_path: Path) -> None:
    gid = setup.grant["id"]
    setup.consumer.delete(f"/v1/grants/{gid}", headers=setup.csrf())
    receipts = setup.consumer.get(f"/v1/grants/{gid}/receipts").json()
    assert [r["event"] for r in receipts] == ["created", "revoked"]
    jwks = setup.jwks()
    created = verify(receipts[0]["jws"], jwks)
    assert created["record_id"] == gid and created["pii_principal_id"] == setup.sub
    assert created["consent_status"] == "dpv:ConsentGiven"
    assert created["event"]["@type"] == "dpv:ExplicitlyExpressedConsent"
    assert created["pii_controllers"][0]["client_id"] == setup.vendor["client_id"]
    assert verify(receipts[1]["jws"], jwks)["consent_status"] == "dpv:ConsentWithdrawn"

    # the vendor downloads the same receipts with its client credentials
    theirs = setup.vendor_http.get(f"/v1/vendor/subjects/{setup.sub}/receipts", auth=basic(setup.vendor))
    assert theirs.status_code == 200
    assert [r["jws"] for r in theirs.json()[0]["receipts"]] == [r["jws"] for r in receipts]
    anon = setup.vendor_http.get(f"/v1/vendor/subjects/{setup.sub}/receipts")
    assert anon.status_code == 401 and anon.headers["content-type"] == "application/problem+json"

    # one receipt downloads as application/jose
    one = setup.consumer.get(f"/v1/grants/{gid}/receipts/{receipts[0]['id']}")
    assert one.headers["content-type"].startswith("application/jose") and one.text == receipts[0]["jws"]

    # tamper: widen the categories in the payload, keep the signature
    head, payload, sig = receipts[0]["jws"].split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc["authorization_details"][0]["categories"].append("health.hearing")
    forged_payload = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    forged = f"{head}.{forged_payload}.{sig}"
    with pytest.raises(ReceiptInvalid):
        verify(forged, jwks)

    # the CLI verifies against the published JWKS (file or URL)
    good, bad, keys = tmp_path / "good.jws", tmp_path / "bad.jws", tmp_path / "jwks.json"
    good.write_text(receipts[0]["jws"])
    bad.write_text(forged)
    keys.write_text(json.dumps(jwks))
    runner = CliRunner()
    ok = runner.invoke(main, ["receipt", "verify", str(good), "--jwks", str(keys)])
    assert ok.exit_code == 0 and "valid receipt" in ok.output and gid in ok.output
    ko = runner.invoke(main, ["receipt", "verify", str(bad), "--jwks", str(keys)])
    assert ko.exit_code == 1 and "NOT valid" in ko.output
    url = str(setup.consumer.base_url).rstrip("/") + "/.well-known/jwks.json"
    assert runner.invoke(main, ["receipt", "verify", str(good), "--jwks", url]).exit_code == 0


def test_expiry_job_ends_grants_with_receipt(setup: Setup, ctx: VaultContext) -> None:
    with ctx.db.session() as s:
        grant = s.get(Grant, setup.grant["id"])
        assert grant is not None
        grant.expires_at = utcnow() - timedelta(seconds=1)
        s.add(grant)
    assert setup.read().status_code == 401  # dead already, before the job runs
    with ctx.db.session() as s:
        assert expire_due(session=s, ctx=ctx) == 1
    with ctx.db.session() as s:
        assert expire_due(session=s, ctx=ctx) == 0
    g = setup.consumer.get(f"/v1/grants/{setup.grant['id']}").json()
    assert g["state"] == "expired" and g["end_reason"] == "expired"
    events = [r["event"] for r in setup.consumer.get(f"/v1/grants/{setup.grant['id']}/receipts").json()]
    assert events == ["created", "expired"]


def test_every_change_is_audited(setup: Setup, ctx: VaultContext) -> None:
    gid = setup.grant["id"]
    setup.read()
    narrower = [{**setup.grant["authorization_details"][0], "categories": ["electronics.tv"]}]
    setup.consumer.patch(f"/v1/grants/{gid}", json={"authorization_details": narrower}, headers=setup.csrf())
    setup.consumer.post(f"/v1/grants/{gid}/identity", json={"fields": ["email"]}, headers=setup.csrf())
    setup.consumer.delete(f"/v1/grants/{gid}", headers=setup.csrf())
    with ctx.db.session() as s:
        entries = s.exec(select(AuditEntry).order_by(AuditEntry.idx)).all()  # type: ignore[arg-type]
        kinds = [e.kind for e in entries]
        text = " ".join(e.entry for e in entries)
    for kind in (
        "vendor.approved",
        "grant.created",
        "token.issued",
        "vendor.read",
        "grant.narrowed",
        "identity.revealed",
        "grant.revoked",
    ):
        assert kind in kinds, kinds
    assert setup.consumer.get("/v1/me").json()["id"] not in text  # consumer pseudonymised in the log


def test_export_contains_grants_and_deletion_revokes_them(setup: Setup) -> None:
    doc = setup.consumer.get("/v1/me/export").json()
    exported = doc["grants"]["grants"]
    assert len(exported) == 1 and exported[0]["receipts"][0]["event"] == "created"
    r = setup.consumer.request(
        "DELETE", "/v1/me", json={"password": PASSWORD, "confirm": "delete my vault"}, headers=setup.csrf()
    )
    assert r.status_code == 204
    assert setup.read().status_code == 401
    theirs = setup.vendor_http.get(f"/v1/vendor/subjects/{setup.sub}/receipts", auth=basic(setup.vendor)).json()
    assert theirs[0]["receipts"] == []  # the vendor keeps the copies it downloaded; the vault keeps nothing
    with setup.ctx.db.session() as s:
        grant = s.get(Grant, setup.grant["id"])
        assert grant is not None and grant.end_reason == "account_deleted"
        assert grant.authorization_details == [] and grant.requested == {} and grant.purpose == ""


def test_other_consumers_grants_are_invisible(setup: Setup, live_server: LiveServer) -> None:
    eve = consumer_browser(live_server.url, "eve@example.com")
    assert eve.get("/v1/grants").json() == []
    assert eve.get(f"/v1/grants/{setup.grant['id']}").status_code == 404
    csrf = {"X-CSRF-Token": eve.get("/v1/me/csrf").json()["csrf_token"]}
    assert eve.delete(f"/v1/grants/{setup.grant['id']}", headers=csrf).status_code == 404
    assert setup.read().status_code == 200


def test_expiry_job_purges_dead_oauth_rows(setup: Setup, ctx: VaultContext) -> None:
    from vault_server.grants.tasks import expire_once
    from vault_server.oauth.models import AuthorizationCode, RefreshToken

    with ctx.db.session() as s:
        codes = s.exec(select(AuthorizationCode)).all()
        refresh = s.exec(select(RefreshToken)).all()
        assert codes and refresh
        for row in codes:
            row.expires_at = utcnow() - timedelta(days=2)
            s.add(row)
    assert expire_once(ctx) == 0
    with ctx.db.session() as s:
        assert s.exec(select(AuthorizationCode)).all() == []
        assert len(s.exec(select(RefreshToken)).all()) == len(refresh)  # live ones stay
    assert setup.read().status_code == 200


def test_dropping_signals_read_ends_signal_access(setup: Setup) -> None:
    gid = setup.grant["id"]
    r = setup.consumer.patch(f"/v1/grants/{gid}", json={"scope": []}, headers=setup.csrf())
    assert r.status_code == 200 and r.json()["state"] == "revoked"  # nothing left: the grant ends
    assert setup.read().status_code == 401


def test_receipt_verify_outside_a_vault_asks_for_the_published_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a vendor's folder: no var/kek.json, no database
    for name in ("VAULT_KEK_FILE", "VAULT_KEK", "VAULT_DATABASE_URL", "VAULT_DATABASE_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "receipt.jws").write_text("eyJhbGciOiJFZERTQSJ9.e30.c2ln")
    result = CliRunner().invoke(main, ["receipt", "verify", "receipt.jws"])
    assert result.exit_code == 1
    assert "--jwks URL" in result.output and "intent-vault init" not in result.output
    assert "Traceback" not in result.output
