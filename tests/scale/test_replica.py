"""Feed reads from a real streaming replica (a hot standby made with pg_basebackup): the change log is read there,
and cursors never skip or repeat a change while the replica lags (replay paused), including a cursor from a server
that is ahead of this replica. What leaves is still decided on the primary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import select

from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.feed import service
from vault_server.feed.models import FeedChange

from ..api.test_feed_support import STAGE_RECIPES, detail, make_consumer, make_grant, make_vendor, record, revoke
from .conftest import Replica
from .support import needs_postgres

pytestmark = needs_postgres


@pytest.fixture
def settings(base_settings: Settings, replica: Replica) -> Settings:
    return base_settings.model_copy(update={"database_read_url": replica.url})


@pytest.fixture
def primary_only(settings: Settings) -> Iterator[TestClient]:
    """A second API server that reads everything on the primary (or on a replica that is ahead of ours)."""
    ctx = build_context(settings.model_copy(update={"database_read_url": None}))
    with TestClient(create_app(ctx=ctx), base_url="http://127.0.0.1:8000") as c:
        yield c
    ctx.db.dispose()


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *_: Any) -> None:
        self.n += 1


def page(client: TestClient, auth: tuple[str, str], cursor: str | None, limit: int = 2) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    r = client.get("/v1/feed", params=params, auth=auth)
    assert r.status_code == 200, r.text
    return dict(r.json())


def positions(ctx: VaultContext, vendor: str) -> list[int]:
    with ctx.db.session() as s:
        return sorted(int(p) for p in s.exec(select(FeedChange.pos).where(FeedChange.vendor_id == vendor)).all() if p)


def test_cursors_never_skip_or_repeat_while_the_replica_lags(
    client: TestClient, primary_only: TestClient, ctx: VaultContext, replica: Replica
) -> None:
    assert ctx.db.read_engine is not None
    on_replica = Counter()
    event.listen(ctx.db.read_engine, "before_cursor_execute", on_replica)
    vendor, secret = make_vendor(ctx)
    auth = (vendor, secret)
    people = [make_consumer(ctx) for _ in range(3)]
    for person in people:
        make_grant(ctx, person, vendor, [detail(["electronics"])])
    service.stamp_now(ctx)
    replica.catch_up()
    seen: list[int] = []

    first = page(client, auth, None)  # served from the replica
    assert on_replica.n > 0 and first["has_more"]
    seen += [i["pos"] for i in first["items"]]

    replica.pause()  # from here the replica lags
    try:
        record(ctx, people[0], "electronics.tv", STAGE_RECIPES["interest"])
        record(ctx, people[1], "electronics.tv", STAGE_RECIPES["interest"])
        second = page(client, auth, first["next_cursor"])  # the replica's rest: the third grant, nothing newer
        assert [i["type"] for i in second["items"]] == ["grant.created"] and not second["has_more"]
        seen += [i["pos"] for i in second["items"]]
        assert len(positions(ctx, vendor)) == 5  # the primary has two more

        third = page(client, auth, second["next_cursor"])  # nothing new on the replica: the cursor stays
        assert third["items"] == [] and third["next_cursor"] == second["next_cursor"]

        # another server (primary, or a replica further ahead) serves the vendor the two newer changes...
        ahead = page(primary_only, auth, third["next_cursor"])
        assert [i["type"] for i in ahead["items"]] == ["signal.updated", "signal.updated"]
        seen += [i["pos"] for i in ahead["items"]]

        # ...so its cursor is past what our replica has: this server reads the change log on the primary
        record(ctx, people[2], "electronics.tv", STAGE_RECIPES["interest"])
        before = on_replica.n
        fallback = page(client, auth, ahead["next_cursor"])
        assert [i["type"] for i in fallback["items"]] == ["signal.updated"]
        assert on_replica.n == before + 1  # only the replica's head was asked, no rows
        seen += [i["pos"] for i in fallback["items"]]

        # what leaves is decided on the primary: a grant revoked there sends nothing even though the lagging
        # replica still lists its changes
        revoke(ctx, next(g for g in grants_of(ctx, vendor) if g[1] == people[1])[0])
        replay = page(client, auth, None, limit=50)
        subjects_with_data = {i["subject"] for i in replay["items"] if "signals" in i}
        assert subject_of(ctx, vendor, people[1]) not in subjects_with_data
        assert len(subjects_with_data) == 2
    finally:
        replica.resume()
    replica.catch_up()

    rest = page(client, auth, fallback["next_cursor"], limit=50)  # the tombstone of the revocation
    assert [i["type"] for i in rest["items"]] == ["grant.revoked"]
    seen += [i["pos"] for i in rest["items"]]
    assert seen == positions(ctx, vendor)  # every change exactly once, in order, across lag and servers


def grants_of(ctx: VaultContext, vendor: str) -> list[tuple[str, str]]:
    from vault_server.grants.models import Grant

    with ctx.db.session() as s:
        return [(g.id, g.account_id) for g in s.exec(select(Grant).where(Grant.vendor_id == vendor)).all()]


def subject_of(ctx: VaultContext, vendor: str, account_id: str) -> str:
    from vault_server.grants.models import Grant

    with ctx.db.session() as s:
        grant = s.exec(select(Grant).where(Grant.vendor_id == vendor, Grant.account_id == account_id)).one()
        return grant.subject
