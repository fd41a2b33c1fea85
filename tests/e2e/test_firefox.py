"""The extension in real Firefox (Debian's firefox-esr), driven over Marionette by extension/tests/firefox/smoke.mjs.

playwright's Firefox is a patched build that Debian's firefox-esr is not, and Debian packages no geckodriver, so
the smoke script speaks Marionette (the protocol geckodriver itself uses) from Node: install the Firefox build as a
temporary add-on, grant its host access as a person does when Firefox asks, visit a product page and a page that is
not a shop, then read the popup's "recorded today" list.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import EXTENSION, Shop

FIREFOX = os.environ.get("VAULT_E2E_FIREFOX", "/usr/bin/firefox-esr")


def test_firefox_records_a_product_view_and_nothing_from_other_pages(
    extension_dir: Path, shop: Shop, tmp_path: Path
) -> None:
    if not Path(FIREFOX).is_file():
        pytest.fail(f"{FIREFOX} is missing: apt-get install firefox-esr (scripts/test.sh installs it)")
    built = EXTENSION / "dist" / "firefox"  # extension_dir rebuilt both trees when stale
    tree = tmp_path / "firefox"
    shutil.copytree(built, tree)
    done = subprocess.run(
        [
            "node",
            str(EXTENSION / "tests" / "firefox" / "smoke.mjs"),
            "--firefox",
            FIREFOX,
            "--extension",
            str(tree),
            "--product",
            shop.url("/p/12345-samsung-65-qled"),
            "--other",
            shop.url("/about-us"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no answer from the Firefox smoke run:\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert "error" not in result, f"{result['error']}\n{done.stderr[-3000:]}"
    assert result["popup"] == "Not paired"
    assert result["today"] == ["product_view"], done.stderr[-3000:]
    assert done.returncode == 0
