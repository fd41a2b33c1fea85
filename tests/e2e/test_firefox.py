"""The extension's end-to-end scenarios in real Firefox (Debian's firefox-esr, the Firefox build of the extension),
against the same live vault and fixture shop as the Chromium scenarios: pair through the options page and the vault's
``/device`` page, shop to the action stage, pause, never-record, delete in the popup, and offline -> online with
every gesture stored exactly once.

Driven over Marionette (tests/e2e/firefox.py says why). One Firefox for the module, paired once (through a
``VaultGate`` in front of the vault, so a test can take the vault away) as a second consumer of the shared vault; each
test starts from a clean slate like the Chromium ``paired`` fixture.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import (
    EXTENSION,
    LOCAL_STATE,
    MARKET_HOST,
    SHOP_HOST,
    Shop,
    Vault,
    _consumer,
    dumps,
    wait_for,
)
from tests.e2e.firefox import FirefoxExtension, VaultGate, firefox_with_extension
from tests.e2e.test_spa import SWAP, spa_trip

pytestmark = pytest.mark.e2e

FIREFOX_CONSUMER = "sam@example.com"
SETTLE_S = 1.0  # only where the expected outcome is that nothing happens (see test_privacy.py)


@dataclass
class FirefoxPaired:
    ff: FirefoxExtension
    vault: Vault
    gate: VaultGate
    shop: Shop


@pytest.fixture(scope="module")
def firefox_vault(shared_vault: Vault) -> Iterator[Vault]:
    """A second consumer of the shared live vault: Chromium's consumer is never touched."""
    yield from _consumer(shared_vault.server, FIREFOX_CONSUMER)


@pytest.fixture(scope="module")
def firefox_paired(
    extension_dir: Path, firefox_vault: Vault, shop: Shop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirefoxPaired]:
    del extension_dir  # rebuilt both trees when stale; Firefox installs the Firefox one
    gate = VaultGate(firefox_vault.url)
    try:
        with firefox_with_extension(
            EXTENSION / "dist" / "firefox", tmp_path_factory.mktemp("firefox"), [SHOP_HOST, MARKET_HOST]
        ) as ff:
            pair_in_firefox(ff, gate.url, firefox_vault)
            yield FirefoxPaired(ff=ff, vault=firefox_vault, gate=gate, shop=shop)
    finally:
        gate.close()


def pair_in_firefox(ff: FirefoxExtension, vault_url: str, vault: Vault) -> None:
    """As a person does: the vault's address and *Pair* in the options page, the code typed into ``/device``."""
    ff.switch(ff.control)
    assert ff.attr("[data-testid=pair-status]", "data-paired") == "false"
    ff.fill("[data-testid=vault-url]", vault_url)
    ff.click("[data-testid=save-vault-url]")
    ff.wait_text("[data-testid=message]", "Saved.")
    ff.click("[data-testid=pair-button]")
    # the background (an event page in Firefox) may be starting up on a loaded machine: allow it time
    wait_for("the user code", lambda: ff.text("[data-testid=user-code]") or None, 30)
    code = str(ff.text("[data-testid=user-code]"))
    assert "/device?user_code=" in str(ff.attr("[data-testid=verification-link]", "href"))

    device = ff.new_tab(f"{vault_url}/device")
    assert "/login" in ff.url(), ff.url()
    ff.fill_label("E-mail", vault.email)
    ff.fill_label("Password", PASSWORD)
    ff.click_button("Log in")
    wait_for("the /device page after logging in", lambda: ff.url().endswith("/device") or None)
    ff.fill_label("Code shown by the extension", code.lower().replace("-", " "))
    ff.click_button("Continue")
    wait_for(
        "the code to confirm", lambda: ff.text("[data-testid=device-confirm] [data-testid=user-code]") == code or None
    )
    ff.click("[data-testid=device-approve]")
    wait_for("Device paired", lambda: "Device paired" in (ff.js("return document.body.textContent") or "") or None)
    ff.close_tab(device)
    ff.switch(ff.control)
    wait_for(
        "the options page to say Paired",
        lambda: ff.attr("[data-testid=pair-status]", "data-paired") == "true" or None,
        timeout=30,
    )


