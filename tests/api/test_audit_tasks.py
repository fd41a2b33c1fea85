"""Tree heads on a schedule (the app's background job) and appends serialised across concurrent writers."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from vault_server.app import create_app
from vault_server.audit import service as audit
from vault_server.audit import store
from vault_server.audit.check import run_check
from vault_server.audit.tasks import maybe_make_sth, poll_seconds, sth_due
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context


def _append(ctx: VaultContext, n: int = 1) -> None:
    for i in range(n):
        with ctx.db.session() as s:
            audit.record(
                session=s, ctx=ctx, kind="admin.policy_change", actor="admin:a", consumer_id=None, details={"i": i}
            )


def test_due_only_when_grown_and_interval_passed(ctx: VaultContext) -> None:
    with ctx.db.session() as s:
        assert not sth_due(s, interval_seconds=300, now_ms=audit.now_ms())  # empty log
    _append(ctx)
    with ctx.db.session() as s:
        assert sth_due(s, interval_seconds=300, now_ms=audit.now_ms())  # never signed
    first = maybe_make_sth(ctx)
    assert first is not None and first.tree_size == 1
    assert maybe_make_sth(ctx) is None  # nothing new
    _append(ctx)
    assert maybe_make_sth(ctx) is None  # grew, but the interval has not passed
    with ctx.db.session() as s:
        assert sth_due(s, interval_seconds=300, now_ms=first.timestamp + 300_000)
    forced = maybe_make_sth(ctx, force=True)
    assert forced is not None and forced.tree_size == 2 and forced.timestamp >= first.timestamp
    assert poll_seconds(300) == 30.0 and poll_seconds(1) == 0.25


def test_the_app_signs_tree_heads_in_the_background(ctx: VaultContext, settings: Settings) -> None:
    fast = build_context(settings.model_copy(update={"audit_sth_interval_seconds": 1}), db=ctx.db)
    _append(fast, 3)
    with TestClient(create_app(ctx=fast), base_url="http://127.0.0.1:8000"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with ctx.db.session() as s:
                latest = store.latest_sth(s)
            if latest is not None and latest.tree_size == 3:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no tree head was signed in the background")
        _append(fast, 2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with ctx.db.session() as s:
                latest = store.latest_sth(s)
            if latest is not None and latest.tree_size == 5:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("growth after the first head was never signed")
    assert run_check(fast).ok


def test_concurrent_appends_get_distinct_consecutive_positions(ctx: VaultContext) -> None:
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(10):
                with ctx.db.session() as s:
                    audit.record(
                        session=s,
                        ctx=ctx,
                        kind="question.asked",
                        actor=f"vendor:w{w}",
                        consumer_id=None,
                        details={"i": i},
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with ctx.db.session() as s:
        rows = store.entries_range(s, 0, 100)
        assert [r.idx for r in rows] == list(range(40))
        assert store.read_head(s)[0] == 40
    maybe_make_sth(ctx, force=True)
    assert run_check(ctx).ok
