"""The vendor feed over HTTP: grant-scoped items keyed by the pairwise subject, audit before data, ETags,
tombstones on revoke/expiry/deletion, signed cursors, and the extension's inbox summary."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.accounts.models import Account
from vault_server.audit import service as audit
from vault_server.audit.check import replay
from vault_server.audit.models import AuditEntry
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import service
from vault_server.grants import service as grants
from vault_server.grants.models import Grant

from ..conftest import log_in, personal_token, sign_up
from .test_feed_support import (
    STAGE_RECIPES,
    detail,
    feed_all,
    make_consumer,
    make_grant,
    make_vendor,
    record,
    revoke,
)


def audit_entries(ctx: VaultContext, kind: str | None = None) -> list[dict[str, Any]]:
    """The log's entries as their consumer sees them: public details tokenised in the log, opened here with each
    consumer's key (the clear details are in the encrypted private part)."""
    with ctx.db.session() as s:
        rows = s.exec(select(AuditEntry).order_by(AuditEntry.idx)).all()  # type: ignore[arg-type]
        owners = {audit.subject_pseudonym(ctx.ring, a.id): a.id for a in s.exec(select(Account)).all()}
        entries = []
        for r in rows:
            entry = json.loads(r.entry)
            owner = owners.get(entry.get("subject") or "")
            private = audit.read_private(session=s, ctx=ctx, row=r, consumer_id=owner) if owner else None
            if private and isinstance(private.get("details"), dict):
                entry["details"] = private["details"]
            entries.append(entry)
    return [e for e in entries if kind is None or e["kind"] == kind]


