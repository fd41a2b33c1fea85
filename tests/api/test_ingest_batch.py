"""Group commit for gesture ingest (intents/batch.py): POSTs that arrive together share one transaction and one
commit, yet each keeps its own answer — a refused POST stores nothing and costs the others nothing, a crash in one
reruns the batch one by one (the crashed POST stores nothing, every other is stored once), and a gesture sent twice
in one batch is stored once."""

from __future__ import annotations

import contextvars
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, select

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import Forbidden, ValidationFailed, VaultError
from vault_server.intents import service
from vault_server.intents.batch import IngestBatcher, Job, Refusal, _Pending
from vault_server.intents.models import Gesture

from ..conftest import personal_token
from .test_feed_support import make_consumer
from .test_ingest_cost import batch as new_events


class _Ingest(Job):
    """A job that ingests ``events`` for ``account_id`` and may fail on purpose after its writes."""

    def __init__(self, account_id: str, events: list[dict[str, Any]], fail: Exception | None = None) -> None:
        self.account_id, self.events, self.fail, self.runs = account_id, events, fail, 0

    def account(self, session: Session) -> str:
        return self.account_id

    def run(self, session: Session, account_id: str) -> bytes:
        self.runs += 1
        result = service.ingest(session=session, ctx=self.ctx, account_id=account_id, events=self.events)
        if self.fail is not None:
            raise self.fail  # after the gestures and signal states were written
        return result.model_dump_json().encode()


def _callers(session: Session, jobs: Sequence[Job]) -> list[str | Refusal]:
    out: list[str | Refusal] = []
    for job in jobs:
        assert isinstance(job, _Ingest)
        try:
            out.append(job.account(session))
        except VaultError as exc:
            out.append(exc)
    return out


def _jobs(ctx: VaultContext, *jobs: _Ingest) -> list[_Pending]:
    for job in jobs:
        job.ctx = ctx  # type: ignore[attr-defined]
    return [_Pending(job, contextvars.copy_context()) for job in jobs]


def _stored(ctx: VaultContext) -> list[str]:
    with ctx.db.session() as s:
        return sorted(s.exec(select(Gesture.event_id)).all())


def _ids(*batches: list[dict[str, Any]]) -> list[str]:
    return sorted(e["id"] for b in batches for e in b)


@contextmanager
def commits(ctx: VaultContext) -> Iterator[list[int]]:
    seen: list[int] = []

    def count(*_: Any) -> None:
        seen.append(1)

    event.listen(ctx.db.engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "commit", count)


def test_posts_of_several_consumers_share_one_commit(ctx: VaultContext) -> None:
    alice, bob = make_consumer(ctx), make_consumer(ctx)
    sent = [new_events(1), new_events(1), new_events(3), new_events(1)]
    owners = [bob, alice, bob, alice]
    pending = _jobs(ctx, *(_Ingest(owner, events) for owner, events in zip(owners, sent, strict=True)))
    batcher = IngestBatcher(ctx, _callers)
    with commits(ctx) as seen:
        batcher.answer(pending)
    assert len(seen) == 1
    answers = [json.loads(p.future.result()) for p in pending]
    assert [a["accepted"] for a in answers] == [1, 1, 3, 1]  # each POST gets its own answer, in its own order
    assert _stored(ctx) == _ids(*sent)
    with ctx.db.session() as s:
        owner_of = dict(s.exec(select(Gesture.event_id, Gesture.account_id)).all())
    assert all(owner_of[e["id"]] == owner for owner, events in zip(owners, sent, strict=True) for e in events)


def test_a_refused_post_stores_nothing_and_the_others_are_stored(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    kept_before, refused, kept_after = new_events(2), new_events(2), new_events(2)
    pending = _jobs(
        ctx,
        _Ingest(alice, kept_before),
        _Ingest(alice, refused, fail=ValidationFailed("refused after its writes")),
        _Ingest(alice, kept_after),
    )
    batcher = IngestBatcher(ctx, _callers)
    batcher.answer(pending)
    assert batcher.reruns == 0  # a refusal is one POST's answer: the batch goes on
    with pytest.raises(ValidationFailed):
        pending[1].future.result()
    assert _stored(ctx) == _ids(kept_before, kept_after)
    # the refused events were never stored: sent again, they are accepted
    again = _jobs(ctx, _Ingest(alice, refused))
    batcher.answer(again)
    assert json.loads(again[0].future.result())["accepted"] == 2


def test_a_crash_reruns_the_batch_one_by_one(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)  # one consumer: the jobs run in arrival order
    first, crashing, last = new_events(1), new_events(2), new_events(1)
    jobs = [_Ingest(alice, first), _Ingest(alice, crashing, fail=RuntimeError("bug")), _Ingest(alice, last)]
    pending = _jobs(ctx, *jobs)
    batcher = IngestBatcher(ctx, _callers)
    batcher.answer(pending)
    assert batcher.reruns == 1
    assert [j.runs for j in jobs] == [2, 2, 1]  # together up to the crash, then each alone
    with pytest.raises(RuntimeError):
        pending[1].future.result()
    assert [json.loads(pending[i].future.result())["accepted"] for i in (0, 2)] == [1, 1]  # not "duplicate"
    assert _stored(ctx) == _ids(first, last)


def test_a_caller_refused_in_a_batch_is_that_post_s_answer(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)

    class NoScope(_Ingest):
        def account(self, session: Session) -> str:
            raise Forbidden("this credential lacks the scope 'gestures:write'")

    ok, refused = new_events(1), new_events(1)
    pending = _jobs(ctx, _Ingest(alice, ok), NoScope(alice, refused))
    IngestBatcher(ctx, _callers).answer(pending)
    with pytest.raises(Forbidden):
        pending[1].future.result()
    assert _stored(ctx) == _ids(ok)


def test_the_same_gesture_in_two_posts_of_one_batch_is_stored_once(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    events = new_events(2)
    pending = _jobs(ctx, _Ingest(alice, events), _Ingest(alice, events))
    IngestBatcher(ctx, _callers).answer(pending)
    answers = [json.loads(p.future.result()) for p in pending]
    assert [(a["accepted"], a["duplicate"]) for a in answers] == [(2, 0), (0, 2)]
    assert _stored(ctx) == _ids(events)


def test_concurrent_one_gesture_posts_are_answered_after_their_commit(
    client: TestClient, ctx: VaultContext, consumer: dict[str, Any]
) -> None:
    """Many one-gesture POSTs at once over HTTP: every accepted gesture is stored exactly once, and every answer
    leaves after the commit that stored it (a fresh transaction sees the gesture as soon as its answer is in)."""
    token = personal_token(client, consumer["csrf"], ["gestures:write"])
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    lock = threading.Lock()
    sent = [new_events(1) for _ in range(24)]

    def post(events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], bool]:
        r = client.post("/v1/gestures", json={"events": events}, headers=headers)
        with lock, ctx.db.session() as s:  # a fresh transaction sees only what was committed
            on_disk = s.exec(select(Gesture.event_id).where(Gesture.event_id == events[0]["id"])).first()
        return r.status_code, r.json(), on_disk is not None

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, sent))
    assert all(status == 200 and body["accepted"] == 1 and on_disk for status, body, on_disk in answers)
    assert _stored(ctx) == _ids(*sent)


