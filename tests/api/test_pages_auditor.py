"""The auditor console beyond the log: signed tree head history with human dates, log volume by kind and by vendor
as charts, and compliance results that say what was checked and link each finding to its entry."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from vault_server.accounts.models import Role
from vault_server.audit import service as audit
from vault_server.context import VaultContext

from .test_audit_api import _account, _grant_and_reads, auditor  # noqa: F401


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


def test_signed_head_history_and_volume(client: TestClient, ctx: VaultContext, auditor: str) -> None:  # noqa: F811
    dana = _account(ctx, "dana@example.com", Role.consumer)
    _grant_and_reads(ctx, dana, reads=3)
    csrf = _csrf(client.get("/auditor").text)
    assert client.get("/auditor/heads").text.count("No signed tree head yet") == 1
    client.post("/auditor/sth", data={"csrf_token": csrf})
    _grant_and_reads(ctx, dana, vendor="v-other", reads=1)
    client.post("/auditor/sth", data={"csrf_token": csrf})

    heads = client.get("/auditor/heads")
    assert heads.status_code == 200 and 'data-testid="sth-history"' in heads.text
    rows = re.findall(r"<tr>\s*<td><time datetime=\"\d{4}-[^\"]+\" data-local=\"full\">", heads.text)
    assert len(rows) == 2  # both heads, each with a human date (not milliseconds)
    assert re.search(r'<td class="num">6</td>\s*<td class="num">2</td>', heads.text)  # 6 covered, 2 new
    assert 'href="/v1/audit/sth?tree_size=4"' in heads.text

    volume = client.get("/auditor/volume")
    assert volume.status_code == 200
    assert 'data-testid="volume-kind-chart"' in volume.text and 'data-testid="volume-vendor-chart"' in volume.text
    assert "vendor.read: from 0 on" in volume.text and "to 4 on" in volume.text  # the chart's text alternative
    assert '<td>v-acme</td><td class="num">4</td>' in volume.text.replace("\n", "")
    nav = re.search(r'<nav aria-label="Main".*?</nav>', client.get("/auditor").text, re.S)
    assert nav and 'href="/auditor/heads"' in nav.group(0) and 'href="/auditor/volume"' in nav.group(0)


def test_compliance_results_list_the_checks_and_link_findings(
    client: TestClient,
    ctx: VaultContext,
    auditor: str,  # noqa: F811
) -> None:
    dana = _account(ctx, "dana@example.com", Role.consumer)
    with ctx.db.session() as s:  # a read nobody granted: entry #0
        audit.record(
            session=s,
            ctx=ctx,
            kind="vendor.read",
            actor="vendor:v-rogue",
            consumer_id=dana,
            details={"vendor_id": "v-rogue", "grant_id": "g-none", "categories": ["electronics.tv"], "fields": []},
        )
    csrf = _csrf(client.get("/auditor").text)
    client.post("/auditor/sth", data={"csrf_token": csrf})
    page = client.post("/auditor/check", data={"csrf_token": csrf}).text
    assert page.count('data-testid="check-item"') >= 5
    assert "✗ Every read had a live grant: 1 finding" in page
    assert "✓ No read after a revocation: passed" in page and "✓ The log was not rewritten: passed" in page
    assert '<a href="/auditor/entries/0">Entry #0</a>' in page
