"""Webhooks against a real local receiver: Standard Webhooks signatures, the transactional outbox (rollback leaves
nothing, a crashed worker loses nothing), retries with backoff, dead letters and replay, SKIP LOCKED claims,
payloads narrowed at send time and audited before they leave."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import outbox, tasks, webhooks
from vault_server.feed.models import FeedChange, WebhookDelivery

from .test_feed import audit_entries
from .test_feed_support import (
    STAGE_RECIPES,
    detail,
    make_consumer,
    make_grant,
    make_vendor,
    receiver,
    record,
    revoke,
)


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def register(client: TestClient, auth: tuple[str, str], url: str, events: list[str] | None = None) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": url, "events": events or list(webhooks.EVENT_TYPES)}, auth=auth)
    assert r.status_code == 201, r.text
    return dict(r.json())


def independent_signature(secret: str, msg_id: str, ts: str, body: bytes) -> str:
    """The Standard Webhooks formula, written out again here rather than calling the server's code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    return "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()


def deliveries(ctx: VaultContext) -> list[WebhookDelivery]:
    with ctx.db.session() as s:
        return list(s.exec(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all())  # type: ignore[arg-type]


def make_due(ctx: VaultContext) -> None:
    with ctx.db.session() as s:
        for row in s.exec(select(WebhookDelivery).where(WebhookDelivery.status == "pending")).all():
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            row.leased_until = None
            s.add(row)


def test_signed_deliveries_reach_a_real_receiver(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        endpoint = register(client, (vendor, secret), rx.url)
        assert (
            endpoint["secret"].startswith("whsec_")
            and "secret" not in client.get("/v1/webhooks", auth=(vendor, secret)).json()["endpoints"][0]
        )
        alice = make_consumer(ctx)
        grant = make_grant(ctx, alice, vendor, [detail(["electronics"], ["stage"], "interest")])
        record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
        record(ctx, alice, "computers.laptop", STAGE_RECIPES["action"])  # not granted: no message at all
        tick = tasks.run_once(ctx)
        assert (tick.delivered, tick.failed) == (2, 0), tick
        assert len(rx.requests) == 2
        for req in rx.requests:
            h = {k.lower(): v for k, v in req["headers"].items()}
            assert h["webhook-id"].startswith("msg_") and h["content-type"] == "application/json"
            assert h["webhook-signature"] == independent_signature(
                endpoint["secret"], h["webhook-id"], h["webhook-timestamp"], req["body"]
            )
            assert webhooks.verify(endpoint["secret"], h, req["body"])
            assert not webhooks.verify(endpoint["secret"], h, req["body"] + b" ")
            assert not webhooks.verify("whsec_" + base64.b64encode(b"x" * 32).decode(), h, req["body"])
        by_type = {b["type"]: b for b in rx.bodies()}
        assert set(by_type) == {"grant.created", "signal.updated"}
        assert by_type["grant.created"]["data"]["subject"] == grant.subject
        signal = by_type["signal.updated"]["data"]
        assert signal["subject"] == grant.subject
        assert signal["signals"] == [{"category": "electronics.tv", "category_name": "TVs", "stage": "interest"}] or [
            s["category"] for s in signal["signals"]
        ] == ["electronics.tv"]
        assert all(set(s) <= {"category", "category_name", "stage"} for s in signal["signals"])
        assert "laptop" not in json.dumps(rx.bodies())
    sent = audit_entries(ctx, "webhook.delivered")
    assert len(sent) == 1 and sent[0]["details"]["categories"] == ["electronics.tv"]
    assert sent[0]["details"]["fields"] == ["stage"] and sent[0]["details"]["grant_id"] == grant.id


def test_stale_timestamps_fail_verification() -> None:
    secret = webhooks.new_secret()
    body = b'{"type":"x"}'
    old = int(time.time()) - 3600
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(old),
        "webhook-signature": webhooks.sign(secret, "msg_1", old, body),
    }
    assert not webhooks.verify(secret, headers, body)
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1,bogus " + webhooks.sign(secret, "msg_1", now, body),
    }
    assert webhooks.verify(secret, headers, body)  # one of several space-separated signatures may match