@pytest.fixture
def fx(firefox_paired: FirefoxPaired) -> FirefoxPaired:
    """A clean slate for each test, keeping the pairing (what ``reset`` does for Chromium)."""
    ff, vault, gate = firefox_paired.ff, firefox_paired.vault, firefox_paired.gate
    ff.close_other_tabs()
    gate.set("open")
    vault.set_paused(False)
    assert ff.send("ui:pause", paused=False)["ok"]
    assert ff.send("ui:settings:save", never_record=[], opt_in_categories=[])["ok"]
    assert ff.send("ui:remote")["ok"]
    ff.remove_storage(LOCAL_STATE)
    vault.delete_all_gestures()
    state = ff.send("ui:state")["state"]
    assert state["paired"] and not state["paused"] and state["queued"] == 0 and state["today"] == [], dumps(state)
    ff.tab = ff.new_tab()
    return firefox_paired


def leave_ff(ff: FirefoxExtension, to: str) -> None:
    ff.switch(ff.tab)
    ff.goto(to)
    ff.close_tab(ff.tab)


def shop_trip(ff: FirefoxExtension, shop: Shop) -> list[str]:
    """Search, two product views, add to basket (to the cart page), leave: the gestures' ids, released."""
    ff.switch(ff.tab)
    ff.goto(shop.url("/search?q=65+inch+tv&sort=relevance"))
    ff.wait_recorded("search")
    ff.goto(shop.url("/p/23456-lg-65-oled"))
    ff.wait_recorded("product_view", 1)
    ff.goto(shop.url("/p/12345-samsung-65-qled"))
    ff.wait_recorded("product_view", 2)
    ff.js("window.scrollBy(0, 600)")
    ff.click_button("Add to basket")
    wait_for("the cart page", lambda: ff.url() == shop.url("/cart") or None)
    ff.wait_recorded("cart_add")
    ff.wait_recorded("page_view")
    leave_ff(ff, shop.url("/"))
    ids = [e["id"] for e in ff.history()]
    ff.wait_released(ids)
    return ids


def test_firefox_pairs_with_the_vault(fx: FirefoxPaired) -> None:
    state = fx.ff.send("ui:state")["state"]
    assert state["paired"] is True and state["vault_url"] == fx.gate.url
    r = fx.vault.http.get("/v1/me/devices")
    assert r.status_code == 200, r.text
    assert [d["client_id"] for d in r.json() if d["revoked_at"] is None] == ["intent-vault-extension"]


def test_firefox_shopping_trip_reaches_the_action_stage(fx: FirefoxPaired) -> None:
    ff, vault, shop = fx.ff, fx.vault, fx.shop
    ids = shop_trip(ff, shop)
    assert [e["type"] for e in ff.history()] == ["search", "product_view", "product_view", "cart_add", "page_view"]
    assert ff.sync()["status"] == "ok"
    stored = vault.wait_for_gestures(ids)
    views = [g["event"] for g in stored.values() if g["type"] == "product_view"]
    assert sorted(v["product"]["brand"] for v in views) == ["LG", "Samsung"], dumps(views)
    assert all(v["path"] == "/p/{id}" and v["dwell_ms"] > 0 for v in views), dumps(views)
    assert {g["category"] for g in stored.values() if g["type"] != "page_view"} == {"electronics.tv"}
    tv = {s["category"]: s for s in vault.signals()}["electronics.tv"]
    assert tv["stage"] in {"action", "relationship"}, dumps(tv)

    # The popup (for the product's tab) reads the same intent from the vault.
    ff.open_extension_page("popup/popup.html")
    wait_for(
        "the popup's TV intent",
        lambda: (
            ff.attr('[data-testid=signal-item][data-category="electronics.tv"]', "data-stage") == tv["stage"] or None
        ),
    )
    assert ff.attr("[data-testid=pair-status]", "data-paired") == "true"
    assert ff.text("[data-testid=vault-address]") == f"Paired with {fx.gate.url}"
    ff.close_tab(ff.current)


def test_firefox_pause_records_nothing(fx: FirefoxPaired) -> None:
    ff, shop = fx.ff, fx.shop
    popup = ff.open_extension_page("popup/popup.html")
    ff.click("[data-testid=pause-toggle]")
    wait_for("the pause", lambda: ff.send("ui:state")["state"]["paused"] or None)
    ff.close_tab(popup)
    ff.switch(ff.tab)
    ff.goto(shop.url("/p/23456-lg-65-oled"))
    time.sleep(SETTLE_S)
    ff.goto(shop.url("/search?q=oled+tv"))
    time.sleep(SETTLE_S)
    assert ff.history() == [] and ff.queue() == [], dumps(ff.history())
    assert ff.send("ui:pause", paused=False)["ok"]
    ff.goto(shop.url("/p/12345-samsung-65-qled"))
    assert ff.wait_recorded("product_view")[0]["origin"] == shop.origin()


