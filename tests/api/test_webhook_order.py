"""Per-subject delivery order: the webhook messages of one (endpoint, subject) reach the endpoint in the order they
were enqueued — a failed message is retried before anything newer of its subject is sent, with one worker or two —
while other subjects go on, and a message that is dead-lettered unblocks the ones behind it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.db import utcnow
from vault_server.feed import outbox, tasks, webhooks
from vault_server.feed.models import WebhookDelivery
from vault_server.grants import service as grants
from vault_server.grants.models import Grant

from ..conftest import BACKEND, serving
from .test_feed_support import STAGE_RECIPES, detail, make_consumer, make_grant, make_vendor, record
from .test_feed_support import Receiver as RecordingReceiver


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


class Receiver(RecordingReceiver):
    """A loopback receiver that records every request (with the subject of its body) and answers 500 to the
    first attempt of each message id in ``fail_once`` and to every attempt of those in ``fail_always``."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_once: set[str] = set()
        self.fail_always: set[str] = set()

    def answer(self, headers: Message, body: bytes, path: str) -> int:
        msg_id = headers["webhook-id"]
        seen = any(r["id"] == msg_id for r in self.requests)
        failing = msg_id in self.fail_always or (msg_id in self.fail_once and not seen)
        status = 500 if failing else 204
        parsed = json.loads(body)
        self.requests.append(
            {
                "id": msg_id,
                "status": status,
                "type": parsed["type"],
                "subject": parsed["data"].get("subject"),
                "headers": dict(headers.items()),
                "body": body,
            }
        )
        return status

    def of(self, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["subject"] == subject]


@contextmanager
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    with serving(rx.server):
        yield rx


def register(client: TestClient, auth: tuple[str, str], url: str) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": url, "events": list(webhooks.EVENT_TYPES)}, auth=auth)
    assert r.status_code == 201, r.text
    return dict(r.json())


def queue_of(ctx: VaultContext, subject: str) -> list[WebhookDelivery]:
    """A subject's messages in enqueue order."""
    with ctx.db.session() as s:
        rows = s.exec(select(WebhookDelivery).where(WebhookDelivery.subject == subject)).all()
    return sorted(rows, key=lambda r: r.seq or 0)


def make_due(ctx: VaultContext) -> None:
    with ctx.db.session() as s:
        for row in s.exec(select(WebhookDelivery).where(WebhookDelivery.status == "pending")).all():
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            s.add(row)


def narrow(ctx: VaultContext, grant_id: str, fields: list[str]) -> None:
    with ctx.db.session() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None
        grants.narrow(session=s, ctx=ctx, grant=grant, details=[detail(["electronics"], fields)])


def consumer_with_three_messages(ctx: VaultContext, vendor: str) -> Grant:
    """grant.created, then signal.updated, then grant.narrowed for one new consumer (subject)."""
    account = make_consumer(ctx)
    grant = make_grant(ctx, account, vendor, [detail(["electronics"], ["stage", "score"])])
    record(ctx, account, "electronics.tv", STAGE_RECIPES["interest"])
    narrow(ctx, grant.id, ["stage"])
    return grant


def first_successes(requests: list[dict[str, Any]]) -> list[str]:
    """Message ids in the order the receiver first accepted them (a receiver dedupes on webhook-id)."""
    order: list[str] = []
    for r in requests:
        if r["status"] < 300 and r["id"] not in order:
            order.append(r["id"])
    return order


def assert_in_order(requests: list[dict[str, Any]], queue: list[str]) -> None:
    """Nothing of the subject was sent before every earlier message of it had been accepted."""
    accepted: set[str] = set()
    for r in requests:
        position = queue.index(r["id"])
        assert set(queue[:position]) <= accepted, f"{r['type']} sent before an earlier message was accepted"
        if r["status"] < 300:
            accepted.add(r["id"])
    assert first_successes(requests) == queue


