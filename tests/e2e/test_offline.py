"""Offline, then a lost response, then online: every gesture reaches the vault exactly once."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Route, expect

from tests.e2e.conftest import Paired, dumps, leave

pytestmark = pytest.mark.e2e


def test_offline_then_online_delivers_everything_once(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    context = ext.context
    gestures_url = f"{vault.url}/v1/gestures"
    posts: list[str] = []  # what happened to each POST /v1/gestures the extension made

    # 1. The vault is unreachable while the consumer shops (the pages themselves load).
    def unreachable(route: Route) -> None:
        posts.append("unreachable")
        route.abort("internetdisconnected")

    context.route(gestures_url, unreachable)
    tab = context.new_page()
    tab.goto(shop.url("/search?q=65+inch+tv"))
    ext.wait_recorded("search")
    tab.goto(shop.url("/p/12345-samsung-65-qled"))
    ext.wait_recorded("product_view")
    tab.get_by_role("button", name="Add to basket").click()
    expect(tab).to_have_url(shop.url("/cart"))
    ext.wait_recorded("page_view")
    tab.goto(shop.url("/p/23456-lg-65-oled"))
    ext.wait_recorded("product_view", 2)
    leave(tab, shop.url("/"))
    ids = [e["id"] for e in ext.history()]
    assert sorted(e["type"] for e in ext.history()) == [
        "cart_add",
        "page_view",
        "product_view",
        "product_view",
        "search",
    ], dumps(ext.history())
    ext.wait_released(ids)

    result = ext.sync()
    assert result["status"] == "offline", result
    assert "unreachable" in posts
    assert sorted(e["id"] for e in ext.queue()) == sorted(ids), "nothing leaves the queue without an answer"
    sync_state = ext.storage("sync_state")
    assert sync_state["backoff_ms"] >= 30_000 and sync_state["last_error"], sync_state
    assert vault.gesture_ids() == []

    # 2. The browser is offline altogether: still nothing sent, still nothing lost.
    context.unroute(gestures_url)
    context.set_offline(True)
    try:
        assert ext.sync()["status"] == "offline"
    finally:
        context.set_offline(False)
    assert sorted(e["id"] for e in ext.queue()) == sorted(ids)
    assert vault.gesture_ids() == []

    # 3. Back online, but the vault's answer is lost on the way back: the vault stored the batch, the extension
    #    does not know and keeps it.
    stored_first: list[dict[str, Any]] = []

    def answer_lost(route: Route) -> None:
        response = route.fetch()
        stored_first.extend(json.loads(response.text())["results"])
        posts.append("answer lost")
        route.abort("connectionreset")

    context.route(gestures_url, answer_lost)
    assert ext.sync()["status"] == "offline"
    context.unroute(gestures_url)
    assert sorted(r["id"] for r in stored_first) == sorted(ids)
    assert {r["status"] for r in stored_first} == {"accepted"}, stored_first
    assert sorted(e["id"] for e in ext.queue()) == sorted(ids)

    # 4. Online: the resend is answered "duplicate" for every id; the queue empties; the vault holds each id once.
    answered: list[dict[str, Any]] = []

    def online(route: Route) -> None:
        response = route.fetch()
        answered.extend(json.loads(response.text())["results"])
        posts.append("online")
        route.fulfill(response=response)

    context.route(gestures_url, online)
    result = ext.sync()
    assert result["status"] == "ok", result
    assert result["duplicate"] == len(ids) and result["accepted"] == 0, result
    assert sorted(r["id"] for r in answered) == sorted(ids)
    assert {r["status"] for r in answered} == {"duplicate"}, answered
    assert ext.queue() == []
    assert ext.storage("sync_state")["backoff_ms"] == 0

    stored = vault.gestures()
    counts = Counter(g["id"] for g in stored)
    assert counts == Counter(ids), dumps(stored)
    assert sorted(str(g["type"]) for g in stored) == ["cart_add", "page_view", "product_view", "product_view", "search"]
