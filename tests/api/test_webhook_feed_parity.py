"""A signal that disappears (the consumer deleted the gestures behind it) is announced like any other change, and
the same way on the feed and to webhook subscribers: a ``signal.updated`` whose ``signals`` no longer hold it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.feed import tasks
from vault_server.intents import service as intents
from vault_server.intents.service import GestureFilter

from .test_feed_support import (
    STAGE_RECIPES,
    detail,
    feed_all,
    make_consumer,
    make_grant,
    make_vendor,
    receiver,
    record,
)


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def signal_categories(item: dict[str, Any]) -> list[str]:
    return (
        sorted(s["category"] for s in item["data"]["signals"])
        if "data" in item
        else sorted(s["category"] for s in item["signals"])
    )


def test_a_deleted_signal_is_announced_on_the_feed_and_to_webhooks_alike(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    auth = (vendor, secret)
    with receiver() as rx:
        r = client.post("/v1/webhooks", json={"url": rx.url, "events": ["signal.updated"]}, auth=auth)
        assert r.status_code == 201, r.text
        alice = make_consumer(ctx)
        grant = make_grant(ctx, alice, vendor, [detail(["electronics"], ["stage"])])
        record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
        record(ctx, alice, "electronics.headphones", STAGE_RECIPES["interest"])
        _, cursor = feed_all(client, auth)
        assert tasks.run_once(ctx).delivered >= 1
        before = len(rx.requests)

        with ctx.db.session() as s:  # the consumer deletes everything behind the TV signal
            deleted, _ = intents.delete_gestures(
                session=s, ctx=ctx, account_id=alice, flt=GestureFilter(category="electronics.tv")
            )
        assert deleted > 0
        items, cursor = feed_all(client, auth, cursor)
        assert tasks.run_once(ctx).delivered == 1
        hooks = rx.bodies()[before:]
        assert [i["type"] for i in items] == ["signal.updated"] == [h["type"] for h in hooks]
        assert signal_categories(items[0]) == ["electronics.headphones"] == signal_categories(hooks[0])
        assert items[0]["subject"] == hooks[0]["data"]["subject"] == grant.subject

        with ctx.db.session() as s:  # and then the last one: nothing is left to see
            intents.delete_gestures(
                session=s, ctx=ctx, account_id=alice, flt=GestureFilter(category="electronics.headphones")
            )
        items, cursor = feed_all(client, auth, cursor)
        assert tasks.run_once(ctx).delivered == 1
        hooks = rx.bodies()[before + 1 :]
        assert [i["type"] for i in items] == ["signal.updated"] == [h["type"] for h in hooks]
        assert items[0]["signals"] == [] == hooks[0]["data"]["signals"]
