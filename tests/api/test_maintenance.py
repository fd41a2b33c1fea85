"""Background maintenance: signals recompute after a policy change; gestures expire by retention policy."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.intents import service
from vault_server.intents.models import SignalRow
from vault_server.intents.tasks import run_maintenance

from .test_gestures import bearer, post, signal, tv  # noqa: F401


def test_policy_change_recomputes_stale_signals(
    client: TestClient, bearer: dict[str, str], ctx: VaultContext  # noqa: F811
) -> None:
    post(client, bearer, [tv(minutes_ago=20), tv("cart_add", minutes_ago=10)])
    before = signal(client, bearer, "electronics.tv")
    with ctx.db.session() as s:
        s.execute(update(SignalRow).values(policy_hash="0" * 64))
    assert run_maintenance(ctx) == (1, 0)
    with ctx.db.session() as s:
        assert {r.policy_hash for r in s.exec(select(SignalRow)).all()} == {ctx.policy.hash}
    after = signal(client, bearer, "electronics.tv")
    assert after is not None and before is not None
    assert (after["stage"], round(after["score"], 4)) == (before["stage"], round(before["score"], 4))
    assert run_maintenance(ctx) == (0, 0)


def test_retention_expires_gestures_and_signals_follow(
    client: TestClient, bearer: dict[str, str], ctx: VaultContext  # noqa: F811
) -> None:
    post(client, bearer, [tv(minutes_ago=20)])
    assert signal(client, bearer, "electronics.tv") is not None
    keep = ctx.policy.retention_days("product_view")
    with ctx.db.session() as s:
        assert service.expire_gestures(session=s, ctx=ctx, now=utcnow() + timedelta(days=keep - 1)) == 0
    with ctx.db.session() as s:
        assert service.expire_gestures(session=s, ctx=ctx, now=utcnow() + timedelta(days=keep + 1)) == 1
    assert client.get("/v1/gestures", headers=bearer).json()["items"] == []
    assert signal(client, bearer, "electronics.tv") is None
