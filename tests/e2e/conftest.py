"""Real-browser end-to-end fixtures: Debian's chromium with the unpacked extension, a live vault, a fixture shop.

* ``extension_dir`` — ``extension/dist/chrome``, rebuilt with ``npm run build`` when missing or older than its
  sources, then copied to a temporary directory so a concurrent rebuild cannot change it under the browser.
* ``shop`` — a threaded ``http.server`` on 127.0.0.1 serving realistic pages from ``fixtures/`` for two sites,
  ``www.northwind.test`` (a shop) and ``kleinmarkt.test`` (classifieds); chromium maps ``*.test`` to 127.0.0.1.
* ``browser`` — a persistent chromium context with the extension loaded (fresh profile per test).
* ``vault`` — the ``live_server`` vault (uvicorn on the test database) with a signed-up consumer and an API
  client logged in as that consumer.
* ``paired`` — both, with the extension paired through its options page and the vault's ``/device`` page.

Nothing is skipped: a missing chromium, node or build is a failure with a message saying what to install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Worker, expect, sync_playwright

from tests.conftest import PASSWORD, LiveServer, log_in, sign_up

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
DIST = EXTENSION / "dist" / "chrome"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = os.environ.get("VAULT_E2E_CHROMIUM", "/usr/bin/chromium")
SHOP_HOST = "www.northwind.test"
MARKET_HOST = "kleinmarkt.test"
CONSUMER_EMAIL = "robin@example.com"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` and the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


# ---- the extension build ----------------------------------------------------------------------------------
def _newest_mtime(*roots: Path) -> float:
    newest = 0.0
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for p in paths:
            newest = max(newest, p.stat().st_mtime)
    return newest


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    except FileNotFoundError:
        pytest.fail(f"`{cmd[0]}` is not installed; the e2e tests build the extension with Node.js 20+ (npm)")
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed in {cwd}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="session")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built Chrome extension (rebuilt when stale), copied so a concurrent rebuild cannot disturb the run."""
    manifest = DIST / "manifest.json"
    sources = _newest_mtime(EXTENSION / "src", EXTENSION / "scripts", EXTENSION / "package.json", ROOT / "policies")
    if not manifest.exists() or manifest.stat().st_mtime < sources:
        if not (EXTENSION / "node_modules").is_dir():
            _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], EXTENSION)
        _run(["npm", "run", "--silent", "build"], EXTENSION)
    if not manifest.exists():
        pytest.fail(f"the extension build did not produce {manifest}")
    copy = tmp_path_factory.mktemp("extension") / "chrome"
    shutil.copytree(DIST, copy)
    return copy


# ---- the fixture shop -------------------------------------------------------------------------------------
# (host, path) -> fixture file. Paths are the realistic ones a shop uses; the query string is not part of the key.
PAGES: dict[tuple[str, str], str] = {
    (SHOP_HOST, "/"): "home.html",
    (SHOP_HOST, "/search"): "search.html",
    (SHOP_HOST, "/p/12345-samsung-65-qled"): "product-12345.html",
    (SHOP_HOST, "/p/23456-lg-65-oled"): "product-23456.html",
    (SHOP_HOST, "/cart"): "cart.html",
    (MARKET_HOST, "/"): "home.html",
    (MARKET_HOST, "/listing/98765-sony-bravia-65"): "secondhand-listing.html",
}


