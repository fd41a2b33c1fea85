"""``kill -9`` of a real ``intent-vault worker`` process while deliveries are on the wire, then a restart: every
message reaches the receiver at least once (none lost), a repeat carries the same ``webhook-id`` (so the receiver
can drop it) and a fresh, valid signature (checked with the Standard Webhooks reference library), each subject's
messages were first accepted in order, and no consumer data left without an audit entry written before it.

Audit semantics pinned here: a ``webhook.delivered`` entry is written (and committed) each time a data-carrying
payload is built, before its request is made, fail closed. A message the killed worker had built and possibly sent
is built again after the restart, so it has an entry per build: at least one per message whose data reached the
receiver, and at least as many as the copies the receiver got. Counting distinct ``message_id`` values gives the
messages delivered."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import select

from vault_server.audit import service as audit
from vault_server.audit.check import run_check
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import webhooks
from vault_server.feed.models import WebhookDelivery

from ..api.test_feed import audit_entries
from ..api.test_feed_support import STAGE_RECIPES, detail, make_consumer, make_grant, make_vendor, record
from ..conftest import serving
from ..scale.support import CLI, process_env

SUBJECTS = 8


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


class SlowReceiver:
    """Records every request as it arrives, then answers 204 after ``delay`` seconds (so a batch is still on the
    wire when the worker is killed); an answer the dead worker no longer reads is dropped quietly."""

    def __init__(self) -> None:
        self.arrived: list[dict[str, Any]] = []
        self.delay = 0.5
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer.lock:
                    outer.arrived.append({"headers": dict(self.headers.items()), "body": body})
                    delay = outer.delay
                time.sleep(delay)
                try:
                    self.send_response(204)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the worker is gone

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a connection the killed worker dropped

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)


@contextmanager
def slow_receiver() -> Iterator[SlowReceiver]:
    rx = SlowReceiver()
    with serving(rx.server):
        yield rx


@contextmanager
def worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """``intent-vault worker`` in its own process: small batches, a few requests in flight."""
    command = [CLI, "worker", "--interval", "0.1", "--batch", "6", "--concurrency", "3"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env=process_env(settings), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        except BaseException:
            log.seek(0)
            print(f"--- worker (pid {proc.pid}) ---\n{log.read().decode()[-4000:]}")
            raise
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_for(condition: Any, what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rows(ctx: VaultContext) -> list[WebhookDelivery]:
    with ctx.db.session() as s:
        return sorted(s.exec(select(WebhookDelivery)).all(), key=lambda r: r.seq or 0)


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_only_with_the_same_id(
    ctx: VaultContext, settings: Settings
) -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")  # the test extra installs it
    vendor, _ = make_vendor(ctx)
    with slow_receiver() as rx:
        with ctx.db.session() as s:
            endpoint, secret = webhooks.create_endpoint(
                session=s,
                ctx=ctx,
                vendor_id=vendor,
                body=webhooks.EndpointIn(url=rx.url, events=["grant.created", "signal.updated"]),
            )
        for _ in range(SUBJECTS):  # grant.created (no consumer data), then signal.updated (audited) per subject
            account = make_consumer(ctx)
            make_grant(ctx, account, vendor, [detail(["electronics"], ["stage", "score"])])
            record(ctx, account, "electronics.tv", STAGE_RECIPES["interest"])
        queued = rows(ctx)
        assert len(queued) == 2 * SUBJECTS

        with worker(settings) as first:
            wait_for(lambda: rx.count() >= 2, "deliveries are on the wire", first)
            first.send_signal(signal.SIGKILL)  # mid-batch: requests in flight, nothing of the batch recorded yet
            assert first.wait(timeout=30) == -signal.SIGKILL
        killed_at = rx.count()
        in_flight = [r for r in rows(ctx) if r.status == "pending" and r.leased_until is not None]
        assert in_flight, "the kill should leave claimed messages behind"
        with ctx.db.session() as s:  # their leases run out (60 s in real time)
            for row in s.exec(select(WebhookDelivery).where(WebhookDelivery.status == "pending")).all():
                row.leased_until = utcnow() - timedelta(seconds=1)
                s.add(row)

        rx.delay = 0.0
        with worker(settings) as second:
            wait_for(lambda: all(r.status == "delivered" for r in rows(ctx)), "every message is delivered", second)
        with rx.lock:
            arrived = list(rx.arrived)

    ids = [r["headers"]["webhook-id"] for r in arrived]
    # none lost: every message arrived, and nothing arrived that is not a message
    assert set(ids) == {r.id for r in queued}
    # repeats: the messages the killed worker had sent (or was sending) came again, with the same webhook-id
    repeated = {i for i, n in Counter(ids).items() if n > 1}
    assert repeated, f"nothing was repeated although {killed_at} requests arrived before the kill"
    assert repeated <= {r.id for r in in_flight}
    verifier = standardwebhooks.Webhook(secret)
    for request in arrived:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        payload = verifier.verify(request["body"], headers)  # raises if the signature or timestamp is wrong
        assert payload["type"] in {"grant.created", "signal.updated"}
    for msg_id in repeated:
        copies = [json.loads(r["body"]) for r in arrived if r["headers"]["webhook-id"] == msg_id]
        assert len({(c["type"], c["data"]["subject"]) for c in copies}) == 1  # the same message each time
    # order: per subject, grant.created was first accepted before signal.updated
    first_seen = {i: ids.index(i) for i in set(ids)}
    by_subject: dict[str, list[WebhookDelivery]] = {}
    for r in queued:
        assert r.subject is not None
        by_subject.setdefault(r.subject, []).append(r)
    for messages in by_subject.values():
        assert [m.event_type for m in messages] == ["grant.created", "signal.updated"]
        assert first_seen[messages[0].id] < first_seen[messages[1].id]

    # audit: every signal.updated that reached the receiver had an entry written before it left, one per build
    entries = audit_entries(ctx, "webhook.delivered")
    per_message = Counter(e["details"]["message_id"] for e in entries)
    copies = Counter(ids)
    for r in queued:
        if r.event_type == "signal.updated":
            assert per_message[r.id] >= copies[r.id] >= 1, (r.id, per_message[r.id], copies[r.id])
        else:
            assert per_message[r.id] == 0  # grant.created carries no consumer data
    assert len(per_message) == SUBJECTS  # distinct message ids = signal messages delivered
    with ctx.db.session() as s:
        audit.make_sth(session=s, ctx=ctx)
    report = run_check(ctx)
    assert report.ok, report
    assert endpoint.id