def test_enqueue_order_is_recorded_by_the_database(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    register(client, (vendor, secret), "http://127.0.0.1:9/hook")
    grant = consumer_with_three_messages(ctx, vendor)
    queue = queue_of(ctx, grant.subject)
    assert [m.event_type for m in queue] == ["grant.created", "signal.updated", "grant.narrowed"]
    seqs = [m.seq for m in queue]
    assert None not in seqs and len(set(seqs)) == 3


def test_a_failed_message_is_retried_before_the_next_of_its_subject(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url)
        alice = consumer_with_three_messages(ctx, vendor)
        bob = consumer_with_three_messages(ctx, vendor)
        created, updated, narrowed = (m.id for m in queue_of(ctx, alice.subject))
        rx.fail_once.add(updated)  # alice's signal.updated fails its first attempt

        tick = tasks.run_once(ctx)
        assert (tick.delivered, tick.failed, tick.held) == (4, 1, 1), tick
        assert [(r["type"], r["status"]) for r in rx.of(alice.subject)] == [
            ("grant.created", 204),
            ("signal.updated", 500),
        ]  # the narrowing waits behind the failed update...
        assert [r["type"] for r in rx.of(bob.subject)] == ["grant.created", "signal.updated", "grant.narrowed"]
        rows = {m.id: m for m in queue_of(ctx, alice.subject)}
        assert (rows[narrowed].status, rows[narrowed].attempts, rows[narrowed].leased_until) == ("pending", 0, None)
        assert rows[narrowed].next_attempt_at >= rows[updated].next_attempt_at  # held until the update's retry
        assert tasks.run_once(ctx).claimed == 0  # ...and is not sent while the update backs off

        make_due(ctx)
        tick = tasks.run_once(ctx)
        assert (tick.delivered, tick.failed) == (2, 0), tick
        assert_in_order(rx.of(alice.subject), [created, updated, narrowed])
        assert_in_order(rx.of(bob.subject), [m.id for m in queue_of(ctx, bob.subject)])
        rows = {m.id: m for m in queue_of(ctx, alice.subject)}
        assert [(rows[i].status, rows[i].attempts) for i in (created, updated, narrowed)] == [
            ("delivered", 1),
            ("delivered", 2),
            ("delivered", 1),
        ]
        # the retried update was built when it was sent: already narrowed to the stage
        update_body = json.loads([r for r in rx.of(alice.subject) if r["status"] == 204][1]["body"])
        assert update_body["type"] == "signal.updated"
        assert all(set(s) <= {"category", "category_name", "stage"} for s in update_body["data"]["signals"])


def test_a_subject_is_in_one_workers_hands_at_a_time(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    register(client, (vendor, secret), "http://127.0.0.1:9/hook")
    alice = consumer_with_three_messages(ctx, vendor)
    bob = make_grant(ctx, make_consumer(ctx), vendor, [detail(["electronics"])])
    created, updated, narrowed = (m.id for m in queue_of(ctx, alice.subject))
    with ctx.db.session() as s:
        first = outbox.claim(s, limit=10, chain=2)  # alice's first two and bob's only message
    assert [m.id for m in first if m.subject == alice.subject] == [created, updated]
    assert [m.subject for m in first if m.subject != alice.subject] == [bob.subject]
    with ctx.db.session() as s:
        assert outbox.claim(s, limit=10) == []  # another worker: alice's narrowing waits for the first two
    with ctx.db.session() as s:
        outbox.finish_many(s, done=[(m, outbox.Outcome(ok=True, status=204)) for m in first])
    with ctx.db.session() as s:
        assert [m.id for m in outbox.claim(s, limit=10)] == [narrowed]


def test_a_dead_message_unblocks_its_subject(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 2)
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        register(client, (vendor, secret), rx.url)
        alice = consumer_with_three_messages(ctx, vendor)
        bob = consumer_with_three_messages(ctx, vendor)  # goes on to his third message while alice is held
        created, updated, narrowed = (m.id for m in queue_of(ctx, alice.subject))
        rx.fail_always.add(created)
        tick = tasks.run_once(ctx)
        assert (tick.delivered, tick.failed, tick.held) == (3, 1, 2), tick
        assert [r["type"] for r in rx.of(bob.subject)] == ["grant.created", "signal.updated", "grant.narrowed"]
        make_due(ctx)
        assert tasks.run_once(ctx).failed == 1
        assert [m.status for m in queue_of(ctx, alice.subject)] == ["dead", "pending", "pending"]
        tick = tasks.run_once(ctx)  # the dead letter no longer holds the others
        assert tick.delivered == 2, tick
        assert [r["type"] for r in rx.of(alice.subject) if r["status"] < 300] == ["signal.updated", "grant.narrowed"]
        assert [(r["id"], r["status"]) for r in rx.of(alice.subject)][:2] == [(created, 500), (created, 500)]
        assert first_successes(rx.of(alice.subject)) == [updated, narrowed]


@pytest.mark.skipif(BACKEND != "postgres", reason="concurrent workers need PostgreSQL (SKIP LOCKED)")
def test_two_workers_keep_each_subjects_order_and_do_not_hold_up_other_subjects(
    client: TestClient, ctx: VaultContext, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (their own engines and pools, as two processes would have) drain one outbox side by side with
    small batches. Every subject's first message fails its first attempt: still, per subject, nothing is sent
    before the messages ahead of it were accepted. One subject's first message keeps failing: the others are all
    delivered meanwhile, and that subject's later messages are never sent until it goes through."""
    monkeypatch.setattr(outbox, "BACKOFF_BASE", timedelta(milliseconds=200))
    monkeypatch.setattr(outbox, "BACKOFF_CAP", timedelta(seconds=1))
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 10_000)  # the stuck message must not be dead-lettered meanwhile
    vendor, secret = make_vendor(ctx)
    with receiver() as rx:
        endpoint = register(client, (vendor, secret), rx.url)
        subjects = [consumer_with_three_messages(ctx, vendor).subject for _ in range(8)]
        queues = {s: [m.id for m in queue_of(ctx, s)] for s in subjects}
        stuck = subjects[0]
        rx.fail_always.add(queues[stuck][0])
        rx.fail_once.update(q[0] for q in queues.values())

        stop = threading.Event()
        errors: list[BaseException] = []

        def work(wctx: VaultContext) -> None:
            try:
                while not stop.is_set():
                    if not tasks.run_once(wctx, batch=4, concurrency=4).claimed:
                        time.sleep(0.05)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        workers = [build_context(settings), build_context(settings)]
        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        try:
            others = [i for s in subjects if s != stuck for i in queues[s]]
            deadline = time.monotonic() + 120
            while not set(others) <= set(first_successes(rx.requests)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert set(others) <= set(first_successes(rx.requests)), "other subjects were held up"
            # the stuck subject: only its first message was ever sent, the other two wait (pending, untried)
            assert {r["id"] for r in rx.of(stuck)} == {queues[stuck][0]}
            assert [(m.status, m.attempts) for m in queue_of(ctx, stuck)][1:] == [("pending", 0), ("pending", 0)]
            rx.fail_always.clear()
            while len(first_successes(rx.requests)) < 3 * len(subjects) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
            for w in workers:
                w.db.dispose()
        assert errors == []
        for subject in subjects:
            assert_in_order(rx.of(subject), queues[subject])
        assert all(webhooks.verify(endpoint["secret"], r["headers"], r["body"]) for r in rx.requests)
    assert {m.status for s in subjects for m in queue_of(ctx, s)} == {"delivered"}
