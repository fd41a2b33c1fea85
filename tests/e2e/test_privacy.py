"""What is never recorded: nothing while paused, nothing from a site on the never-record list."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import MARKET_HOST, ExtensionBrowser, Paired, Shop, dumps, leave, wait_for

pytestmark = pytest.mark.e2e

# How long a page is given for the content script to ask the background and report (the shopping test shows it
# takes well under 200 ms); only used where the expected outcome is that nothing happens.
SETTLE_S = 1.0


def settle(tab: Page) -> None:
    tab.wait_for_load_state("load")
    tab.wait_for_timeout(SETTLE_S * 1000)


def canary(ext: ExtensionBrowser, shop: Shop) -> str:
    """View a product on the shop and leave: proves recording works right after the step under test."""
    before = len([e for e in ext.history() if e["type"] == "product_view"])
    tab = ext.context.new_page()
    tab.goto(shop.url("/p/12345-samsung-65-qled"))
    view = ext.wait_recorded("product_view", before + 1)[-1]
    leave(tab, shop.url("/"))
    ext.wait_released([view["id"]])
    return str(view["id"])


def test_pause_in_the_popup_stops_recording(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    popup = ext.open("popup/popup.html")
    toggle = popup.get_by_test_id("pause-toggle")
    expect(toggle).not_to_be_checked()
    toggle.check()
    wait_for("the background to store the pause", lambda: ext.send("ui:state")["state"]["paused"])
    popup.reload()
    expect(popup.get_by_test_id("pause-toggle")).to_be_checked()

    # While paused: a product view and an add-to-cart click on the shop.
    tab = ext.context.new_page()
    tab.goto(shop.url("/p/23456-lg-65-oled"))
    settle(tab)
    tab.get_by_role("button", name="Add to cart").click()
    expect(tab).to_have_url(shop.url("/cart"))
    settle(tab)
    tab.close()
    assert ext.history() == [], dumps(ext.history())
    assert ext.queue() == []

    # Resume in the popup; the next view is recorded and sent, the paused ones never are.
    popup.get_by_test_id("pause-toggle").uncheck()
    wait_for("the background to store the resume", lambda: not ext.send("ui:state")["state"]["paused"])
    seen = canary(ext, shop)
    assert ext.sync()["status"] == "ok"
    stored = vault.wait_for_gestures([seen])
    assert list(stored) == [seen], dumps(stored)
    assert stored[seen]["event"]["product"]["brand"] == "Samsung"


def test_pause_in_the_vault_stops_recording_in_the_browser(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    vault.set_paused(True)
    # The popup reads the vault's settings when it opens; the next time it shows the vault's pause.
    popup = ext.open("popup/popup.html")
    wait_for("the extension to learn the vault's pause", lambda: ext.storage("settings")["vault_settings"]["paused"])
    popup.reload()
    expect(popup.get_by_test_id("vault-paused")).to_be_visible()

    tab = ext.context.new_page()
    tab.goto(shop.url("/search?q=65+inch+tv"))
    settle(tab)
    tab.goto(shop.url("/p/12345-samsung-65-qled"))
    settle(tab)
    tab.close()
    assert ext.history() == [], dumps(ext.history())

    vault.set_paused(False)
    popup.reload()
    wait_for("the extension to learn the resume", lambda: not ext.storage("settings")["vault_settings"]["paused"])
    seen = canary(ext, shop)
    assert ext.sync()["status"] == "ok"
    assert list(vault.wait_for_gestures([seen])) == [seen]


def test_never_record_site_records_nothing(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    listing = shop.url("/listing/98765-sony-bravia-65", host=MARKET_HOST)

    # A classifieds listing is open (its view is held in the queue while the tab is open) ...
    tab = ext.context.new_page()
    tab.goto(listing)
    held = ext.wait_recorded("product_view")[0]
    assert held["origin"] == shop.origin(MARKET_HOST)
    assert [e["id"] for e in ext.queue()] == [held["id"]]

    # ... when the consumer adds the site to the never-record list in the options page.
    options = paired.options
    options.get_by_test_id("never-record-input").fill(MARKET_HOST)
    options.get_by_test_id("never-record-add").click()
    expect(options.locator(f'[data-testid="never-record-item"][data-site="{MARKET_HOST}"]')).to_be_visible()
    wait_for("the queued listing view to be dropped", lambda: ext.queue() == [])

    # Clicks on the open page, a reload and another visit: nothing more is recorded for that site.
    tab.get_by_role("button", name="Buy now").click()
    settle(tab)
    tab.reload()
    settle(tab)
    tab.goto(shop.url("/", host=MARKET_HOST))
    tab.goto(listing)
    settle(tab)
    tab.close()
    assert [e["id"] for e in ext.history() if MARKET_HOST in e["origin"]] == [held["id"]], dumps(ext.history())
    assert ext.queue() == []

    # The shop is still recorded; the vault receives it and nothing from the never-record site.
    seen = canary(ext, shop)
    assert ext.sync()["status"] == "ok"
    stored = vault.wait_for_gestures([seen])
    assert [g["event"]["origin"] for g in stored.values()] == [shop.origin()], dumps(stored)
