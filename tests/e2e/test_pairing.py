"""Pairing the extension with a live vault through the device authorization grant (RFC 8628), as a person does,
and unpairing it from the vault."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    ExtensionBrowser,
    Paired,
    Vault,
    decide_on_device_page,
    dumps,
    log_in_to_device_page,
    start_pairing,
)

pytestmark = pytest.mark.e2e


def test_pairing_through_the_device_page_and_unpairing_in_the_vault(fresh_paired: Paired) -> None:
    ext, vault, shop = fresh_paired.browser, fresh_paired.vault, fresh_paired.shop
    state = ext.send("ui:state")["state"]
    assert state["paired"] is True
    assert state["vault_url"] == vault.url
    # Right after pairing the extension read the consumer's settings with its new token.
    assert ext.storage("settings")["vault_settings"]["paused"] is False

    r = vault.http.get("/v1/me/devices")
    assert r.status_code == 200, r.text
    devices = r.json()
    assert len(devices) == 1, dumps(devices)
    device = devices[0]
    assert device["client_id"] == "intent-vault-extension"
    assert device["name"] == "Browser extension"
    assert sorted(device["scopes"]) == ["gestures:write", "signals:read:self", "terms:self"]
    assert device["revoked_at"] is None

    # Unpair in the vault: the extension's tokens stop at once; it notices on its next send, unpairs itself and
    # keeps what it had not sent yet.
    r = vault.http.delete(f"/v1/me/devices/{device['id']}", headers={"X-CSRF-Token": vault.csrf})
    assert r.status_code == 204, r.text
    tab = ext.context.new_page()
    tab.goto(shop.url("/search?q=65+inch+tv"))
    search = ext.wait_recorded("search")[0]
    tab.close()
    result = ext.sync()
    assert result["status"] == "unpaired", result
    assert [e["id"] for e in ext.queue()] == [search["id"]]
    assert vault.gesture_ids() == []
    options = fresh_paired.options
    options.reload()
    expect(options.get_by_test_id("pair-status")).to_have_attribute("data-paired", "false")
    expect(options.get_by_test_id("pair-button")).to_have_text("Pair with vault")


def test_pairing_denied_in_the_vault_leaves_the_extension_unpaired(browser: ExtensionBrowser, vault: Vault) -> None:
    device = log_in_to_device_page(browser, vault)
    options, user_code = start_pairing(browser, vault)
    decide_on_device_page(device, user_code, approve=False)
    expect(options.get_by_test_id("message")).to_have_text("Pairing was refused in the vault.", timeout=20_000)
    expect(options.get_by_test_id("pairing")).to_be_hidden()
    expect(options.get_by_test_id("pair-status")).to_have_attribute("data-paired", "false")
    state = browser.send("ui:state")["state"]
    assert state["paired"] is False and state["pairing"]["status"] == "denied", dumps(state)
    r = vault.http.get("/v1/me/devices")
    assert r.status_code == 200 and r.json() == [], r.text