def test_firefox_never_record_site(fx: FirefoxPaired) -> None:
    ff, vault, shop = fx.ff, fx.vault, fx.shop
    ff.switch(ff.control)
    ff.fill("[data-testid=never-record-input]", MARKET_HOST)
    ff.click("[data-testid=never-record-add]")
    wait_for("the site listed", lambda: ff.attr(f'[data-site="{MARKET_HOST}"]', "data-testid") or None)
    ff.switch(ff.tab)
    ff.goto(shop.url("/listing/98765-sony-bravia-65", host=MARKET_HOST))
    time.sleep(SETTLE_S)
    ff.goto(shop.url("/", host=MARKET_HOST))
    time.sleep(SETTLE_S)
    assert ff.history() == [], dumps(ff.history())
    ff.goto(shop.url("/search?q=65+inch+tv"))
    search = ff.wait_recorded("search")[0]
    assert ff.sync()["status"] == "ok"
    assert list(vault.wait_for_gestures([search["id"]])) == [search["id"]]
    assert vault.gesture_ids() == [search["id"]]


def test_firefox_delete_in_the_popup_deletes_in_the_vault(fx: FirefoxPaired) -> None:
    ff, vault, shop = fx.ff, fx.vault, fx.shop
    ff.switch(ff.tab)
    ff.goto(shop.url("/search?q=65+inch+tv"))
    search = ff.wait_recorded("search")[0]
    ff.goto(shop.url("/p/12345-samsung-65-qled"))
    view = ff.wait_recorded("product_view")[0]
    ff.goto(shop.url("/"))
    ff.wait_released([view["id"]])
    assert ff.sync()["status"] == "ok"
    vault.wait_for_gestures([search["id"], view["id"]])
    popup = ff.open_extension_page("popup/popup.html")
    ff.click(f'[data-testid=today-item][data-id="{view["id"]}"] [data-testid=delete-gesture]')
    ff.wait_text("[data-testid=message]", "Deleted.")
    assert ff.js("return document.querySelectorAll('[data-testid=today-item]').length") == 1
    ff.close_tab(popup)
    assert vault.gesture_ids() == [search["id"]], dumps(vault.gestures())


def test_firefox_offline_then_online_stores_everything_exactly_once(fx: FirefoxPaired) -> None:
    ff, vault, gate, shop = fx.ff, fx.vault, fx.gate, fx.shop
    gate.set("down")  # the vault unreachable while the consumer shops
    ids = shop_trip(ff, shop)
    result = ff.sync()
    assert result["status"] == "offline", result
    assert sorted(e["id"] for e in ff.queue()) == sorted(ids)
    assert ff.storage("sync_state")["backoff_ms"] >= 30_000
    assert vault.gesture_ids() == []

    gate.set("answer_lost")  # the vault stores the batch; its answer never arrives
    assert ff.sync()["status"] == "offline"
    assert sorted(r["id"] for r in gate.lost) == sorted(ids)
    assert {r["status"] for r in gate.lost} == {"accepted"}
    assert sorted(e["id"] for e in ff.queue()) == sorted(ids), "nothing leaves the queue without an answer"

    gate.set("open")  # online: the resend is a duplicate for every id, and the queue empties
    result = ff.sync()
    assert result["status"] == "ok" and result["duplicate"] == len(ids) and result["accepted"] == 0, result
    assert ff.queue() == []
    assert Counter(vault.gesture_ids()) == Counter(ids), dumps(vault.gestures())
    assert gate.posts.count("down") >= 1 and gate.posts.count("answer_lost") == 1


def test_firefox_spa_views_reached_by_push_state_are_recorded(fx: FirefoxPaired) -> None:
    ff = fx.ff
    ff.switch(ff.tab)
    spa_trip(ff, fx.shop, ff.goto, lambda html, path: ff.js(f"const [html, path] = arguments; {SWAP}", html, path))
