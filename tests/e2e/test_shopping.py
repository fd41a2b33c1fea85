"""A TV shopping trip in a real browser reaches the vault as minimised, classified gestures and an action signal."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Paired, dumps, leave

pytestmark = pytest.mark.e2e

ACTION_OR_BEYOND = {"action", "relationship"}


def test_search_views_cart_reach_the_vault_as_a_tv_signal_at_action(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    tab = ext.context.new_page()

    # Search on the shop, open a result, search again and look at another TV, come back to the first one and put
    # it in the basket.
    tab.goto(shop.url("/search?q=65+inch+tv&sort=relevance"))
    ext.wait_recorded("search")
    tab.get_by_role("link", name="Samsung QE65Q80D").click()
    ext.wait_recorded("product_view", 1)
    tab.get_by_role("searchbox", name="Search").fill("65 inch tv")
    tab.get_by_role("searchbox", name="Search").press("Enter")
    ext.wait_recorded("search", 2)
    tab.get_by_role("link", name="LG OLED65C44LA").click()
    ext.wait_recorded("product_view", 2)
    tab.goto(shop.url("/p/12345-samsung-65-qled"))
    ext.wait_recorded("product_view", 3)
    tab.mouse.wheel(0, 600)
    tab.get_by_role("button", name="Add to basket").click()
    expect(tab).to_have_url(shop.url("/cart"))
    ext.wait_recorded("cart_add")
    ext.wait_recorded("page_view")
    # Leave: the cart page's engagement is final once the page is gone.
    leave(tab, shop.url("/"))

    recorded = ext.history()
    ids = [e["id"] for e in recorded]
    assert [e["type"] for e in recorded] == [
        "search",
        "product_view",
        "search",
        "product_view",
        "product_view",
        "cart_add",
        "page_view",
    ], dumps(recorded)
    ext.wait_released(ids)

    # Send now, from the popup, as the consumer would.
    popup = ext.open("popup/popup.html")
    expect(popup.get_by_test_id("pair-status")).to_have_attribute("data-paired", "true")
    popup.get_by_test_id("sync-now").click()
    expect(popup.get_by_test_id("message")).to_have_text("Sync: ok")
    assert ext.queue() == []

    stored = vault.wait_for_gestures(ids)
    assert set(stored) == set(ids), "only what was recorded reaches the vault"
    by_type: dict[str, list[dict[str, object]]] = {}
    for g in stored.values():
        by_type.setdefault(str(g["type"]), []).append(g)
    assert sorted(by_type) == ["cart_add", "page_view", "product_view", "search"]
    assert len(by_type["product_view"]) == 3
    for type_ in ("search", "product_view", "cart_add"):
        for g in by_type[type_]:
            assert g["category"] == "electronics.tv", dumps(g)

    assert len(by_type["search"]) == 2
    for g in by_type["search"]:
        search = g["event"]
        assert isinstance(search, dict)
        assert search["query"] == "65 inch tv"
        assert search["origin"] == shop.origin()
        assert search["path"] == "/search", "no query string, only the recognised search term"

    views = [g["event"] for g in by_type["product_view"]]
    for ev in views:
        assert isinstance(ev, dict)
        assert ev["path"] == "/p/{id}", "product slugs are templated away"
        assert isinstance(ev.get("dwell_ms"), int) and ev["dwell_ms"] > 0, f"dwell recorded on leaving: {dumps(ev)}"
        assert 0 < ev["scroll"] <= 1, dumps(ev)
    brands = sorted(str(ev["product"]["brand"]) for ev in views if isinstance(ev, dict))
    assert brands == ["LG", "Samsung", "Samsung"], dumps(views)
    samsung = next(ev for ev in views if isinstance(ev, dict) and ev["product"]["name"].startswith("Samsung"))
    assert samsung["product"]["brand"] == "Samsung"
    assert samsung["product"]["price"] == 1099
    assert samsung["product"]["currency"] == "EUR"

    cart_page = by_type["page_view"][0]["event"]
    assert isinstance(cart_page, dict)
    assert cart_page["path"] == "/cart"
    assert cart_page["value"] == 1099

    # The vault derived the intent: a TV, ready to buy.
    signals = {s["category"]: s for s in vault.signals()}
    assert "electronics.tv" in signals, dumps(signals)
    tv = signals["electronics.tv"]
    assert tv["stage"] in ACTION_OR_BEYOND, dumps(tv)
    assert "Samsung" in tv["brands"], dumps(tv)

    # The popup shows the same intent once it reads the vault.
    popup.reload()
    item = popup.get_by_test_id("signal-item").and_(popup.locator('[data-category="electronics.tv"]'))
    expect(item).to_have_attribute("data-stage", tv["stage"])
