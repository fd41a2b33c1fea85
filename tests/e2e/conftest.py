"""Real-browser end-to-end fixtures: Debian's chromium with the unpacked extension, a live vault, a fixture shop.

* ``extension_dir`` — ``extension/dist/chrome``, rebuilt with ``npm run build`` when missing or older than its
  sources, then copied to a temporary directory so a concurrent rebuild cannot change it under the browser
  (``VAULT_E2E_EXTENSION=DIR`` uses another unpacked build as it is).
* ``shop`` — a threaded ``http.server`` on 127.0.0.1 serving realistic pages from ``fixtures/`` for two sites,
  ``www.northwind.test`` (a shop) and ``kleinmarkt.test`` (classifieds); chromium maps ``*.test`` to 127.0.0.1.
* ``paired`` — the scenario fixture: one chromium profile with the extension, paired once per session (through its
  options page and the vault's ``/device`` page, as a person does) with one live vault on its own database, and
  reset to a clean slate before each test (see ``reset``). Pairing waits out the device grant's polling interval,
  so doing it once keeps the run short.
* ``fresh_paired`` — a new profile paired with a new vault (the suite's ``live_server`` on an emptied database),
  for tests that change the pairing itself; ``browser`` and ``vault`` are its parts.

Nothing is skipped: a missing chromium, node or build is a failure with a message saying what to install.
Chromium is ``/usr/bin/chromium`` (``VAULT_E2E_CHROMIUM`` to change); playwright's bundled driver talks to it, no
browser is downloaded. Console output, failed requests and page errors of the browser are printed, so pytest shows
them for a failing test.
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
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Worker, expect, sync_playwright
from sqlalchemy import text

from tests.conftest import PASSWORD, LiveServer, log_in, sign_up
from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.db import Database, migrate

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
DIST = EXTENSION / "dist" / "chrome"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = os.environ.get("VAULT_E2E_CHROMIUM", "/usr/bin/chromium")
SHOP_HOST = "www.northwind.test"
MARKET_HOST = "kleinmarkt.test"
CONSUMER_EMAIL = "robin@example.com"
# Gestures the extension holds until their page is left, and how long a test "reads" such a page (see wait_recorded).
HELD_TYPES = {"product_view", "page_view", "compare", "review_read"}
READ_S = 0.5

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


def leave(tab: Page, to: str) -> None:
    """Leave a page as a person does: go on to another page, then close the tab."""
    tab.goto(to)
    tab.close()


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
    """The built Chrome extension (rebuilt when stale), copied so a concurrent rebuild cannot disturb the run.
    ``VAULT_E2E_EXTENSION=DIR`` tests an unpacked build elsewhere as it is (a release, or a deliberately broken one)."""
    if given := os.environ.get("VAULT_E2E_EXTENSION"):
        if not (Path(given) / "manifest.json").is_file():
            pytest.fail(f"VAULT_E2E_EXTENSION={given} is not an unpacked extension (no manifest.json)")
        return Path(given).resolve()
    manifest = DIST / "manifest.json"
    vault_css = ROOT / "vault_server" / "web" / "static" / "vault.css"  # copied into the build (the popup's look)
    sources = _newest_mtime(
        EXTENSION / "src", EXTENSION / "scripts", EXTENSION / "package.json", ROOT / "policies", vault_css
    )
    if not manifest.exists() or manifest.stat().st_mtime < sources:
        if not (EXTENSION / "node_modules").is_dir():
            _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], EXTENSION)
        _run(["npm", "run", "--silent", "build"], EXTENSION)
    if not manifest.exists():
        pytest.fail(f"the extension build did not produce {manifest}")
    copy = tmp_path_factory.mktemp("extension") / "chrome"
    shutil.copytree(DIST, copy)
    return copy


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """A plain headless chromium (no extension) for the vault's own pages."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    try:
        yield browser
    finally:
        browser.close()


