"""Hostile input gets a 4xx problem, never a 500: the cases schemathesis and a reviewer found (deeply nested JSON
on the unauthenticated registration endpoint, integer overflow in query parameters, half-given budget bounds,
``null`` for a list)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.context import VaultContext
from vault_server.logs import JsonFormatter

from ..conftest import PASSWORD, log_in

HUGE = str(2**70)


def _problem(r: Any) -> dict[str, Any]:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("depth", [200, 5000, 100_000])
def test_deeply_nested_json_on_registration(client: TestClient, depth: int) -> None:
    body = "[" * depth + "]" * depth
    r = client.post("/oauth/register", content=body, headers={"Content-Type": "application/json"})
    doc = _problem(r)
    assert doc["error"] == "invalid_client_metadata"
    nested = '{"client_name": ' + "[" * depth + "]" * depth + ', "redirect_uris": ["https://x.example/cb"]}'
    r = client.post("/oauth/register", content=nested, headers={"Content-Type": "application/json"})
    _problem(r)


@pytest.fixture
def auditor_client(client: TestClient, ctx: VaultContext) -> TestClient:
    with ctx.db.session() as s:
        account = accounts.sign_up(session=s, ring=ctx.ring, hasher=ctx.hasher, email="alex@example.com",
                                   password=PASSWORD, role=Role.auditor)  # fmt: skip
        assert account.role == Role.auditor
    csrf = log_in(client, "alex@example.com")
    client.headers["X-CSRF-Token"] = csrf
    return client


@pytest.mark.parametrize(
    "url",
    [
        f"/v1/audit/sth?tree_size={HUGE}",
        f"/v1/audit/proof/inclusion?index={HUGE}",
        f"/v1/audit/proof/inclusion?index=0&tree_size={HUGE}",
        f"/v1/audit/proof/consistency?first={HUGE}",
        f"/v1/audit/proof/consistency?first=0&second={HUGE}",
        f"/v1/audit/entries?start={HUGE}",
        f"/v1/audit/entries?start=0&end={HUGE}",
        f"/v1/audit/export?start={HUGE}",
        f"/v1/me/access-log?before={HUGE}",
        f"/auditor?before={HUGE}",
        f"/auditor/export?start={HUGE}",
        "/auditor?since=99999-01-01",
        f"/v1/feed?limit={HUGE}",
        f"/v1/signals?limit={HUGE}",
    ],
)
def test_integer_overflow_in_query_parameters(auditor_client: TestClient, url: str) -> None:
    r = auditor_client.get(url)
    assert r.status_code < 500, (url, r.status_code, r.text[:300])


def test_patching_an_intent_with_half_a_budget_or_null_lists(client: TestClient, consumer: dict[str, Any]) -> None:
    headers = {"X-CSRF-Token": consumer["csrf"]}
    r = client.post("/v1/intents", json={"category": "electronics.tv", "text": "a TV", "budget_min": 300,
                                         "budget_max": 900, "currency": "EUR"}, headers=headers)  # fmt: skip
    assert r.status_code == 201, r.text
    url = f"/v1/intents/{r.json()['id']}"
    for patch in (
        {"budget_min": 1000},  # above the stored maximum
        {"budget_max": 100},  # below the stored minimum
        {"budget_min": 200},
        {"budget_max": 2000},
        {"must_haves": None},
        {"text": None},
        {"budget_min": None, "budget_max": None},
        {"budget_max": int(HUGE)},
        {"timeframe_days": int(HUGE)},
    ):
        r = client.patch(url, json=patch, headers=headers)
        assert r.status_code < 500, (patch, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), patch
    final = client.get(url).json()
    assert final["budget_min"] is None or final["budget_max"] is None or final["budget_min"] <= final["budget_max"]


def test_an_unexpected_error_is_logged_with_its_request_id(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from vault_server.web import health

    def boom(_db: Any) -> None:
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(health, "check_migrated", boom)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("vault.errors")
    logger.addHandler(handler)
    try:
        with TestClient(app, raise_server_exceptions=False) as raw:
            r = raw.get("/readyz")
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
    rid = r.headers["x-request-id"]
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    crash = [line for line in lines if line["msg"] == "unhandled error"]
    assert crash and crash[0]["request_id"] == rid != "-"
    assert "simulated fault" not in r.text  # the client learns the id, not the fault
