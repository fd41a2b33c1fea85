"""The vendor sandbox: a test consumer a vendor creates and drives through consent from a script, then the real
token exchange, feed and webhook; and its isolation (its vendor only, no login, no demand reports, no other app)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.audit.models import AuditEntry
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.errors import Forbidden
from vault_server.feed import tasks
from vault_server.grants.models import Grant
from vault_server.oauth import authorize, flows
from vault_server.reports import service as reports
from vault_server.vendors import service as vendors
from vault_server.vendors.models import SandboxConsumer

from .test_feed_example_client import load_client
from .test_feed_support import feed_all, make_vendor, receiver

REDIRECT = "https://shop.example/cb"
DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics"],
        "min_stage": "awareness",
        "fields": ["stage", "score", "price_band"],
        "purpose": "Offers on TVs",
        "retention_days": 30,
        "frequency": "realtime",
    }
]


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def _client(client: TestClient, creds: tuple[str, str]) -> Any:
    vc = load_client()
    return vc, vc.VendorClient(str(client.base_url), creds[0], creds[1], http=client)


def test_sandbox_consent_from_a_script_then_the_real_token_exchange_feed_and_tombstone(
    client: TestClient, ctx: VaultContext
) -> None:
    creds = make_vendor(ctx, "Sandbox Shop")
    vc, vault = _client(client, creds)
    with receiver() as rx:
        vault.register_webhook(rx.url, ["grant.created", "grant.revoked"])
        consumer = vault.sandbox_consumer("first")
        assert consumer["sandbox"] is True and consumer["subject"].startswith("ps_")
        assert consumer["email"].endswith("@sandbox.invalid") and consumer["gestures"]["accepted"] == 7
        assert [c["id"] for c in vault.sandbox_consumers()] == [consumer["id"]]

        request = vault.authorization_request(REDIRECT, details=DETAILS, scope="signals:read identity:name")
        answer = vault.sandbox_consent(consumer["id"], request)
        assert answer["redirect_to"].startswith(REDIRECT + "?") and answer["state"] == request.state
        tokens = vault.exchange_code(answer["code"], request, state=answer["state"])  # PKCE verified by the vault
        assert tokens.subject == consumer["subject"]
        signals = vault.subject_signals(tokens)["signals"]
        assert signals and all(s["category"].startswith("electronics.") for s in signals)
        with pytest.raises(vc.VaultError):  # single-use code
            vault.exchange_code(answer["code"], request)

        items, cursor = feed_all(client, creds)
        created = [i for i in items if i["type"] == "grant.created"]
        assert created and created[0]["subject"] == consumer["subject"] and created[0]["signals"]
        with ctx.db.session() as s:  # the read went into the audit log like any feed read
            assert s.exec(select(AuditEntry).where(AuditEntry.kind == "vendor.read")).first() is not None

        vault.sandbox_delete(consumer["id"])
        later, _ = feed_all(client, creds, cursor)
        assert [(i["type"], i["subject"], i["forget"]) for i in later] == [
            ("subject.deleted", consumer["subject"], True)
        ]
        assert tasks.run_once(ctx).delivered >= 2
        bodies = rx.bodies()
        assert [b["type"] for b in bodies] == ["grant.created", "grant.revoked"]
        assert bodies[-1]["data"]["reason"] == "subject_deleted" and bodies[-1]["data"]["forget"] is True
    assert vault.sandbox_consumers() == []
    r = client.post(f"/v1/vendor/sandbox/consumers/{consumer['id']}/consent", json={}, auth=creds)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_narrowing_and_declining_take_the_consent_screens_path(client: TestClient, ctx: VaultContext) -> None:
    creds = make_vendor(ctx)
    _, vault = _client(client, creds)
    consumer = vault.sandbox_consumer()
    request = vault.authorization_request(REDIRECT, details=DETAILS)
    declined = vault.sandbox_consent(consumer["id"], request, decision="decline")
    assert declined["error"] == "access_denied" and declined["code"] is None
    request = vault.authorization_request(REDIRECT, details=DETAILS)
    narrowed = vault.sandbox_consent(
        consumer["id"], request, narrow={"fields": ["stage"], "categories": ["electronics"]}
    )
    tokens = vault.exchange_code(narrowed["code"], request)
    assert tokens.authorization_details[0]["fields"] == ["stage"]
    assert all(set(s) <= {"category", "category_name", "stage"} for s in vault.subject_signals(tokens)["signals"])
    # an invalid request is answered as /authorize answers it: an error redirect, or a problem when unsafe
    bad = vault.sandbox_consent(consumer["id"], vault.authorization_request(REDIRECT, details=[{"type": "nope"}]))
    assert bad["error"] == "invalid_authorization_details" and bad["code"] is None
    r = client.post(
        f"/v1/vendor/sandbox/consumers/{consumer['id']}/consent",
        json={"authorization_url": request.url.replace("shop.example", "evil.example")},
        auth=creds,
    )
    assert r.status_code == 422, r.text


def test_a_sandbox_consumer_is_its_vendors_alone_and_nobody_real(client: TestClient, ctx: VaultContext) -> None:
    mine = make_vendor(ctx, "Mine")
    theirs = make_vendor(ctx, "Theirs")
    _, vault = _client(client, mine)
    _, other = _client(client, theirs)
    consumer = vault.sandbox_consumer()
    assert other.sandbox_consumers() == []
    request = other.authorization_request(REDIRECT, details=DETAILS)
    # another vendor cannot drive it, even with its own (valid) request
    r = client.post(
        f"/v1/vendor/sandbox/consumers/{consumer['id']}/consent", json={"authorization_url": request.url}, auth=theirs
    )
    assert r.status_code == 404
    # and its own vendor cannot make it grant another app
    r = client.post(
        f"/v1/vendor/sandbox/consumers/{consumer['id']}/consent", json={"authorization_url": request.url}, auth=mine
    )
    assert r.status_code == 403
    r = client.delete(f"/v1/vendor/sandbox/consumers/{consumer['id']}", auth=theirs)
    assert r.status_code == 404
    with ctx.db.session() as s:
        assert s.get(SandboxConsumer, consumer["id"]) is not None
        account = s.get(Account, consumer["id"])
        assert account is not None and account.password_hash is None  # nobody logs in as it
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=consumer["email"], password="anything at all"
            )
        with pytest.raises(Forbidden):  # never counted in demand reports
            reports.set_participation(session=s, ctx=ctx, account_id=consumer["id"], opted_in=True)
        assert s.exec(select(Grant).where(Grant.account_id == consumer["id"])).first() is None
    # the flow itself refuses a grant to another app, whoever calls it (defence in depth)
    params = dict(parse_qsl(urlsplit(request.url).query))
    with ctx.db.session() as s:
        valid = authorize.validate(ctx, s, params)
        req = authorize.start(session=s, account_id=consumer["id"], req=valid)
        app = vendors.get_or_raise(session=s, client_id=theirs[0])
        with pytest.raises(Forbidden):
            flows.approve(session=s, ctx=ctx, account_id=consumer["id"], req=req, app=app, form=[])


def test_sandbox_needs_the_apps_own_credentials_and_has_a_limit(client: TestClient, ctx: VaultContext) -> None:
    assert client.post("/v1/vendor/sandbox/consumers", json={}).status_code == 401
    creds = make_vendor(ctx)
    r = client.post("/v1/vendor/sandbox/consumers", json={"label": "x", "extra": 1}, auth=creds)
    assert r.status_code == 422
    gestures = [
        {
            "id": "7d4f7c1e-3b7e-4c1e-9c1e-000000000001",
            "type": "search",
            "ts": "2026-12-01T10:00:00+00:00",
            "origin": "https://search.example",
            "path": "/search",
            "query": "running shoes",
        }
    ]
    r = client.post("/v1/vendor/sandbox/consumers", json={"label": "runner", "gestures": gestures}, auth=creds)
    assert r.status_code == 201, r.text
    assert r.json()["gestures"]["accepted"] == 1 and r.json()["label"] == "runner"
    assert json.loads(r.text)["id"] in [
        c["id"] for c in client.get("/v1/vendor/sandbox/consumers", auth=creds).json()["consumers"]
    ]


def test_the_example_clients_sandbox_walkthrough_runs(client: TestClient, ctx: VaultContext, tmp_path: Any) -> None:
    vc, vault = _client(client, make_vendor(ctx))
    items = vc.sandbox_walkthrough(vault, REDIRECT, vc.FileCursorStore(tmp_path / "cursor"))
    kinds = [i["type"] for i in items]
    assert kinds[0] == "subject.signals" and items[0]["signals"]
    assert "grant.created" in kinds and kinds[-1] == "subject.deleted"


def test_more_gestures_then_a_revocation_reach_the_vendor_as_a_persons_would(
    client: TestClient, ctx: VaultContext
) -> None:
    creds = make_vendor(ctx)
    _, vault = _client(client, creds)
    consumer = vault.sandbox_consumer()
    request = vault.authorization_request(REDIRECT, details=DETAILS)
    tokens = vault.exchange_code(vault.sandbox_consent(consumer["id"], request)["code"], request)
    before = {s["category"]: s for s in vault.subject_signals(tokens)["signals"]}
    _, cursor = feed_all(client, creds)
    assert vault.sandbox_gestures(consumer["id"])["accepted"] == 3
    after = {s["category"]: s for s in vault.subject_signals(tokens)["signals"]}
    assert before["electronics.tv"]["score"] < 1
    assert after["electronics.tv"]["score"] > before["electronics.tv"]["score"]
    items, cursor = feed_all(client, creds, cursor)
    assert [(i["type"], i["subject"]) for i in items] == [("signal.updated", consumer["subject"])]
    other = make_vendor(ctx, "Other")
    assert client.post(f"/v1/vendor/sandbox/consumers/{consumer['id']}/revoke", auth=other).status_code == 404
    assert vault.sandbox_revoke(consumer["id"]) == 1
    assert vault.sandbox_revoke(consumer["id"]) == 0
    items, _ = feed_all(client, creds, cursor)
    assert [(i["type"], i.get("forget")) for i in items] == [("grant.revoked", True)]