# ---- the fixture shop -------------------------------------------------------------------------------------
# (host, path) -> fixture file. Paths are the realistic ones a shop uses; the query string is not part of the key.
PAGES: dict[tuple[str, str], str] = {
    (SHOP_HOST, "/"): "home.html",
    (SHOP_HOST, "/search"): "search.html",
    (SHOP_HOST, "/p/12345-samsung-65-qled"): "product-12345.html",
    (SHOP_HOST, "/p/23456-lg-65-oled"): "product-23456.html",
    (SHOP_HOST, "/cart"): "cart.html",
    (MARKET_HOST, "/"): "market-home.html",
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


class ExtensionControl:
    """What the scenarios read and ask of the extension, in any browser: its storage and ``ui:*`` messages (from an
    extension page, as the popup and options do). Chromium (``ExtensionBrowser``) and Firefox (``tests/e2e/firefox.py``)
    implement ``send`` and ``storage``."""

    def send(self, type_: str, **payload: Any) -> dict[str, Any]:
        raise NotImplementedError

    def storage(self, key: str) -> Any:
        raise NotImplementedError

    def history(self) -> list[dict[str, Any]]:
        """What the extension recorded (its local 'recorded today' history), oldest first."""
        return list(self.storage("history") or [])

    def queue(self) -> list[dict[str, Any]]:
        return [item["event"] for item in (self.storage("queue") or [])]

    def wait_recorded(self, type_: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the history holds ``count`` gestures of ``type_``; returns them.

        For a held type (a page view whose dwell time is added when the page is left) this also gives the page a
        moment, as a reader would: the background stores the gesture before it answers the page, and the page
        only then installs the ``pagehide`` handler that sends the final dwell time. Leaving within those few
        milliseconds would leave the gesture held for the extension's 30-minute hold."""

        def probe() -> list[dict[str, Any]] | None:
            hits = [e for e in self.history() if e["type"] == type_]
            return hits if len(hits) >= count else None

        hits = wait_for(f"{count} recorded {type_} gesture(s)", probe, timeout)
        if type_ in HELD_TYPES:
            time.sleep(READ_S)
        return hits

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


@dataclass
class ExtensionBrowser(ExtensionControl):
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


def _open_browser(playwright: Playwright, extension_dir: Path, profile: Path) -> ExtensionBrowser:
    context = _launch(playwright, extension_dir, profile)
    try:
        worker = context.service_workers[0] if context.service_workers else None
        if worker is None:
            worker = context.wait_for_event("serviceworker", timeout=15_000)
        if not worker.url.startswith("chrome-extension://"):
            pytest.fail(f"the extension did not load: first service worker is {worker.url}")
        context.set_default_timeout(15_000)
        # Printed (and so shown by pytest) only when a test fails: what the pages and the worker said.
        context.on("console", lambda m: print(f"[console {m.type}] {m.text}"))
        context.on("requestfailed", lambda r: print(f"[request failed] {r.method} {r.url}: {r.failure}"))
        context.on("weberror", lambda e: print(f"[page error] {e.error}"))
        return ExtensionBrowser(context=context, worker=worker, extension_id=worker.url.split("/")[2])
    except BaseException:
        context.close()
        raise


@pytest.fixture
def browser(playwright: Playwright, extension_dir: Path, tmp_path: Path) -> Iterator[ExtensionBrowser]:
    """A fresh profile with the extension, for this test alone."""
    ext = _open_browser(playwright, extension_dir, tmp_path / "profile")
    try:
        yield ext
    finally:
        ext.context.close()


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

    def delete_all_gestures(self) -> None:
        r = self.http.delete("/v1/gestures", params={"all": "true"}, headers={"X-CSRF-Token": self.csrf})
        assert r.status_code == 200, r.text
        assert self.gestures() == []

    def wait_for_gestures(self, ids: list[str], timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """Poll the vault until every id is stored; returns id -> stored gesture."""
        want = set(ids)

        def probe() -> dict[str, dict[str, Any]] | None:
            got = {g["id"]: g for g in self.gestures()}
            return got if want <= set(got) else None

        return wait_for(f"gestures {sorted(want)} in the vault", probe, timeout)


def _consumer(server: LiveServer, email: str) -> Iterator[Vault]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        sign_up(http, email, name="Robin")
        csrf = log_in(http, email)
        yield Vault(server=server, http=http, email=email, csrf=csrf)


@pytest.fixture
def vault(live_server: LiveServer) -> Iterator[Vault]:
    """A fresh vault (the suite's ``live_server``, on an emptied database) with one signed-up consumer."""
    yield from _consumer(live_server, CONSUMER_EMAIL)


@pytest.fixture(scope="session")
def e2e_settings(base_settings: Settings, run_dir: Path) -> Iterator[Settings]:
    """Settings for the shared vault: its own database (SQLite file or PostgreSQL schema), so the function-scoped
    ``ctx`` fixture of other tests, which empties the suite's database, never pulls the floor from under it."""
    if base_settings.database_url.startswith("sqlite"):
        settings = base_settings.model_copy(update={"database_url": f"sqlite:///{run_dir / 'e2e-vault.db'}"})
    else:
        settings = base_settings.model_copy(update={"database_schema": f"{base_settings.database_schema}_e2e"})
    db = Database(settings)
    migrate(db)
    db.dispose()
    yield settings
    if settings.database_schema:
        admin = Database(settings.model_copy(update={"database_schema": None}))
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def shared_vault(e2e_settings: Settings) -> Iterator[Vault]:
    """One live vault for the scenario tests (pairing costs a device-grant polling interval, so it is done once)."""
    ctx = build_context(e2e_settings)
    try:
        with LiveServer(create_app(ctx=ctx)) as server:
            yield from _consumer(server, CONSUMER_EMAIL)
    finally:
        ctx.db.dispose()


_USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
_LOGIN_URL = re.compile(r"/login\?next=%2Fdevice$")


def log_in_to_device_page(browser: ExtensionBrowser, vault: Vault) -> Page:
    """Open the vault's /device page in a tab and log in there (it sends you to the login page and back)."""
    device = browser.context.new_page()
    device.goto(f"{vault.url}/device")
    expect(device).to_have_url(_LOGIN_URL)
    device.get_by_label("E-mail").fill(vault.email)
    device.get_by_label("Password").fill(PASSWORD)
    device.get_by_role("button", name="Log in").click()
    expect(device).to_have_url(f"{vault.url}/device")
    return device


def start_pairing(browser: ExtensionBrowser, vault: Vault) -> tuple[Page, str]:
    """Enter the vault's address in the options page and press *Pair*; returns the page and the code it shows."""
    options = browser.open("options/options.html")
    expect(options.get_by_test_id("pair-status")).to_have_attribute("data-paired", "false")
    options.get_by_test_id("vault-url").fill(vault.url)
    options.get_by_test_id("save-vault-url").click()
    expect(options.get_by_test_id("message")).to_have_text("Saved.")
    options.get_by_test_id("pair-button").click()
    expect(options.get_by_test_id("pairing")).to_be_visible()
    code_el = options.get_by_test_id("user-code")
    expect(code_el).to_have_text(_USER_CODE)
    return options, code_el.inner_text().strip()


def decide_on_device_page(device: Page, user_code: str, *, approve: bool) -> None:
    """Type the code (as loosely as a person might), check the vault shows the same code, then Pair or Deny."""
    device.get_by_label("Code shown by the extension").fill(user_code.lower().replace("-", " "))
    device.get_by_role("button", name="Continue").click()
    confirm = device.get_by_test_id("device-confirm")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_test_id("user-code")).to_have_text(user_code)
    device.get_by_test_id("device-approve" if approve else "device-deny").click()
    expect(device.get_by_text("Device paired" if approve else "Pairing declined")).to_be_visible()


def pair(browser: ExtensionBrowser, vault: Vault) -> Page:
    """Pair as a person does: log in to the vault's /device page, press *Pair* in the options page, type the code
    it shows into the vault, approve, and see the options page turn to *Paired*. Returns the options page."""
    device = log_in_to_device_page(browser, vault)
    options, user_code = start_pairing(browser, vault)
    decide_on_device_page(device, user_code, approve=True)
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


@pytest.fixture(scope="session")
def shared_browser(
    playwright: Playwright, extension_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExtensionBrowser]:
    ext = _open_browser(playwright, extension_dir, tmp_path_factory.mktemp("profile"))
    try:
        yield ext
    finally:
        ext.context.close()


@pytest.fixture(scope="session")
def shared_pairing(shared_browser: ExtensionBrowser, shared_vault: Vault) -> Page:
    return pair(shared_browser, shared_vault)


LOCAL_STATE = ["queue", "history", "memory", "sync_state", "sync_log"]


def reset(ext: ExtensionBrowser, vault: Vault) -> None:
    """A clean slate between scenario tests, keeping the pairing: no pause, no never-record sites, nothing
    queued or remembered in the extension, no gestures in the vault, no routes, online, no stray tabs."""
    ext.context.unroute_all(behavior="ignoreErrors")
    ext.context.set_offline(False)
    for page in ext.context.pages:
        if page is not ext.control and not page.url.startswith(ext.ext_url("options/")):
            page.close()
    vault.set_paused(False)
    assert ext.send("ui:pause", paused=False)["ok"]
    assert ext.send("ui:settings:save", never_record=[], opt_in_categories=[])["ok"]
    assert ext.send("ui:remote")["ok"]  # re-reads the vault's settings (not paused)
    ext.control.evaluate("(keys) => chrome.storage.local.remove(keys)", LOCAL_STATE)
    vault.delete_all_gestures()
    state = ext.send("ui:state")["state"]
    assert state["paired"] and not state["paused"] and not state["vault_paused"], dumps(state)
    assert state["queued"] == 0 and state["today"] == [] and state["never_record"] == [], dumps(state)


@pytest.fixture
def paired(shared_browser: ExtensionBrowser, shared_vault: Vault, shared_pairing: Page, shop: Shop) -> Paired:
    """The extension paired with the shared vault, reset to a clean slate for this test."""
    reset(shared_browser, shared_vault)
    shared_pairing.reload()
    return Paired(browser=shared_browser, vault=shared_vault, shop=shop, options=shared_pairing)


@pytest.fixture
def fresh_paired(browser: ExtensionBrowser, vault: Vault, shop: Shop) -> Paired:
    """A new profile paired with a new vault, for tests that change the pairing itself."""
    return Paired(browser=browser, vault=vault, shop=shop, options=pair(browser, vault))


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
