"""The foundation's own events reach the audit log: exports, account deletion (before shredding), key rotation."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.models import AuditEntry
from vault_server.audit.verifier import verify_export
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.setup import export_consumer, rotate_keys

from ..conftest import PASSWORD


def _entries(ctx: VaultContext) -> list[AuditEntry]:
    with ctx.db.session() as s:
        return store.entries_range(s, 0, 1000)


def test_api_export_is_recorded_under_the_pseudonym(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    assert client.get("/v1/me/export").status_code == 200
    [row] = _entries(ctx)
    obj = json.loads(row.entry)
    assert obj["kind"] == "consumer.export" and obj["actor"] == "consumer"
    assert obj["subject"] == audit.subject_pseudonym(ctx.ring, consumer["id"])
    assert obj["details"]["via"] == "session" and "tokens" in obj["details"]["sections"]
    assert consumer["id"] not in row.entry and "dana@example.com" not in row.entry


def test_cli_export_is_recorded(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext, settings: Settings
) -> None:
    doc = export_consumer(settings, "dana@example.com")
    assert doc["account"]["email"] == "dana@example.com"
    [row] = _entries(ctx)
    assert json.loads(row.entry)["actor"] == "operator:cli" and row.kind == "consumer.export"


def test_deletion_is_recorded_before_the_key_is_shredded(
    client: TestClient, consumer: dict[str, Any], ctx: VaultContext
) -> None:
    r = client.request(
        "DELETE",
        "/v1/me",
        json={"password": PASSWORD, "confirm": "delete my vault"},
        headers={"X-CSRF-Token": consumer["csrf"]},
    )
    assert r.status_code == 204
    [row] = _entries(ctx)
    assert row.kind == "consumer.deleted" and row.private_enc is not None
    assert row.subject == audit.subject_pseudonym(ctx.ring, consumer["id"])
    with ctx.db.session() as s:
        # the private part was encrypted with the now-shredded key: unreadable
        assert audit.read_private(session=s, ctx=ctx, row=row, consumer_id=consumer["id"]) is None
        sth = audit.sth_json(audit.make_sth(session=s, ctx=ctx))
        lines = list(audit.export_lines(s))
    report = verify_export(lines, sth, audit.jwks(ctx))
    assert report.ok and report.entries == 1


def test_failed_deletion_leaves_no_entry(client: TestClient, consumer: dict[str, Any], ctx: VaultContext) -> None:
    r = client.request(
        "DELETE",
        "/v1/me",
        json={"password": "wrong-wrong-wrong", "confirm": "delete my vault"},
        headers={"X-CSRF-Token": consumer["csrf"]},
    )
    assert r.status_code == 401
    assert _entries(ctx) == []


def test_signing_key_rotation_is_recorded(ctx: VaultContext, settings: Settings) -> None:
    before = ctx.keyset.kid
    lines = list(rotate_keys(settings, kek=False, signing=True, echo=lambda _m: None))
    assert "signing key rotated" in lines[0]
    [row] = _entries(ctx)
    details = json.loads(row.entry)["details"]
    assert row.kind == "admin.key_rotation" and row.actor == "operator:cli" and row.subject is None
    assert details["key"] == "signing" and before in details["retired_kids"] and details["new_kid"] != before