def test_retries_back_off_then_dead_letter_and_replay(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 3)
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        rx.default_status = 500
        alice = make_consumer(ctx)
        make_grant(ctx, alice, vendor, [detail(["electronics"])])
        ids = set()
        delays = []
        for attempt in range(1, 4):
            tick = tasks.run_once(ctx)
            assert tick.failed == 1, (attempt, tick)
            [row] = deliveries(ctx)
            assert row.attempts == attempt and row.last_status == 500
            if attempt < 3:
                assert row.status == "pending"
                delays.append((row.next_attempt_at - utcnow()).total_seconds())
                assert tasks.run_once(ctx).claimed == 0  # not due yet: backoff holds it
                make_due(ctx)
            ids.add(rx.requests[-1]["headers"]["webhook-id"])
        [row] = deliveries(ctx)
        assert row.status == "dead"
        assert len(ids) == 1  # retries keep the message id, so receivers can dedupe
        assert delays[1] > delays[0] * 1.5  # exponential
        assert tasks.run_once(ctx).claimed == 0  # dead stays dead

        listed = client.get("/v1/webhooks/deliveries", params={"status": "dead"}, auth=(vendor, secret)).json()
        assert [d["id"] for d in listed["deliveries"]] == [row.id]
        rx.default_status = 200
        r = client.post(f"/v1/webhooks/deliveries/{row.id}/replay", auth=(vendor, secret))
        assert r.status_code == 200 and r.json()["status"] == "pending"
        assert tasks.run_once(ctx).delivered == 1
        [row] = deliveries(ctx)
        assert row.status == "delivered" and row.delivered_at is not None
        assert rx.requests[-1]["headers"]["webhook-id"] == row.id
        other_vendor, other_secret = make_vendor(ctx, "Other")
        assert (
            client.post(f"/v1/webhooks/deliveries/{row.id}/replay", auth=(other_vendor, other_secret)).status_code
            == 404
        )


def test_backoff_grows_and_is_capped() -> None:
    delays = [outbox.backoff(n).total_seconds() for n in range(1, 20)]
    assert delays[0] >= outbox.BACKOFF_BASE.total_seconds()
    assert all(b >= a * 1.5 for a, b in itertools.pairwise(delays[:7]))
    assert max(delays) <= outbox.BACKOFF_CAP.total_seconds() * 1.1


def test_a_rolled_back_change_leaves_no_feed_row_and_no_message(client: TestClient, ctx: VaultContext) -> None:
    from vault_server.grants import service as grants
    from vault_server.vendors import service as vendors

    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url)
        alice = make_consumer(ctx)
        with pytest.raises(RuntimeError), ctx.db.session() as s:
            app = vendors.get(session=s, client_id=vendor)
            assert app is not None
            grants.create(
                session=s, ctx=ctx, account_id=alice, app=app, scope=["signals:read"],
                details=[detail(["electronics"])], requested={}, identity_fields=[],
                expires_at=utcnow() + timedelta(days=1),
            )  # fmt: skip
            s.flush()
            assert s.exec(select(WebhookDelivery)).first() is not None  # written in the same transaction...
            raise RuntimeError("crash before commit")
        assert deliveries(ctx) == []  # ...so gone with it
        with ctx.db.session() as s:
            assert s.exec(select(FeedChange)).first() is None
        assert tasks.run_once(ctx).claimed == 0 and rx.requests == []


