"""Deleting a gesture in the popup deletes it in the vault (or, when it was not sent yet, keeps it from being sent)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Paired, dumps

pytestmark = pytest.mark.e2e


def test_delete_in_the_popup_deletes_on_the_server(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    tab = ext.context.new_page()
    tab.goto(shop.url("/search?q=65+inch+tv"))
    search = ext.wait_recorded("search")[0]
    tab.goto(shop.url("/p/12345-samsung-65-qled"))
    view = ext.wait_recorded("product_view")[0]
    tab.goto(shop.url("/"))
    ext.wait_released([view["id"]])
    assert ext.sync()["status"] == "ok"
    vault.wait_for_gestures([search["id"], view["id"]])

    popup = ext.open("popup/popup.html")
    item = popup.locator(f'[data-testid="today-item"][data-id="{view["id"]}"]')
    expect(item).to_have_attribute("data-type", "product_view")
    item.get_by_test_id("delete-gesture").click()
    expect(popup.get_by_test_id("message")).to_have_text("Deleted.")
    expect(item).to_have_count(0)
    expect(popup.locator(f'[data-testid="today-item"][data-id="{search["id"]}"]')).to_have_count(1)

    # The popup reports "Deleted." only after the vault answered the DELETE.
    assert vault.gesture_ids() == [search["id"]], dumps(vault.gestures())


def test_delete_before_sending_keeps_it_from_the_vault(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    tab = ext.context.new_page()
    tab.goto(shop.url("/p/23456-lg-65-oled"))
    view = ext.wait_recorded("product_view")[0]

    # Still on the page (the view is queued, not sent): delete it in the popup.
    popup = ext.open("popup/popup.html")
    popup.locator(f'[data-testid="today-item"][data-id="{view["id"]}"]').get_by_test_id("delete-gesture").click()
    expect(popup.get_by_test_id("message")).to_have_text("Deleted.")
    assert view["id"] not in [e["id"] for e in ext.queue()]

    # Leave the page and search (a canary that is sent): the deleted view never reaches the vault.
    tab.goto(shop.url("/search?q=oled+tv"))
    search = ext.wait_recorded("search")[0]
    tab.close()
    assert ext.sync()["status"] == "ok"
    vault.wait_for_gestures([search["id"]])
    assert vault.gesture_ids() == [search["id"]], dumps(vault.gestures())
