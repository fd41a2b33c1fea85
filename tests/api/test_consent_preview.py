"""The consent preview follows the consumer's narrowing: without script, "Update the preview" re-renders the
screen with the choices kept and the preview narrowed (the page's script does the same live; tests/e2e)."""

from __future__ import annotations

import re

from vault_server.context import VaultContext

from ..conftest import LiveServer
from .test_oauth_flow import _personal_token
from .test_oauth_support import (
    approved_vendor,
    authorize_params,
    browser,
    consent_form,
    consent_page,
    consumer_browser,
    pkce_pair,
    post_form,
    record_gestures,
    submit_values,
)


def _preview(html: str, category: str) -> str:
    match = re.search(
        rf'<div class="preview" data-preview data-testid="preview-{re.escape(category)}"[^>]*>(.*?)</div>', html, re.S
    )
    assert match, html[:3000]
    return match.group(0)


def test_update_the_preview_narrows_it_and_keeps_the_choices(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor = approved_vendor(browser(live_server.url), ctx)
    consumer = consumer_browser(live_server.url)
    record_gestures(consumer, _personal_token(consumer))
    params = authorize_params(vendor["client_id"], pkce_pair()[1])
    page = consent_page(consumer, params)
    assert page.status_code == 200
    tv = _preview(page.text, "electronics.tv")
    assert "hidden" not in tv.split(">", 1)[0] and "Samsung" in tv
    assert re.search(r'<span data-field="brand">', tv)  # brands shown while ticked
    assert 'src="/static/consent.js"' in page.text

    values = submit_values(
        consent_form(page),
        button=("decision", "preview"),
        uncheck={("d0.cat", "electronics.headphones"), ("d0.field", "brand")},
        set_values={"d0.min_stage": "relationship"},
    )
    again = post_form(consumer, "/oauth/authorize", values)
    assert again.status_code == 200, again.text[:500]
    tv = _preview(again.text, "electronics.tv")
    assert re.search(r'<span data-field="brand" hidden>', tv)  # the unticked field is no longer in the preview
    assert re.search(r'<li data-stage-rank="\d" hidden>', tv)  # below the chosen stage: not shared
    assert "Nothing here is at or past the stage you chose yet." in tv
    assert 'data-testid="preview-electronics.headphones" hidden' in again.text  # the unticked category
    controls = {(c.get("name"), c.get("value")): c for c in consent_form(again)["controls"]}
    assert not controls[("d0.cat", "electronics.headphones")]["checked"]
    assert not controls[("d0.field", "brand")]["checked"] and controls[("d0.field", "score")]["checked"]
    assert 'value="relationship" data-rank="4" selected' in again.text

    # previewing decided nothing: the request can still be approved, narrowed as shown
    values = submit_values(consent_form(again), button=("decision", "approve"))
    done = post_form(consumer, "/oauth/authorize", values)
    assert done.status_code == 303 and "code=" in done.headers["location"]
