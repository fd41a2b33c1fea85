"""Anonymous demand reports over HTTP: opt-in, per-person budgets, caching, audit, and the three roles' views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from vault_server.accounts import flows as account_flows
from vault_server.accounts.models import Account, Role
from vault_server.audit.models import AuditEntry
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.intents import service as intents
from vault_server.reports import service
from vault_server.reports.models import ReportBudget, ReportParticipant

from ..conftest import PASSWORD, _truncate, log_in, sign_up
from .test_feed_support import STAGE_RECIPES, make_consumer, make_vendor, record


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    # a generous budget and no threshold make the noise small enough to check counts against the truth
    return base_settings.model_copy(
        update={"reports_epsilon_per_period": 10.0, "reports_default_epsilon": 5.0, "reports_threshold": 0}
    )


def opt_in(ctx: VaultContext, account_id: str, value: bool = True) -> None:
    with ctx.db.session() as s:
        service.set_participation(session=s, ctx=ctx, account_id=account_id, opted_in=value)


def audit_kinds(ctx: VaultContext) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        return [json.loads(r.entry) for r in s.exec(select(AuditEntry).order_by(AuditEntry.idx)).all()]  # type: ignore[arg-type]


def counts(report: dict[str, Any]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for cell in report["cells"]:
        out[(cell["category"], cell["stage"])] = out.get((cell["category"], cell["stage"]), 0) + cell["count"]
    return out


def test_participation_is_off_by_default_and_the_consumer_switches_it(client: TestClient, ctx: VaultContext) -> None:
    sign_up(client, "dana@example.com")
    csrf = log_in(client, "dana@example.com")
    r = client.get("/v1/me/reports")
    assert r.status_code == 200 and r.json()["opted_in"] is False
    assert r.json()["epsilon_budget"] == "10" and r.json()["epsilon_spent"] == "0"
    r = client.put("/v1/me/reports/participation", json={"opted_in": True})
    assert r.status_code == 403  # a cookie-authenticated write needs the CSRF header
    r = client.put("/v1/me/reports/participation", json={"opted_in": True}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["opted_in"] is True
    r = client.put("/v1/me/reports/participation", json={"opted_in": "yes please"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["kind"] for e in audit_kinds(ctx) if e["kind"].startswith("reports.")] == ["reports.opted_in"]


def test_a_report_counts_only_opted_in_people_and_never_sensitive_categories(
    client: TestClient, ctx: VaultContext
) -> None:
    vendor = make_vendor(ctx)
    counted = [make_consumer(ctx) for _ in range(8)]  # above the threshold the domain's size calls for
    for account_id in counted:
        opt_in(ctx, account_id)
        record(ctx, account_id, "electronics.tv", STAGE_RECIPES["action"])
    outsider = make_consumer(ctx)  # never opted in
    record(ctx, outsider, "computers.laptop", STAGE_RECIPES["action"])
    sensitive = next(c for c in ctx.policy.leaves if ctx.policy.is_sensitive(c))
    with ctx.db.session() as s:
        account = s.get(Account, counted[0])
        assert account is not None
        intents.update_settings(session=s, ctx=ctx, account=account, paused=None, opt_ins=[sensitive])
    record(ctx, counted[0], sensitive, STAGE_RECIPES["action"])

    r = client.post("/v1/reports/demand", json={"level": 2}, auth=vendor)
    assert r.status_code == 200, r.text
    report = r.json()
    got = counts(report)
    stage = {x for x in got if x[0] == "electronics.tv"}
    assert abs(got.get(("electronics.tv", "action"), 0) - 8) <= 3, got  # scale 0.6 here: |noise| > 3 is ~e^-5
    assert abs(got.get(("computers.laptop", "action"), 0)) <= 3
    assert stage, got
    assert not any(ctx.policy.is_sensitive(c) for c, _ in got)
    assert report["privacy"]["epsilon"] == "5" and report["privacy"]["max_cells_per_person"] == 3
    assert "participants" not in json.dumps(report)
    entries = [e for e in audit_kinds(ctx) if e["kind"] == "report.released"]
    assert len(entries) == 1 and entries[0]["details"]["epsilon_spent"] == "5"
    assert entries[0]["actor"] == f"vendor:{vendor[0]}" and entries[0]["subject"] is None


def test_asking_again_spends_nothing_and_returns_the_same_numbers(client: TestClient, ctx: VaultContext) -> None:
    vendor, other = make_vendor(ctx), make_vendor(ctx, name="Other Shop")
    person = make_consumer(ctx)
    opt_in(ctx, person)
    record(ctx, person, "electronics.tv", STAGE_RECIPES["motivation"])
    first = client.post("/v1/reports/demand", json={"level": 1, "epsilon": 2}, auth=vendor).json()
    again = client.post("/v1/reports/demand", json={"level": 1, "epsilon": 2}, auth=vendor).json()
    from_other = client.post("/v1/reports/demand", json={"level": 1, "epsilon": 2}, auth=other).json()
    assert first == again == from_other
    with ctx.db.session() as s:
        status = service.consumer_status(session=s, ctx=ctx, account_id=person)
    assert status["epsilon_spent"] == "2" and status["reports_counted"] == 1
    served = [e for e in audit_kinds(ctx) if e["kind"] == "report.served"]
    assert [e["details"]["epsilon_spent"] for e in served] == ["0", "0"]
    listed = client.get("/v1/reports/demand", auth=other).json()["reports"]
    assert [x["id"] for x in listed] == [first["id"]]
    assert client.get(f"/v1/reports/demand/{first['id']}", auth=other).json() == first


def test_a_spent_budget_leaves_the_person_out_and_is_never_exceeded(client: TestClient, ctx: VaultContext) -> None:
    vendor = make_vendor(ctx)
    person = make_consumer(ctx)
    opt_in(ctx, person)
    record(ctx, person, "electronics.tv", STAGE_RECIPES["action"])
    for level in (1, 2):
        assert client.post("/v1/reports/demand", json={"level": level, "epsilon": 5}, auth=vendor).status_code == 200
    r = client.post("/v1/reports/demand", json={"level": 3, "epsilon": 5}, auth=vendor)
    assert r.status_code == 200
    with ctx.db.session() as s:
        status = service.consumer_status(session=s, ctx=ctx, account_id=person)
        third = s.exec(select(service.DemandReport).where(service.DemandReport.id == r.json()["id"])).one()
    assert status["epsilon_spent"] == "10" and status["budget_used_percent"] == 100
    assert third.participants == 0  # the budget was used up: not counted


def test_limits_and_bad_requests_get_problem_details(client: TestClient, ctx: VaultContext) -> None:
    vendor = make_vendor(ctx)
    bad = [
        {"epsilon": 0.001},
        {"epsilon": 11},
        {"level": 0},
        {"level": "two"},
        {"colour": "red"},
    ]
    for body in bad:
        r = client.post("/v1/reports/demand", json=body, auth=vendor)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/v1/reports/demand", json={}).status_code == 401
    for i in range(ctx.settings.reports_per_vendor_per_period):
        assert client.post("/v1/reports/demand", json={"epsilon": 0.1 + i / 100}, auth=vendor).status_code == 200
    r = client.post("/v1/reports/demand", json={"epsilon": 0.9}, auth=vendor)
    assert r.status_code == 429 and "Retry-After" in r.headers
    # a report already released stays free to fetch
    assert client.post("/v1/reports/demand", json={"epsilon": 0.1}, auth=vendor).status_code == 200
    assert client.get("/v1/reports/demand/not-a-report", auth=vendor).status_code == 404


def test_deleting_the_account_forgets_participation(ctx: VaultContext) -> None:
    person = make_consumer(ctx)
    opt_in(ctx, person)
    with ctx.db.session() as s:
        account = s.get(Account, person)
        assert account is not None
        account_flows.delete_account(session=s, ctx=ctx, account=account)
    with ctx.db.session() as s:
        assert s.get(ReportParticipant, person) is None
        assert s.exec(select(ReportBudget).where(ReportBudget.account_id == person)).first() is None


def test_the_three_roles_see_their_own_pages(client: TestClient, ctx: VaultContext) -> None:
    from vault_server.accounts import service as accounts

    with ctx.db.session() as s:
        owner_id = accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="shop@example.com", password=PASSWORD, role=Role.vendor
        ).id
        accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email="audit@example.com", password=PASSWORD, role=Role.auditor
        )
    vendor = make_vendor(ctx, owner=owner_id)
    for _ in range(8):  # enough people for a count above the threshold
        person = make_consumer(ctx)
        opt_in(ctx, person)
        record(ctx, person, "electronics.tv", STAGE_RECIPES["action"])
    assert client.post("/v1/reports/demand", json={"level": 2}, auth=vendor).status_code == 200

    log_in(client, "shop@example.com")
    page = client.get("/vendor/reports")
    assert page.status_code == 200 and "<svg" in page.text and "Televisions" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    bad = client.post(
        "/vendor/reports", data={"csrf_token": token, "app_id": vendor[0], "level": "1", "epsilon": "lots"}
    )
    assert bad.status_code == 422 and "Epsilon must be a number" in bad.text and 'value="lots"' in bad.text
    other = client.post("/vendor/reports", data={"csrf_token": token, "app_id": "not-mine", "level": "1"})
    assert other.status_code == 422 and "Choose one of your apps" in other.text
    assert client.get("/v1/audit/reports").status_code == 403
    log_in(client, "audit@example.com")
    page = client.get("/auditor/reports")
    assert page.status_code == 200 and "within" in page.text.lower()
    summary = client.get("/v1/audit/reports").json()["periods"]
    assert summary[0]["reports"] == 1 and summary[0]["within_budget"] is True


def test_the_consumer_page_switches_with_csrf(client: TestClient, ctx: VaultContext) -> None:
    sign_up(client, "erin@example.com")
    log_in(client, "erin@example.com")
    page = client.get("/reports")
    assert page.status_code == 200 and "Count me in" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/reports/participation", data={"opted_in": "on"}).status_code == 403
    r = client.post("/reports/participation", data={"opted_in": "on", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/v1/me/reports").json()["opted_in"] is True


@pytest.fixture
def tight_ctx(base_settings: Settings) -> Iterator[VaultContext]:
    context = build_context(
        base_settings.model_copy(update={"reports_epsilon_per_period": 1.0, "reports_per_vendor_per_period": 1000})
    )
    _truncate(context.db)
    yield context
    context.db.dispose()


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    asks=st.lists(
        st.tuples(st.integers(1, 3), st.booleans(), st.sampled_from([0.05, 0.1, 0.3, 0.5, 0.7, 1.0])),
        min_size=1,
        max_size=8,
    ),
    joins=st.lists(st.integers(0, 7), min_size=1, max_size=3),
)
def test_no_sequence_of_queries_charges_anyone_past_the_budget(
    tight_ctx: VaultContext, asks: list[tuple[int, bool, float]], joins: list[int]
) -> None:
    ctx = tight_ctx
    _truncate(ctx.db)
    vendor, _ = make_vendor(ctx)
    people = [make_consumer(ctx) for _ in joins]
    for step, (level, band, epsilon) in enumerate(asks):
        for person, join_at in zip(people, joins, strict=True):
            if join_at == step:  # people join between reports
                opt_in(ctx, person)
        body = service.ReportQueryIn(level=level, by_price_band=band, epsilon=epsilon)
        service.request_report_retrying(ctx=ctx, vendor_id=vendor, body=body)
        with ctx.db.session() as s:
            spent = s.exec(select(ReportBudget.spent_micro)).all()  # type: ignore[call-overload]
        assert all(0 <= x <= 1_000_000 for x in spent), spent


def test_the_access_history_says_how_many_anonymous_reports_counted_me(client: TestClient, ctx: VaultContext) -> None:
    sign_up(client, "fay@example.com")
    csrf = log_in(client, "fay@example.com")
    client.put("/v1/me/reports/participation", json={"opted_in": True}, headers={"X-CSRF-Token": csrf})
    record(ctx, client.get("/v1/me").json()["id"], "electronics.tv", STAGE_RECIPES["action"])
    vendor = make_vendor(ctx)
    for level in (1, 2):
        assert client.post("/v1/reports/demand", json={"level": level}, auth=vendor).status_code == 200
    log = client.get("/v1/me/access-log").json()
    assert log["anonymous_reports"] == 2
    assert all(item["kind"] not in ("report.released", "report.served") for item in log["items"])
    assert "counted in 2 anonymous demand" in client.get("/access-log").text


def test_the_settings_page_carries_the_opt_in_and_the_terms(client: TestClient, ctx: VaultContext) -> None:
    sign_up(client, "gus@example.com")
    log_in(client, "gus@example.com")
    page = client.get("/settings")
    assert page.status_code == 200
    section = page.text.split('data-testid="settings-reports"')[1].split("</section>")[0]
    assert 'action="/reports/participation"' in section and "checked" not in section  # off by default
    assert "Service delivery and offers" in page.text  # the roster default the consumer proffers
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/reports/participation", data={"opted_in": "on", "csrf_token": token})
    again = client.get("/settings").text.split('data-testid="settings-reports"')[1].split("</section>")[0]
    assert "checked" in again
