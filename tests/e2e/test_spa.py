"""Single-page shops: views reached with ``history.pushState`` (no page load) are recorded like loaded pages.

The extension leaves nothing in a tab whose page is not a shop (no listener, no global); the background hears of
each same-document navigation (``webNavigation.onHistoryStateUpdated``) and, after the new view rendered, tells the
analyser, loads it for a shopping URL, or runs the first look again. The fixture shop's pages are swapped in by
script as an SPA router does, starting from a page that is not a shop (the shop's 404 page). Chromium here; the same
scenario runs in Firefox in test_firefox.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import FIXTURES, ExtensionControl, Paired, Shop, dumps

pytestmark = pytest.mark.e2e

# What an SPA router does: render the new view (here: a fixture page's head and body), then push its URL.
SWAP = """
const doc = new DOMParser().parseFromString(html, 'text/html');
document.head.replaceWith(doc.head);
document.body.replaceWith(doc.body);
history.pushState({}, '', path);
"""


def spa_trip(ext: ExtensionControl, shop: Shop, goto: Callable[[str], None], swap: Callable[[str, str], Any]) -> None:
    """A page that is not a shop, then two product views and a search reached by pushState, none by a load."""
    product = (FIXTURES / "product-23456.html").read_text("utf-8")
    other = (FIXTURES / "product-12345.html").read_text("utf-8")
    search = (FIXTURES / "search.html").read_text("utf-8")
    goto(shop.url("/app"))  # the shop's 404 page: nothing of the extension stays in the tab
    swap(product, "/p/23456-lg-65-oled")  # no analyser in the tab yet: the first look runs again
    ext.wait_recorded("product_view", 1, timeout=20)
    swap(other, "/p/12345-samsung-65-qled")  # the analyser runs now: it is told
    ext.wait_recorded("product_view", 2, timeout=20)
    goto(shop.url("/app"))
    swap(search, "/search?q=65+inch+tv")  # a shopping URL: the background loads the analyser by URL
    ext.wait_recorded("search", 1, timeout=20)
    history = ext.history()
    views = [e for e in history if e["type"] == "product_view"]
    assert [v.get("brand") for v in views] == ["LG", "Samsung"], dumps(history)
    assert all(v["path"] == "/p/{id}" for v in views), dumps(views)
    assert [e["label"] for e in history if e["type"] == "search"] == ["65 inch tv"], dumps(history)


def test_spa_views_reached_by_push_state_are_recorded(paired: Paired) -> None:
    tab = paired.browser.context.new_page()
    spa_trip(
        paired.browser,
        paired.shop,
        lambda url: tab.goto(url) and None,
        lambda html, path: tab.evaluate(f"([html, path]) => {{ {SWAP} }}", [html, path]),
    )