class _ShopHandler(BaseHTTPRequestHandler):
    server_version = "fixture-shop/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _host(self) -> str:
        return (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/static/"):
            self._send(HTTPStatus.OK, b"body{font-family:sans-serif}", "text/css")
            return
        name = PAGES.get((self._host(), path))
        if name is None:
            self._send(HTTPStatus.NOT_FOUND, b"<!doctype html><title>Not found</title><h1>Page not found</h1>")
            return
        self._send(HTTPStatus.OK, (FIXTURES / name).read_bytes())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self._host() == SHOP_HOST and urlsplit(self.path).path == "/cart/add":
            self._send(HTTPStatus.SEE_OTHER, b"", Location="/cart")
            return
        self._send(HTTPStatus.NOT_FOUND, b"not found")


@dataclass
class Shop:
    port: int

    def url(self, path: str, host: str = SHOP_HOST) -> str:
        return f"http://{host}:{self.port}{path}"

    def origin(self, host: str = SHOP_HOST) -> str:
        return f"http://{host}:{self.port}"


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShopHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Shop(port=int(server.server_address[1]))
    server.shutdown()
    server.server_close()


# ---- the browser --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install Debian's chromium (`apt-get install chromium`; "
            "scripts/test.sh does it) or point VAULT_E2E_CHROMIUM at a Chromium binary"
        )
    with sync_playwright() as p:
        yield p


