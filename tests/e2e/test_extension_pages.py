"""The popup and options pages as a person sees them: what this page was recorded as, one-click "don't record this
site" and "delete this", today's gestures by category, top intents with their stage, the pairing with the vault's
address; the vault's look at popup and phone widths, without horizontal overflow. Screenshots of both are saved
(``VAULT_E2E_SCREENSHOTS``, default ``tests/e2e/screenshots/``) and shown in extension/README.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, ExtensionBrowser, Paired, dumps, leave, wait_for

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("VAULT_E2E_SCREENSHOTS", ROOT / "tests" / "e2e" / "screenshots"))


def tab_id(ext: ExtensionBrowser, url: str) -> int:
    """The browser's id of the tab showing ``url`` (what the popup asks about when opened for that tab)."""
    script = "(u) => chrome.tabs.query({}).then((ts) => ts.filter((t) => t.url === u).map((t) => t.id))"
    found = ext.control.evaluate(script, url)
    assert len(found) == 1, found
    return int(found[0])


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page is wider than its window: {width}"


def test_popup_says_what_this_page_was_recorded_as_and_acts_in_one_click(paired: Paired) -> None:
    ext, vault, shop = paired.browser, paired.vault, paired.shop
    product_url = shop.url("/p/12345-samsung-65-qled")
    tab = ext.context.new_page()
    tab.goto(shop.url("/search?q=65+inch+tv"))
    ext.wait_recorded("search")
    tab.goto(product_url)
    view = ext.wait_recorded("product_view")[0]
    tab.get_by_role("button", name="Add to basket").click()
    ext.wait_recorded("cart_add")
    tab.goto(product_url)
    ext.wait_recorded("product_view", 2)
    assert ext.sync()["status"] in {"ok", "idle"}  # the views are held until their page is left

    # The popup, for the product's tab: what it was recorded as, in words, with the shop's price.
    popup = ext.open(f"popup/popup.html?tab={tab_id(ext, product_url)}")
    popup.set_viewport_size({"width": 380, "height": 1400})  # a popup is as tall as its content: no scrollbar
    here = popup.get_by_test_id("here-item")
    expect(here.first).to_have_text('product view: Samsung QE65Q80D 65" QLED 4K Smart TV, 1,099 EUR')
    expect(popup.get_by_test_id("pair-status")).to_have_attribute("data-paired", "true")
    expect(popup.get_by_test_id("vault-address")).to_have_text(f"Paired with {vault.url}")
    groups = popup.get_by_test_id("today-group")
    expect(groups.first).to_have_attribute("data-category", "Televisions")
    expect(popup.get_by_test_id("signal-item").first).to_have_attribute("data-stage", "action", timeout=15_000)
    no_horizontal_overflow(popup)
    SHOTS.mkdir(parents=True, exist_ok=True)
    popup.screenshot(path=str(SHOTS / "extension-popup.png"), full_page=True)
    popup.set_viewport_size({"width": 320, "height": 800})
    no_horizontal_overflow(popup)

    # Delete this: every gesture recorded from this page's current view goes, in the vault too.
    recorded_here = [e["id"] for e in ext.history() if e.get("tab") and e["path"] == "/p/{id}"]
    popup.get_by_test_id("delete-here").click()
    expect(popup.get_by_test_id("message")).to_have_text("Deleted.")
    expect(popup.get_by_test_id("here-summary")).to_have_text("Nothing recorded here.")
    left = {e["id"] for e in ext.history()}
    assert not left & set(recorded_here), dumps(ext.history())
    assert view["id"] in recorded_here

    # Don't record this site: one click, the site joins the never-record list, its pages record nothing more.
    popup.get_by_test_id("never-record-site").click()
    site = shop.origin().split("//")[1].split(":")[0].removeprefix("www.")
    expect(popup.get_by_test_id("here-summary")).to_have_text(f"Never recorded: {site} is on your never-record list.")
    assert ext.send("ui:state")["state"]["never_record"] == [site]
    before = len(ext.history())
    tab.goto(shop.url("/p/23456-lg-65-oled"))
    tab.wait_for_timeout(1000)
    leave(tab, shop.url("/"))
    assert len(ext.history()) == before, dumps(ext.history())
    wait_for("the vault to lose the deleted views", lambda: not set(vault.gesture_ids()) & set(recorded_here))


def test_options_page_wears_the_vault_look_and_shows_what_is_sent(paired: Paired) -> None:
    ext, shop = paired.browser, paired.shop
    tab = ext.context.new_page()
    tab.goto(shop.url("/search?q=65+inch+tv"))
    ext.wait_recorded("search")
    options = ext.open("options/options.html")
    options.set_viewport_size({"width": 1000, "height": 900})
    expect(options.get_by_test_id("pair-status")).to_have_text("Paired")
    preview = options.get_by_test_id("queue-preview")
    expect(preview).to_contain_text('"type": "search"')
    assert options.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 251)"  # --bg
    assert options.evaluate("() => getComputedStyle(document.querySelector('.card')).borderRadius") != "0px"
    no_horizontal_overflow(options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    options.screenshot(path=str(SHOTS / "extension-options.png"), full_page=True)
    options.set_viewport_size({"width": 360, "height": 800})
    no_horizontal_overflow(options)


def test_options_page_chooses_the_terms_the_vault_proffers(paired: Paired) -> None:
    ext, vault = paired.browser, paired.vault
    options = ext.open("options/options.html")
    chooser = options.get_by_label("By default, I proffer")
    expect(chooser).to_have_value("cc-sd-offers")
    try:
        chooser.select_option(label="Service delivery only")
        expect(options.get_by_test_id("message")).to_have_text("Saved in your vault.")
        assert vault.http.get("/v1/me/terms").json()["default"] == "cc-sd-base"
        options.reload()
        expect(options.get_by_label("By default, I proffer")).to_have_value("cc-sd-base")
    finally:  # the shared vault's other tests consent under the roster's default
        r = vault.http.put("/v1/me/terms", json={"agreement_id": "cc-sd-offers"}, headers={"X-CSRF-Token": vault.csrf})
        assert r.status_code == 200, r.text