def test_feed_shows_only_what_the_grant_allows_and_audits_first(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    auth = (vendor, secret)
    alice = make_consumer(ctx)
    grant = make_grant(ctx, alice, vendor, [detail(["electronics"], ["stage", "score"], "interest")])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["motivation"])
    record(ctx, alice, "electronics.headphones", STAGE_RECIPES["awareness"])  # below min_stage: never shown
    record(ctx, alice, "computers.laptop", STAGE_RECIPES["action"])  # not granted: never shown

    before = len(audit_entries(ctx, "vendor.read"))
    r = client.get("/v1/feed", auth=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    data = [i for i in body["items"] if "signals" in i]
    assert len(data) == 1, body  # one item per grant per page, at its newest change
    item = data[0]
    assert item["subject"] == grant.subject and item["subject"].startswith("ps_")
    assert item["grant_id"] == grant.id
    assert [s["category"] for s in item["signals"]] == ["electronics.tv"]
    assert set(item["signals"][0]) == {"category", "category_name", "stage", "score"}
    assert "laptop" not in r.text and "headphones" not in r.text and "Acme" not in r.text

    reads = audit_entries(ctx, "vendor.read")
    assert len(reads) == before + 1
    d = reads[-1]["details"]
    assert d["vendor_id"] == vendor and d["grant_id"] == grant.id
    assert d["categories"] == ["electronics.tv"] and d["fields"] == ["score", "stage"] and d["record_count"] == 1
    assert d["endpoint"] == "/v1/feed"
    with ctx.db.session() as s:
        row = s.exec(select(AuditEntry).where(AuditEntry.idx == reads[-1]["index"])).one()
        private = audit.read_private(session=s, ctx=ctx, row=row, consumer_id=alice)
    assert private is not None and [x["category"] for x in private["signals"]] == ["electronics.tv"]
    assert private["signals"][0]["stage"] == item["signals"][0]["stage"]  # what was sent, encrypted for the consumer
    assert d["subject"] == grant.subject
    assert alice not in json.dumps(reads[-1])
    assert replay(audit_entries(ctx)) == []  # the compliance check finds every read covered

    # same page again with its ETag: 304, nothing leaves, nothing audited
    again = client.get("/v1/feed", auth=auth, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert len(audit_entries(ctx, "vendor.read")) == before + 1

    # following the cursor: nothing new, empty page, same cursor
    nxt = client.get("/v1/feed", params={"cursor": body["next_cursor"]}, auth=auth).json()
    assert nxt["items"] == [] and nxt["has_more"] is False and nxt["next_cursor"] == body["next_cursor"]


def test_revocation_leaves_a_tombstone_and_stops_the_data(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    alice = make_consumer(ctx)
    grant = make_grant(ctx, alice, vendor, [detail(["electronics"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    items, cursor = feed_all(client, (vendor, secret))
    assert any("signals" in i for i in items)

    record(ctx, alice, "electronics.tv", STAGE_RECIPES["motivation"])  # a change the vendor never reads...
    revoke(ctx, grant.id)  # ...because the consumer revokes first
    items, cursor = feed_all(client, (vendor, secret), cursor)
    assert [(i["type"], i.get("forget")) for i in items] == [("grant.revoked", True)]
    assert items[0]["subject"] == grant.subject and items[0]["grant_id"] == grant.id
    assert "signals" not in json.dumps(items)

    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])  # no live grant: nothing is logged at all
    assert feed_all(client, (vendor, secret), cursor)[0] == []


def test_expiry_and_account_deletion_are_tombstones(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    bob = make_consumer(ctx)
    expiring = make_grant(ctx, bob, vendor, [detail(["electronics"])])
    with ctx.db.session() as s:
        g = s.get(Grant, expiring.id)
        assert g is not None
        g.expires_at = utcnow() - timedelta(seconds=1)
        s.add(g)
    with ctx.db.session() as s:
        assert grants.expire_due(session=s, ctx=ctx) == 1
    items, cursor = feed_all(client, (vendor, secret))
    assert [i["type"] for i in items] == ["grant.created", "grant.expired"] or [i["type"] for i in items] == [
        "grant.expired"
    ]
    assert items[-1]["forget"] is True

    sign_up(client, "carol@example.com")
    csrf = log_in(client, "carol@example.com")
    carol = client.get("/v1/me").json()["id"]
    live = make_grant(ctx, carol, vendor, [detail(["electronics"])])
    r = client.request(
        "DELETE",
        "/v1/me",
        json={"password": "correct horse battery staple", "confirm": "delete my vault"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code in (200, 204), r.text
    client.cookies.clear()
    items, _ = feed_all(client, (vendor, secret), cursor)
    deleted = [i for i in items if i["type"] == "subject.deleted"]
    assert [(i["subject"], i["grant_id"]) for i in deleted] == [(live.subject, live.id)]
    assert not [i for i in items if "signals" in i]


def test_cursors_are_signed_and_bound_to_the_vendor(client: TestClient, ctx: VaultContext) -> None:
    v1, s1 = make_vendor(ctx, "One")
    v2, s2 = make_vendor(ctx, "Two")
    alice = make_consumer(ctx)
    make_grant(ctx, alice, v1, [detail(["electronics"])])
    body = client.get("/v1/feed", auth=(v1, s1)).json()
    cursor = body["next_cursor"]
    r = client.get("/v1/feed", params={"cursor": cursor}, auth=(v2, s2))
    assert r.status_code == 422 and r.json()["type"].endswith("/bad-cursor")
    forged = service.encode_cursor(ctx, v1, 0).split(".")[0] + "." + cursor.split(".")[1]
    assert forged != cursor
    r = client.get("/v1/feed", params={"cursor": "eyJ4IjoxfQ.AAAA"}, auth=(v1, s1))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/feed", params={"cursor": cursor}, auth=(v1, s1)).status_code == 200


def test_feed_needs_the_vendors_client_credentials(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    assert client.get("/v1/feed").status_code == 401
    r = client.get("/v1/feed", auth=(vendor, secret + "x"))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/feed", auth=(vendor, secret)).status_code == 200


def test_a_vendor_never_sees_another_vendors_consumers(client: TestClient, ctx: VaultContext) -> None:
    v1, s1 = make_vendor(ctx, "One")
    v2, s2 = make_vendor(ctx, "Two")
    alice = make_consumer(ctx)
    g1 = make_grant(ctx, alice, v1, [detail(["electronics"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    items1, _ = feed_all(client, (v1, s1))
    items2, _ = feed_all(client, (v2, s2))
    assert items1 and items2 == []
    assert {i["subject"] for i in items1} == {g1.subject}


def test_narrowing_acts_on_the_next_page(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    alice = make_consumer(ctx)
    grant = make_grant(ctx, alice, vendor, [detail(["electronics", "computers"], ["stage", "score", "brand"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    record(ctx, alice, "computers.laptop", STAGE_RECIPES["interest"])
    items, cursor = feed_all(client, (vendor, secret))
    assert {s["category"] for s in items[-1]["signals"]} == {"electronics.tv", "computers.laptop"}
    with ctx.db.session() as s:
        g = s.get(Grant, grant.id)
        assert g is not None
        grants.narrow(session=s, ctx=ctx, grant=g, details=[detail(["computers"], ["stage"])])
    items, _ = feed_all(client, (vendor, secret), cursor)
    assert [i["type"] for i in items] == ["grant.narrowed"]
    assert items[0]["signals"] == [
        {"category": "computers.laptop", "category_name": items[0]["signals"][0]["category_name"], "stage": "interest"}
    ]


def test_inbox_summary_for_the_extension(client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["signals:read:self"])
    client.cookies.clear()
    r = client.get("/v1/inbox/summary", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json() == {"offers": 0, "questions": 0}
    other = personal_token_without_read(client)
    assert client.get("/v1/inbox/summary", headers={"Authorization": f"Bearer {other}"}).status_code == 403


def personal_token_without_read(client: TestClient) -> str:
    sign_up(client, "erin@example.com")
    csrf = log_in(client, "erin@example.com")
    token = personal_token(client, csrf, ["gestures:write"])
    client.cookies.clear()
    return token


def test_no_audit_entry_no_data(client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: when the audit append fails, the page is not sent and nothing of it is committed."""
    vendor, secret = make_vendor(ctx)
    alice = make_consumer(ctx)
    make_grant(ctx, alice, vendor, [detail(["electronics"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    before = len(audit_entries(ctx, "vendor.read"))

    def broken(**_: Any) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "record_many", broken)
    monkeypatch.setattr(audit, "append_many", broken)  # what a feed page appends with
    failing = TestClient(client.app, raise_server_exceptions=False)
    r = failing.get("/v1/feed", auth=(vendor, secret))
    assert r.status_code == 500
    assert "electronics" not in r.text and "signals" not in r.text
    monkeypatch.undo()
    assert len(audit_entries(ctx, "vendor.read")) == before
    ok = client.get("/v1/feed", auth=(vendor, secret))
    assert ok.status_code == 200 and "electronics.tv" in ok.text
    assert len(audit_entries(ctx, "vendor.read")) == before + 1


def test_the_ingest_hook_is_one_query_without_grants(ctx: VaultContext) -> None:
    from sqlalchemy import event

    alice = make_consumer(ctx)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with ctx.db.session() as s:
        event.listen(s.get_bind(), "before_cursor_execute", count)
        try:
            written = service.on_signal_changed(session=s, ctx=ctx, account_id=alice, categories=["electronics.tv"])
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", count)
    assert written == 0
    assert len(statements) == 1 and "consent_grant" in statements[0]