def test_bad_posts_in_a_busy_moment_get_their_own_problems(
    client: TestClient, ctx: VaultContext, consumer: dict[str, Any]
) -> None:
    token = personal_token(client, consumer["csrf"], ["gestures:write"])
    client.cookies.clear()
    good = {"Authorization": f"Bearer {token}"}
    bodies: list[tuple[dict[str, str], Any]] = [
        (good, {"events": new_events(1)}),
        ({"Authorization": "Bearer ivp_" + uuid.uuid4().hex}, {"events": new_events(1)}),
        (good, {"events": []}),
        (good, b'{"events": ['),
        (good, {"events": new_events(1)}),
    ]

    def post(item: tuple[dict[str, str], Any]) -> int:
        headers, body = item
        if isinstance(body, bytes):
            return client.post(
                "/v1/gestures", content=body, headers={**headers, "content-type": "application/json"}
            ).status_code
        return client.post("/v1/gestures", json=body, headers=headers).status_code

    with ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(post, bodies))
    assert statuses == [200, 401, 422, 400, 200]
    assert len(_stored(ctx)) == 2


def test_a_revoked_token_is_refused_at_once_and_cookies_still_work(
    client: TestClient, ctx: VaultContext, consumer: dict[str, Any]
) -> None:
    """Tokens are read in the batch's own transaction (no cache): the POST after a revocation is a 401. A signed-in
    browser (cookie and CSRF header) goes through the app's usual resolvers."""
    csrf = consumer["csrf"]
    token = personal_token(client, csrf, ["gestures:write"])
    token_id = client.get("/v1/me/tokens").json()[0]["id"]
    assert (
        client.post("/v1/gestures", json={"events": new_events(1)}, headers={"X-CSRF-Token": csrf}).json()["accepted"]
        == 1
    )
    assert client.post("/v1/gestures", json={"events": new_events(1)}).status_code == 403  # cookie without CSRF
    bearer = {"Authorization": f"Bearer {token}"}
    cookies = dict(client.cookies)
    client.cookies.clear()
    assert client.post("/v1/gestures", json={"events": new_events(1)}, headers=bearer).status_code == 200
    client.cookies.update(cookies)
    assert client.delete(f"/v1/me/tokens/{token_id}", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    r = client.post("/v1/gestures", json={"events": new_events(1)}, headers=bearer)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert len(_stored(ctx)) == 2


def test_a_post_whose_client_went_away_is_skipped_and_the_batch_goes_on(ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    gone, kept = new_events(1), new_events(1)
    pending = _jobs(ctx, _Ingest(alice, gone), _Ingest(alice, kept))
    assert pending[0].future.cancel()  # what asyncio.wrap_future does when the request task is cancelled
    IngestBatcher(ctx, _callers).answer(pending)
    assert json.loads(pending[1].future.result())["accepted"] == 1
    assert _stored(ctx) == _ids(kept)


def test_expired_tokens_device_tokens_and_deleted_accounts(client: TestClient, ctx: VaultContext) -> None:
    """The batch's one token query keeps every rule of a single lookup: an expired token and a deleted account's
    token are 401, a device token (``ivd_``) ingests like a personal one."""
    alice, bob = make_consumer(ctx), make_consumer(ctx)
    with ctx.db.session() as s:
        expired, _ = accounts.issue_api_token(
            session=s, account_id=alice, name="old", scopes=["gestures:write"], expires_at=utcnow() - timedelta(1)
        )
        device, _ = accounts.issue_api_token(
            session=s, account_id=alice, name="phone", scopes=["gestures:write"], kind="device"
        )
        gone, _ = accounts.issue_api_token(session=s, account_id=bob, name="t", scopes=["gestures:write"])
        s.get_one(Account, bob).deleted_at = utcnow()
    assert device.startswith("ivd_")

    def post(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return client.post("/v1/gestures", json={"events": new_events(1)}, headers=headers).status_code

    with ThreadPoolExecutor(3) as pool:  # together, as one batch when they arrive at once
        assert list(pool.map(post, [expired, device, gone])) == [401, 200, 401]
    assert len(_stored(ctx)) == 1