def test_a_worker_crash_after_claim_loses_nothing(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        alice = make_consumer(ctx)
        make_grant(ctx, alice, vendor, [detail(["electronics"])])
        with ctx.db.session() as s:
            claimed = outbox.claim(s)  # a worker claims... and dies before sending
        assert len(claimed) == 1
        assert tasks.run_once(ctx).claimed == 0  # the lease protects it from double delivery meanwhile
        with ctx.db.session() as s:
            row = s.get(WebhookDelivery, claimed[0].id)
            assert row is not None and row.status == "pending"
            row.leased_until = utcnow() - timedelta(seconds=1)  # the lease runs out
            s.add(row)
        assert tasks.run_once(ctx).delivered == 1
        assert len(rx.requests) == 1


def test_a_grant_revoked_before_delivery_sends_no_data(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["signal.updated", "grant.revoked"])
        alice = make_consumer(ctx)
        grant = make_grant(ctx, alice, vendor, [detail(["electronics"])])
        record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
        before = len(audit_entries(ctx, "webhook.delivered"))
        revoke(ctx, grant.id)
        tick = tasks.run_once(ctx)
        assert (tick.delivered, tick.skipped) == (1, 1), tick
        [body] = rx.bodies()
        assert body["type"] == "grant.revoked" and body["data"] == {
            "subject": grant.subject,
            "grant_id": grant.id,
            "reason": "revoked",
            "forget": True,
        }
        assert len(audit_entries(ctx, "webhook.delivered")) == before


def test_loopback_endpoints_are_refused_without_the_test_setting(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.settings, "allow_private_webhooks", False)
    vendor, secret = make_vendor(ctx)
    for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://[::1]/x", "https://169.254.169.254/"):
        r = client.post("/v1/webhooks", json={"url": url, "events": ["grant.created"]}, auth=(vendor, secret))
        assert r.status_code == 422, (url, r.text)
    r = client.post(
        "/v1/webhooks", json={"url": "https://10.0.0.8/h", "events": ["grant.created"]}, auth=(vendor, secret)
    )
    assert r.json()["type"].endswith("/webhook-destination-blocked")
    r = client.post("/v1/webhooks", json={"url": "https://x.example/h", "events": ["nope"]}, auth=(vendor, secret))
    assert r.status_code == 422


def test_an_endpoint_that_turns_private_is_refused_at_send_time(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        monkeypatch.setattr(ctx.settings, "allow_private_webhooks", False)
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        tick = tasks.run_once(ctx)
        assert tick.failed == 1 and rx.requests == []
        [row] = deliveries(ctx)
        assert row.last_error is not None and row.last_error.startswith("refused:")


def test_disabled_endpoints_get_nothing_and_deleted_ones_lose_their_queue(
    client: TestClient, ctx: VaultContext
) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        ep = register(client, (vendor, secret), rx.url, ["grant.created"])
        r = client.patch(f"/v1/webhooks/{ep['id']}", json={"enabled": False}, auth=(vendor, secret))
        assert r.status_code == 200 and r.json()["enabled"] is False
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        assert deliveries(ctx) == []  # not subscribed while disabled
        client.patch(f"/v1/webhooks/{ep['id']}", json={"enabled": True}, auth=(vendor, secret))
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        assert len(deliveries(ctx)) == 1
        assert client.delete(f"/v1/webhooks/{ep['id']}", auth=(vendor, secret)).status_code == 204
        assert deliveries(ctx) == []
        assert tasks.run_once(ctx).claimed == 0 and rx.requests == []


def test_concurrent_workers_never_claim_the_same_message(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        for _ in range(30):
            make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        assert len(deliveries(ctx)) == 30
        results: list[list[str]] = []
        barrier = threading.Barrier(3)

        def claim() -> None:
            barrier.wait()
            with ctx.db.session() as s:
                results.append([m.id for m in outbox.claim(s, limit=12)])

        threads = [threading.Thread(target=claim) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        claimed = [m for r in results for m in r]
        assert len(claimed) == len(set(claimed))  # no message claimed twice
        assert len(claimed) == 30 or ctx.db.dialect == "sqlite"  # SQLite: single writer, losers retry later
        assert rx.requests == []


def test_deliveries_per_second_smoke(client: TestClient, ctx: VaultContext) -> None:
    """Many messages, several threads: every one delivered exactly once (the benchmark measures the rate)."""
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        for _ in range(40):
            make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        delivered = 0
        while (tick := tasks.run_once(ctx, batch=25, concurrency=8)).claimed:
            delivered += tick.delivered
        assert delivered == 40
        ids = [r["headers"]["webhook-id"] for r in rx.requests]
        assert len(ids) == 40 and len(set(ids)) == 40


def test_no_audit_entry_no_webhook(client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    from vault_server.audit import service as audit

    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["signal.updated"])
        alice = make_consumer(ctx)
        make_grant(ctx, alice, vendor, [detail(["electronics"])])
        record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])

        def broken(**_: Any) -> None:
            raise RuntimeError("audit store unavailable")

        monkeypatch.setattr(audit, "record_many", broken)
        tick = tasks.run_once(ctx)
        assert (tick.delivered, tick.failed) == (0, 1) and rx.requests == []
        [row] = deliveries(ctx)
        assert row.status == "pending" and row.attempts == 1 and (row.last_error or "").startswith("prepare failed")
        monkeypatch.undo()
        make_due(ctx)
        assert tasks.run_once(ctx).delivered == 1 and len(rx.requests) == 1


def test_the_worker_command_delivers(client: TestClient, ctx: VaultContext) -> None:
    from click.testing import CliRunner

    from vault_server.cli import main

    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        env = {
            "VAULT_DATABASE_URL": ctx.settings.database_url,
            "VAULT_DATABASE_SCHEMA": ctx.settings.database_schema or "",
            "VAULT_KEK_FILE": str(ctx.settings.kek_file),
            "VAULT_ALLOW_PRIVATE_WEBHOOKS": "true",
        }
        result = CliRunner().invoke(main, ["worker", "--once"], env={k: v for k, v in env.items() if v})
        assert result.exit_code == 0, result.output
        assert "1 delivered" in result.output
        assert len(rx.requests) == 1


def test_old_changes_and_finished_deliveries_are_purged(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        body = client.get("/v1/feed", auth=(vendor, secret)).json()
        assert tasks.run_once(ctx).delivered == 1
        assert tasks.purge(ctx) == (0, 0)  # nothing old yet
        later = utcnow() + tasks.FEED_KEEP + timedelta(days=1)
        assert tasks.purge(ctx, now=later) == (1, 1)
        assert deliveries(ctx) == []
        r = client.get("/v1/feed", params={"cursor": body["next_cursor"]}, auth=(vendor, secret))
        assert r.status_code == 200 and r.json()["items"] == []  # an old cursor still works
        assert len(rx.requests) == 1


def _drain(ctx: VaultContext, batch: int, concurrency: int) -> int:
    delivered = 0
    while (tick := tasks.run_once(ctx, batch=batch, concurrency=concurrency)).claimed:
        delivered += tick.delivered
    return delivered


def test_two_workers_deliver_every_message_exactly_once(
    client: TestClient, ctx: VaultContext, settings: Settings
) -> None:
    """Two workers (their own engines and pools, as two processes would have) drain one outbox side by side:
    every message arrives once, signed, and every data-carrying one was audited once."""
    from vault_server.context import build_context

    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        endpoint = register(client, (vendor, secret), rx.url, ["grant.created", "signal.updated"])
        for _ in range(12):
            alice = make_consumer(ctx)
            make_grant(ctx, alice, vendor, [detail(["electronics"])])
            record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
        expected = {row.id for row in deliveries(ctx)}
        assert len(expected) == 24
        workers = [build_context(settings), build_context(settings)]
        counts: list[int] = []
        barrier = threading.Barrier(2)

        def work(wctx: VaultContext) -> None:
            barrier.wait()
            counts.append(_drain(wctx, batch=5, concurrency=4))

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for w in workers:
            w.db.dispose()
        ids = [r["headers"]["webhook-id"] for r in rx.requests]
        assert sorted(ids) == sorted(expected)  # none lost, none doubled
        assert sum(counts) == 24
        assert all(webhooks.verify(endpoint["secret"], r["headers"], r["body"]) for r in rx.requests)
    assert {row.status for row in deliveries(ctx)} == {"delivered"}
    assert len(audit_entries(ctx, "webhook.delivered")) == 12


def test_a_message_that_cannot_be_built_fails_alone(client: TestClient, ctx: VaultContext) -> None:
    from vault_server.feed.models import WebhookEndpoint

    vendor, secret = make_vendor(ctx)
    with receiver() as good_rx, receiver() as bad_rx:
        register(client, (vendor, secret), good_rx.url, ["grant.created"])
        broken = register(client, (vendor, secret), bad_rx.url, ["grant.created"])
        with ctx.db.session() as s:
            row = s.get(WebhookEndpoint, broken["id"])
            assert row is not None
            row.secret_enc = row.secret_enc[:-1] + bytes([row.secret_enc[-1] ^ 1])  # its secret no longer opens
            s.add(row)
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        tick = tasks.run_once(ctx)
        assert (tick.claimed, tick.delivered, tick.failed) == (2, 1, 1), tick
        assert len(good_rx.requests) == 1 and bad_rx.requests == []
        failed = [d for d in deliveries(ctx) if d.endpoint_id == broken["id"]]
        assert [(d.status, d.attempts) for d in failed] == [("pending", 1)]
        assert (failed[0].last_error or "").startswith("prepare failed")


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_owner(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        with ctx.db.session() as s:
            [stale] = outbox.claim(s)  # a slow worker claims...
        with ctx.db.session() as s:
            row = s.get(WebhookDelivery, stale.id)
            assert row is not None
            row.leased_until = utcnow() - timedelta(seconds=1)  # ...its lease runs out
            s.add(row)
        assert tasks.run_once(ctx).delivered == 1  # another worker takes over and delivers
        with ctx.db.session() as s:  # the slow worker finally reports its failure
            outbox.finish_many(s, done=[(stale, outbox.Outcome(ok=False, status=500, error="HTTP 500"))])
        [row] = deliveries(ctx)
        assert (row.status, row.attempts, row.last_status) == ("delivered", 1, 204)
        assert len(rx.requests) == 1


def test_the_worker_loop_sends_full_batches_back_to_back_and_stops_cleanly(
    client: TestClient, ctx: VaultContext
) -> None:
    """``run_forever`` claims the next batch while one is on the wire: every message still arrives exactly once,
    and setting ``stop`` ends the loop with nothing left claimed."""
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url, ["grant.created"])
        for _ in range(11):
            make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
        stop = threading.Event()
        loop = threading.Thread(
            target=tasks.run_forever, args=(ctx,), kwargs={"interval": 0.05, "batch": 3, "concurrency": 2, "stop": stop}
        )
        loop.start()
        deadline = time.monotonic() + 60
        while {d.status for d in deliveries(ctx)} != {"delivered"} and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        loop.join(timeout=30)
        assert not loop.is_alive()
        ids = [r["headers"]["webhook-id"] for r in rx.requests]
        assert sorted(ids) == sorted(d.id for d in deliveries(ctx)) and len(ids) == 11
    assert all(d.status == "delivered" and d.leased_until is None for d in deliveries(ctx))
