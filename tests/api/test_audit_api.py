"""The audit API: tree heads, proofs, entries, regulator exports, the consumer's access log, the auditor console."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.audit import service as audit
from vault_server.audit.check import verify_slice
from vault_server.audit.merkle import verify_consistency, verify_inclusion
from vault_server.audit.verifier import entry_leaf_hash, verify_export
from vault_server.cli import main as cli_main
from vault_server.context import VaultContext

from ..conftest import PASSWORD, log_in, sign_up

PROBLEM = "application/problem+json"


def _account(ctx: VaultContext, email: str, role: Role) -> str:
    with ctx.db.session() as s:
        return accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD, role=role
        ).id


def _grant_and_reads(ctx: VaultContext, consumer_id: str, vendor: str = "v-acme", reads: int = 2) -> None:
    with ctx.db.session() as s:
        audit.record(
            session=s,
            ctx=ctx,
            kind="grant.created",
            actor="consumer",
            consumer_id=consumer_id,
            details={
                "grant_id": f"g-{vendor}",
                "vendor_id": vendor,
                "categories": ["electronics"],
                "fields": ["stage"],
            },
        )
    for n in range(reads):
        with ctx.db.session() as s:
            audit.record(
                session=s,
                ctx=ctx,
                kind="vendor.read",
                actor=f"vendor:{vendor}",
                consumer_id=consumer_id,
                details={
                    "vendor_id": vendor,
                    "grant_id": f"g-{vendor}",
                    "categories": ["electronics.tv"],
                    "fields": ["stage"],
                    "record_count": n + 1,
                },
                private={"signals": [{"category": "electronics.tv", "stage": "motivation"}]},
            )


@pytest.fixture
def auditor(client: TestClient, ctx: VaultContext) -> str:
    _account(ctx, "alex@example.com", Role.auditor)
    return log_in(client, "alex@example.com")


def _sign(client: TestClient, csrf: str) -> dict[str, Any]:
    r = client.post("/v1/audit/sth", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_sth_on_demand_only_for_auditors(client: TestClient, ctx: VaultContext, auditor: str) -> None:
    r = client.get("/v1/audit/sth")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    dana = _account(ctx, "dana@example.com", Role.consumer)
    _grant_and_reads(ctx, dana)
    sth = _sign(client, auditor)
    assert sth["tree_size"] == 3 and client.get("/v1/audit/sth").json() == sth
    assert client.get("/v1/audit/sth", params={"tree_size": 3}).json() == sth
    assert client.get("/v1/audit/sth", params={"tree_size": 2}).status_code == 404
    csrf = log_in(client, "dana@example.com")
    r = client.post("/v1/audit/sth", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    client.cookies.clear()
    assert client.get("/v1/audit/sth").status_code == 401


def test_the_published_jwks_verifies_tree_heads_and_exports(
    client: TestClient, ctx: VaultContext, auditor: str
) -> None:
    dana = _account(ctx, "dana@example.com", Role.consumer)
    _grant_and_reads(ctx, dana)
    old = _sign(client, auditor)
    _grant_and_reads(ctx, dana, vendor="v-other", reads=3)
    sth = _sign(client, auditor)
    jwks = client.get("/.well-known/jwks.json").json()
    lines = client.get("/v1/audit/entries").text.splitlines(keepends=True)
    assert len(lines) == sth["tree_size"] == 7
    proof = client.get("/v1/audit/proof/consistency", params={"first": 3, "second": 7}).json()
    report = verify_export(lines, sth, jwks, old_sths=[old], proof=proof)
    assert report.ok, [p.message for p in report.problems]
    assert verify_consistency(
        3,
        7,
        bytes.fromhex(old["root_hash"]),
        bytes.fromhex(sth["root_hash"]),
        [bytes.fromhex(h) for h in proof["consistency_path"]],
    )


def test_inclusion_proofs_verify_and_consumers_see_only_their_own(
    client: TestClient, ctx: VaultContext, auditor: str
) -> None:
    dana = _account(ctx, "dana@example.com", Role.consumer)
    erin = _account(ctx, "erin@example.com", Role.consumer)
    _grant_and_reads(ctx, dana)
    _grant_and_reads(ctx, erin)
    sth = _sign(client, auditor)
    lines = [json.loads(x) for x in client.get("/v1/audit/entries").text.splitlines()]
    for item in lines:
        p = client.get(
            "/v1/audit/proof/inclusion", params={"index": item["index"], "tree_size": sth["tree_size"]}
        ).json()
        path = [bytes.fromhex(h) for h in p["inclusion_path"]]
        assert p["leaf_hash"] == item["leaf_hash"]
        assert verify_inclusion(
            item["index"], sth["tree_size"], bytes.fromhex(item["leaf_hash"]), path, bytes.fromhex(sth["root_hash"])
        )
    log_in(client, "dana@example.com")
    mine = [json.loads(x) for x in client.get("/v1/audit/entries").text.splitlines()]
    dana_subject = audit.subject_pseudonym(ctx.ring, dana)
    assert [m["index"] for m in mine] == [0, 1, 2]
    assert all(m["entry"]["subject"] == dana_subject for m in mine)
    assert client.get("/v1/audit/proof/inclusion", params={"index": 1}).status_code == 200
    r = client.get("/v1/audit/proof/inclusion", params={"index": 4})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_entries_are_bounded_and_paged(client: TestClient, ctx: VaultContext, auditor: str) -> None:
    dana = _account(ctx, "dana@example.com", Role.consumer)
    _grant_and_reads(ctx, dana, reads=4)
    r = client.get("/v1/audit/entries", params={"start": 0, "end": 5000})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    r = client.get("/v1/audit/entries", params={"start": 1, "end": 3, "format": "json"})
    body = r.json()
    assert [e["index"] for e in body["entries"]] == [1, 2] and body["tree_size"] == 5
    assert 'rel="next"' in r.headers["link"] and "start=3" in r.headers["link"]
    assert r.headers["x-audit-tree-size"] == "5"
    assert client.get("/v1/audit/proof/inclusion", params={"index": 9}).status_code == 404
    assert client.get("/v1/audit/proof/consistency", params={"first": 9}).status_code == 404


def test_regulator_slice_verifies_offline_and_tampering_is_named(
    client: TestClient, ctx: VaultContext, auditor: str, tmp_path: Path
) -> None:
    dana = _account(ctx, "dana@example.com", Role.consumer)
    _grant_and_reads(ctx, dana)
    _sign(client, auditor)
    _grant_and_reads(ctx, dana, vendor="v-two")
    _sign(client, auditor)
    r = client.get("/v1/audit/export", params={"start": 2, "end": 5})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    problems, summary = verify_slice(r.content)
    assert problems == [] and summary == {"entries": 3, "tree_size": 6, "old_heads": 1, "kid": ctx.keyset.kid}
    # the CLI verifies the same zip; an edited entry is named by line and index
    archive = tmp_path / "slice.zip"
    archive.write_bytes(r.content)
    result = CliRunner().invoke(cli_main, ["audit", "verify-slice", str(archive)])
    assert result.exit_code == 0 and result.output.startswith("OK: 3 entries")
    src = zipfile.ZipFile(io.BytesIO(r.content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "entries.jsonl":
                data = data.replace(b'"record_count": 1', b'"record_count": 0', 1)
            dst.writestr(name, data)
    archive.write_bytes(out.getvalue())
    result = CliRunner().invoke(cli_main, ["audit", "verify-slice", str(archive)])
    assert result.exit_code == 1
    assert "entries.jsonl:3: index 4: entry does not match its leaf_hash" in result.output
    log_in(client, "dana@example.com")
    assert client.get("/v1/audit/export").status_code == 403


def test_consumer_access_log_with_decrypted_details_and_proofs(
    client: TestClient, ctx: VaultContext, auditor: str
) -> None:
    profile = sign_up(client, "dana@example.com")
    erin = _account(ctx, "erin@example.com", Role.consumer)
    _grant_and_reads(ctx, profile["id"])
    _grant_and_reads(ctx, erin, vendor="v-erin")
    sth = _sign(client, auditor)
    _grant_and_reads(ctx, profile["id"], reads=1)  # after the signed head: no proof yet
    log_in(client, "dana@example.com")
    doc = client.get("/v1/me/access-log").json()
    assert doc["sth"] == sth
    assert [i["index"] for i in doc["items"]] == [7, 2, 1]
    assert {i["vendor_id"] for i in doc["items"]} == {"v-acme"}
    newest, signed = doc["items"][0], doc["items"][1]
    assert newest["inclusion_proof"] is None
    assert signed["private"] == {"signals": [{"category": "electronics.tv", "stage": "motivation"}]}
    assert signed["details"]["record_count"] == 2
    proof = signed["inclusion_proof"]
    leaf = entry_leaf_hash(signed["entry"])
    assert verify_inclusion(
        2, sth["tree_size"], leaf, [bytes.fromhex(h) for h in proof["inclusion_path"]], bytes.fromhex(sth["root_hash"])
    )
    page = client.get("/access-log")
    assert page.status_code == 200 and "v-acme" in page.text and "v-erin" not in page.text
    dashboard = client.get("/dashboard").text
    assert 'href="/access-log" data-testid="access-log-link"' in dashboard  # in the page
    assert '<li><a href="/access-log">Access log</a></li>' in dashboard  # and in the navigation bar


def test_auditor_console_browses_checks_and_signs(client: TestClient, ctx: VaultContext, auditor: str) -> None:
    dana = _account(ctx, "dana@example.com", Role.consumer)
    _grant_and_reads(ctx, dana)
    with ctx.db.session() as s:
        audit.record(
            session=s,
            ctx=ctx,
            kind="grant.revoked",
            actor="consumer",
            consumer_id=dana,
            details={"grant_id": "g-v-acme", "vendor_id": "v-acme"},
        )
    _grant_and_reads(ctx, dana, vendor="v-acme", reads=0)  # a fresh grant.created with the same id would re-open
    page = client.get("/auditor", params={"kind": "vendor.read"})
    assert page.status_code == 200
    assert page.text.count("<td>vendor.read</td>") == 2 and "grant.created</td>" not in page.text
    assert client.get("/auditor", params={"vendor": "nobody"}).text.count("<td>vendor.read</td>") == 0
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert csrf
    r = client.post("/auditor/sth", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 303
    assert "Latest signed head: tree_size <strong>5</strong>" in client.get("/auditor").text
    r = client.get("/auditor/export", params={"start": "0", "end": ""})  # the form's empty "to" field
    assert r.status_code == 200 and verify_slice(r.content)[1]["entries"] == 5
    r = client.post("/auditor/check", data={"csrf_token": csrf.group(1)})
    assert r.status_code == 200 and "no findings" in r.text
    assert client.post("/auditor/check", data={}).status_code == 403
    log_in(client, "dana@example.com")
    assert client.get("/auditor").status_code == 403
