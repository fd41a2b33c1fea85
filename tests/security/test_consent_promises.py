"""What the consent screen promises is what the vendor gets, on the feed and by webhook alike:

- ``frequency: daily`` means at most one signal update a day (announced by the release job), ``realtime`` at once;
- casts by name reach only grants with ``intents:read``;
- narrowing is announced at once on both channels, never folded into a later update;
- anonymous intentcasts and their ``offer.accepted`` are on the feed as well as webhooks;
- anonymous casts go out in batches at fixed boundaries, so they cannot be linked by time to the same consumer's
  pseudonymous cast (the mechanism is tested with explicit release times, not by waiting).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import col, select

from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.feed import release
from vault_server.feed.models import CastRecipient, FeedChange, FeedDigest, WebhookDelivery, WebhookEndpoint
from vault_server.feed.webhooks import Prepared, new_secret, prepare_batch, seal_secret
from vault_server.grants import service as grants
from vault_server.grants.models import Grant

from ..api.test_feed_support import STAGE_RECIPES, detail, feed_all, make_consumer, make_grant, make_vendor, record
from ..conftest import log_in, sign_up


def _endpoint(ctx: VaultContext, vendor: str, events: list[str]) -> str:
    endpoint_id = str(uuid.uuid4())
    with ctx.db.session() as s:
        s.add(WebhookEndpoint(id=endpoint_id, vendor_id=vendor, url="https://hooks.example/in", events=events,
                              secret_enc=seal_secret(ctx, endpoint_id, new_secret())))  # fmt: skip
    return endpoint_id


def _changes(ctx: VaultContext, vendor: str, kind: str | None = None) -> list[FeedChange]:
    with ctx.db.session() as s:
        q = select(FeedChange).where(FeedChange.vendor_id == vendor).order_by(col(FeedChange.seq))
        return [r for r in s.exec(q).all() if kind is None or r.kind == kind]


def _deliveries(ctx: VaultContext, vendor: str) -> list[WebhookDelivery]:
    with ctx.db.session() as s:
        return list(s.exec(select(WebhookDelivery).where(WebhookDelivery.vendor_id == vendor)).all())


def _release(ctx: VaultContext, now: datetime) -> release.Released:
    with ctx.db.session() as s:
        return release.release_due(session=s, now=now)


# ---- frequency ------------------------------------------------------------------------------------------------
def test_daily_grant_gets_at_most_one_update_a_day_on_both_channels(ctx: VaultContext) -> None:
    daily_vendor, _ = make_vendor(ctx, "Daily shop")
    live_vendor, _ = make_vendor(ctx, "Realtime shop")
    _endpoint(ctx, daily_vendor, ["signal.updated"])
    _endpoint(ctx, live_vendor, ["signal.updated"])
    alice = make_consumer(ctx)
    daily = make_grant(ctx, alice, daily_vendor, [detail(["electronics"], frequency="daily")])
    make_grant(ctx, alice, live_vendor, [detail(["electronics"], frequency="realtime")])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["motivation"])
    assert len(_changes(ctx, live_vendor, "signal.updated")) >= 1  # realtime: at once
    assert _changes(ctx, daily_vendor, "signal.updated") == []  # daily: not yet, on neither channel
    assert [d.event_type for d in _deliveries(ctx, daily_vendor)] == []
    with ctx.db.session() as s:
        digest = s.get(FeedDigest, daily.id)
        assert digest is not None and digest.due_at is not None
        due = digest.due_at
    assert due >= daily.created_at + timedelta(days=1)
    assert _release(ctx, due - timedelta(seconds=1)).digests == 0
    assert _release(ctx, due).digests == 1  # the two changes make one announcement
    assert len(_changes(ctx, daily_vendor, "signal.updated")) == 1
    assert [d.event_type for d in _deliveries(ctx, daily_vendor)] == ["signal.updated"]
    assert _release(ctx, due + timedelta(hours=1)).digests == 0
    with ctx.db.session() as s:
        digest = s.get(FeedDigest, daily.id)
        assert digest is not None
        digest.last_sent_at = utcnow()  # announced just now: the next change waits a day from here
        s.add(digest)
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["action"])
    with ctx.db.session() as s:
        digest = s.get(FeedDigest, daily.id)
        assert digest is not None and digest.due_at is not None and digest.last_sent_at is not None
        assert digest.due_at == digest.last_sent_at + timedelta(days=1)


def test_the_most_restrictive_frequency_of_a_grant_applies() -> None:
    assert release.period_of([detail(["a"], frequency="realtime")]) is None
    assert release.period_of([detail(["a"], frequency="daily")]) == timedelta(days=1)
    both = [detail(["a"], frequency="daily"), detail(["b"], frequency="weekly")]
    assert release.period_of(both) == timedelta(days=7)


# ---- casts by name need intents:read --------------------------------------------------------------------------
def test_a_cast_by_name_reaches_only_grants_with_intents_read(client: TestClient, ctx: VaultContext) -> None:
    with_scope, _ = make_vendor(ctx, "Reads intents")
    without, _ = make_vendor(ctx, "Signals only")
    sign_up(client, "erin@example.com", name="Erin")
    csrf = log_in(client, "erin@example.com")
    erin = client.get("/v1/me").json()["id"]
    make_grant(ctx, erin, with_scope, [detail(["electronics"])], scope=["signals:read", "intents:read"])
    make_grant(ctx, erin, without, [detail(["electronics"])], scope=["signals:read"])
    r = client.post("/v1/intentcasts", json={"category": "electronics.tv", "text": "a TV"},
                    headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 201 and r.json()["recipients"] == 1
    assert len(_changes(ctx, with_scope, "intent.declared")) == 1
    assert _changes(ctx, without, "intent.declared") == []


# ---- narrowing ------------------------------------------------------------------------------------------------
def test_narrowing_is_announced_at_once_on_feed_and_webhook(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    _endpoint(ctx, vendor, ["signal.updated"])  # subscribed to signal updates only: still told of the narrowing
    alice = make_consumer(ctx)
    grant = make_grant(ctx, alice, vendor, [detail(["electronics", "computers"], ["stage", "score"])])
    record(ctx, alice, "computers.laptop", STAGE_RECIPES["interest"])
    _, cursor = feed_all(client, (vendor, secret))
    with ctx.db.session() as s:
        g = s.get(Grant, grant.id)
        assert g is not None
        grants.narrow(session=s, ctx=ctx, grant=g, details=[detail(["electronics"], ["stage"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])  # a signal update right after
    items, _ = feed_all(client, (vendor, secret), cursor)
    kinds = [i["type"] for i in items]
    assert "grant.narrowed" in kinds  # not folded into the later signal.updated
    narrowed = items[kinds.index("grant.narrowed")]
    assert narrowed["authorization_details"][0]["categories"] == ["electronics"]
    [hook] = [d for d in _deliveries(ctx, vendor) if d.event_type == "grant.narrowed"]
    with ctx.db.session() as s:
        [built] = prepare_batch(session=s, ctx=ctx, messages=[hook])
    assert isinstance(built, Prepared)
    data = json.loads(built.body)["data"]
    assert data["authorization_details"][0]["categories"] == ["electronics"]
    assert all(s["category"].startswith("electronics") for s in data["signals"])


# ---- anonymous casts: on the feed, in batches ---------------------------------------------------------------
def _anonymous_shop(client: TestClient, ctx: VaultContext) -> tuple[str, str]:
    shop, secret = make_vendor(ctx, "Anonymous casts shop")
    r = client.put("/v1/vendor/intentcasts/categories", json={"categories": ["electronics"]}, auth=(shop, secret))
    assert r.status_code == 200
    return shop, secret


def test_anonymous_casts_are_released_in_batches_on_feed_and_webhook(client: TestClient, ctx: VaultContext) -> None:
    shop, secret = _anonymous_shop(client, ctx)
    _endpoint(ctx, shop, ["intent.declared", "offer.accepted"])
    sign_up(client, "erin@example.com", name="Erin")
    csrf = log_in(client, "erin@example.com")
    erin = client.get("/v1/me").json()["id"]
    make_grant(ctx, erin, shop, [detail(["electronics"])], scope=["signals:read", "intents:read"])
    headers = {"X-CSRF-Token": csrf}
    anon = client.post("/v1/intentcasts", json={"category": "electronics.tv", "anonymous": True}, headers=headers)
    named = client.post("/v1/intentcasts", json={"category": "electronics.tv"}, headers=headers)
    assert anon.status_code == named.status_code == 201
    anon_id, named_id = anon.json()["id"], named.json()["id"]
    # the pseudonymous cast goes out at once; the anonymous one waits for the batch, on both channels
    assert [c.ref_id for c in _changes(ctx, shop, "intent.declared")] == [named_id]
    assert [d.ref_id for d in _deliveries(ctx, shop)] == [named_id]
    assert [c["id"] for c in client.get("/v1/vendor/intentcasts", auth=(shop, secret)).json()["intentcasts"]] == [
        named_id
    ]
    with ctx.db.session() as s:
        cast_time = s.get(CastRecipient, (anon_id, shop))
        assert cast_time is not None and cast_time.released_at is None
        made = cast_time.created_at
    boundary = release.batch_boundary(made) + release.ANONYMOUS_BATCH
    assert _release(ctx, boundary - timedelta(seconds=1)).casts == 0  # never before the fixed boundary
    assert _release(ctx, boundary).casts == 1
    assert _release(ctx, boundary + timedelta(minutes=1)).casts == 0  # released once
    assert [c.ref_id for c in _changes(ctx, shop, "intent.declared")] == [named_id, anon_id]
    assert sorted(str(d.ref_id) for d in _deliveries(ctx, shop)) == sorted([named_id, anon_id])
    items, cursor = feed_all(client, (shop, secret))
    [item] = [i for i in items if i["type"] == "intent.declared" and i["intentcast"]["id"] == anon_id]
    assert item["grant_id"] is None and item["subject"].startswith("cast_")
    assert item["intentcast"]["created_at"] == boundary.isoformat()  # the batch time, not when it was cast
    # its offer.accepted is on the feed too
    offer = client.post(
        f"/v1/vendor/intentcasts/{anon_id}/offers",
        json={"title": "Deal", "price": "800", "currency": "EUR", "url": "https://shop.example/p",
              "expires_at": (utcnow() + timedelta(days=2)).isoformat()},
        auth=(shop, secret),
    )  # fmt: skip
    assert offer.status_code == 201, offer.text
    r = client.post(f"/v1/offers/{offer.json()['id']}/decision", json={"action": "accept", "reveal": ["email"]},
                    headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    items, _ = feed_all(client, (shop, secret), cursor)
    [accepted] = [i for i in items if i["type"] == "offer.accepted"]
    assert accepted["subject"] == item["subject"] and accepted["offer"]["identity"] == {"email": "erin@example.com"}
    assert "offer.accepted" in [d.event_type for d in _deliveries(ctx, shop)]


def test_one_batch_releases_every_consumers_casts_together(client: TestClient, ctx: VaultContext) -> None:
    shop, _ = _anonymous_shop(client, ctx)
    casts: list[str] = []
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        sign_up(client, email)
        csrf = log_in(client, email)
        r = client.post("/v1/intentcasts", json={"category": "electronics.tv", "anonymous": True},
                        headers={"X-CSRF-Token": csrf})  # fmt: skip
        casts.append(r.json()["id"])
    assert _changes(ctx, shop) == []
    later = utcnow() + release.ANONYMOUS_BATCH
    assert _release(ctx, later).casts == 3
    rows: list[Any] = _changes(ctx, shop, "intent.declared")
    assert sorted(r.ref_id for r in rows) == sorted(casts)
    with ctx.db.session() as s:
        stamps = {r.released_at for r in s.exec(select(CastRecipient).where(CastRecipient.vendor_id == shop)).all()}
    assert stamps == {release.batch_boundary(later)}  # one release time for the whole batch
