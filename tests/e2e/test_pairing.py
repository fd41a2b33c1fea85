"""Pairing the extension with a live vault through the device authorization grant (RFC 8628), as a person does."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Paired

pytestmark = pytest.mark.e2e


def test_pairing_through_the_device_page(paired: Paired) -> None:
    state = paired.browser.send("ui:state")["state"]
    assert state["paired"] is True
    assert state["vault_url"] == paired.vault.url
    # The token the extension got works against the vault as the same consumer: settings come back.
    settings = paired.browser.storage("settings")
    assert settings["vault_settings"]["paused"] is False