@dataclass
class ExtensionBrowser:
    """A chromium profile with the extension loaded, plus a control page (an extension page kept open)."""

    context: BrowserContext
    worker: Worker
    extension_id: str
    control: Page = field(init=False)

    def __post_init__(self) -> None:
        self.control = self.open("options/options.html")

    def ext_url(self, path: str) -> str:
        return f"chrome-extension://{self.extension_id}/{path}"

    def open(self, path: str) -> Page:
        page = self.context.new_page()
        page.goto(self.ext_url(path))
        return page

    def send(self, type_: str, **payload: Any) -> dict[str, Any]:
        """A ui:* runtime message to the background, from an extension page (as the popup/options do)."""
        res = self.control.evaluate("(m) => chrome.runtime.sendMessage(m)", {"type": type_, **payload})
        assert isinstance(res, dict), res
        return res

    def storage(self, key: str) -> Any:
        return self.control.evaluate("(k) => chrome.storage.local.get(k).then((g) => g[k])", key)

    def history(self) -> list[dict[str, Any]]:
        """What the extension recorded (its local 'recorded today' history), oldest first."""
        return list(self.storage("history") or [])

    def queue(self) -> list[dict[str, Any]]:
        return [item["event"] for item in (self.storage("queue") or [])]

    def wait_recorded(self, type_: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the history holds ``count`` gestures of ``type_``; returns them."""

        def probe() -> list[dict[str, Any]] | None:
            hits = [e for e in self.history() if e["type"] == type_]
            return hits if len(hits) >= count else None

        return wait_for(f"{count} recorded {type_} gesture(s)", probe, timeout)

    def wait_released(self, ids: list[str], timeout: float = 10.0) -> None:
        """Wait until none of ``ids`` is held in the queue any more (their page was left, dwell recorded)."""

        def released() -> bool:
            items = {i["event"]["id"]: i for i in (self.storage("queue") or [])}
            return all(i not in items or not items[i]["hold_until"] for i in ids)

        wait_for(f"release of held gestures {ids}", released, timeout)

    def sync(self) -> dict[str, Any]:
        res = self.send("ui:sync")
        assert res.get("ok"), res
        return dict(res["result"])


def _launch(playwright: Playwright, extension_dir: Path, profile: Path) -> BrowserContext:
    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
        "--host-resolver-rules=MAP *.test 127.0.0.1",
        f"--disable-extensions-except={extension_dir}",
        f"--load-extension={extension_dir}",
    ]
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=False, args=args, viewport={"width": 1280, "height": 900}
    )


@pytest.fixture
def browser(playwright: Playwright, extension_dir: Path, tmp_path: Path) -> Iterator[ExtensionBrowser]:
    context = _launch(playwright, extension_dir, tmp_path / "profile")
    try:
        worker = context.service_workers[0] if context.service_workers else None
        if worker is None:
            worker = context.wait_for_event("serviceworker", timeout=15_000)
        if not worker.url.startswith("chrome-extension://"):
            pytest.fail(f"the extension did not load: first service worker is {worker.url}")
        ext_id = worker.url.split("/")[2]
        context.set_default_timeout(15_000)
        # Printed (and so shown by pytest) only when the test fails: what the pages and the worker said.
        context.on("console", lambda m: print(f"[console {m.type}] {m.text}"))
        context.on("requestfailed", lambda r: print(f"[request failed] {r.method} {r.url}: {r.failure}"))
        context.on("weberror", lambda e: print(f"[page error] {e.error}"))
        yield ExtensionBrowser(context=context, worker=worker, extension_id=ext_id)
    finally:
        context.close()


# ---- the vault ----------------------------------------------------------------------------------------------
@dataclass
class Vault:
    """The live vault and an API client logged in as its consumer (a session: reads need no CSRF)."""

    server: LiveServer
    http: httpx.Client
    email: str
    csrf: str

    @property
    def url(self) -> str:
        return self.server.url

    def gestures(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            r = self.http.get("/v1/gestures", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def gesture_ids(self) -> list[str]:
        return [g["id"] for g in self.gestures()]

    def signals(self) -> list[dict[str, Any]]:
        r = self.http.get("/v1/signals")
        assert r.status_code == 200, r.text
        return list(r.json()["signals"])

    def set_paused(self, paused: bool) -> None:
        """Pause or resume recording in the vault (what the dashboard's pause does)."""
        r = self.http.put("/v1/me/settings", json={"paused": paused}, headers={"X-CSRF-Token": self.csrf})
        assert r.status_code == 200, r.text
        assert r.json()["paused"] is paused

    def wait_for_gestures(self, ids: list[str], timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """Poll the vault until every id is stored; returns id -> stored gesture."""
        want = set(ids)

        def probe() -> dict[str, dict[str, Any]] | None:
            got = {g["id"]: g for g in self.gestures()}
            return got if want <= set(got) else None

        return wait_for(f"gestures {sorted(want)} in the vault", probe, timeout)


@pytest.fixture
def vault(live_server: LiveServer) -> Iterator[Vault]:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        sign_up(http, CONSUMER_EMAIL, name="Robin")
        csrf = log_in(http, CONSUMER_EMAIL)
        yield Vault(server=live_server, http=http, email=CONSUMER_EMAIL, csrf=csrf)


_USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
_LOGIN_URL = re.compile(r"/login\?next=%2Fdevice$")


def pair(browser: ExtensionBrowser, vault: Vault) -> Page:
    """Pair as a person does: options page -> code -> log in on the vault's /device page -> approve -> paired."""
    options = browser.open("options/options.html")
    options.get_by_test_id("vault-url").fill(vault.url)
    options.get_by_test_id("save-vault-url").click()
    expect(options.get_by_test_id("message")).to_have_text("Saved.")
    options.get_by_test_id("pair-button").click()
    expect(options.get_by_test_id("pairing")).to_be_visible()
    code_el = options.get_by_test_id("user-code")
    expect(code_el).to_have_text(_USER_CODE)
    user_code = code_el.inner_text().strip()

    device = browser.context.new_page()
    device.goto(f"{vault.url}/device")
    expect(device).to_have_url(_LOGIN_URL)
    device.get_by_label("E-mail").fill(vault.email)
    device.get_by_label("Password").fill(PASSWORD)
    device.get_by_role("button", name="Log in").click()
    expect(device).to_have_url(f"{vault.url}/device")
    device.get_by_label("Code shown by the extension").fill(user_code.lower().replace("-", " "))
    device.get_by_role("button", name="Continue").click()
    confirm = device.get_by_test_id("device-confirm")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_test_id("user-code")).to_have_text(user_code)
    device.get_by_test_id("device-approve").click()
    expect(device.get_by_text("Device paired")).to_be_visible()
    device.close()

    status = options.get_by_test_id("pair-status")
    expect(status).to_have_attribute("data-paired", "true", timeout=20_000)
    expect(status).to_have_text("Paired")
    expect(options.get_by_test_id("pairing")).to_be_hidden()
    return options


@dataclass
class Paired:
    browser: ExtensionBrowser
    vault: Vault
    shop: Shop
    options: Page


@pytest.fixture
def paired(browser: ExtensionBrowser, vault: Vault, shop: Shop) -> Paired:
    return Paired(browser=browser, vault=vault, shop=shop, options=pair(browser, vault))


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
