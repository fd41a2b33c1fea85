"""Debian's firefox-esr with the extension's Firefox build, driven over Marionette (tests/e2e/marionette.py).

``FirefoxExtension`` installs ``extension/dist/firefox`` as a temporary add-on in a fresh profile, grants it the
host access Firefox asks a person for (MV3 host permissions are optional there), and keeps the options page open as
a control page to read the extension's storage and send it ``ui:*`` messages, like ``ExtensionBrowser`` does in
Chromium: the scenario helpers (``wait_recorded``, ``sync``, …) are the same (``ExtensionControl``).

``VaultGate`` stands between the extension and the vault (a reverse proxy on loopback): ``open`` forwards, ``down``
drops every connection unanswered (the vault unreachable), ``answer_lost`` forwards ``POST /v1/gestures`` and drops
the answer (the vault stored the batch, the extension never hears it). Firefox has no per-request interception that
a test can drive over Marionette, and its offline mode does not cover loopback; a proxy does both the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import ExtensionControl, wait_for
from tests.e2e.marionette import ELEMENT, Marionette, MarionetteError

FIREFOX = os.environ.get("VAULT_E2E_FIREFOX", "/usr/bin/firefox-esr")
GECKO_ID = "intent-vault-extension@intent-vault.org"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FirefoxExtension(ExtensionControl):
    """One Firefox profile with the extension; ``tab`` is the page the scenario drives, ``control`` the options."""

    def __init__(self, extension_dir: Path, profile: Path, hosts: list[str]) -> None:
        self.uuid = str(uuid.uuid4())
        port = _free_port()
        prefs: dict[str, Any] = {
            "extensions.webextensions.uuids": json.dumps({GECKO_ID: self.uuid}),  # a known moz-extension:// host
            "network.dns.localDomains": ",".join(hosts),
            "network.proxy.type": 0,
            "browser.shell.checkDefaultBrowser": False,
            "datareporting.policy.dataSubmissionEnabled": False,
            "toolkit.telemetry.reportingpolicy.firstRun": False,
            "app.update.disabledForTesting": True,
            "browser.startup.homepage_override.mstone": "ignore",
            "browser.tabs.warnOnClose": False,
            "extensions.update.enabled": False,
            "extensions.getAddons.cache.enabled": False,
            "dom.security.https_first": False,
            "remote.prefs.recommended": True,
            "marionette.port": port,
        }
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(
            "\n".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in prefs.items()), "utf-8"
        )
        self.log = profile / "firefox.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                FIREFOX,
                "--headless",
                "--no-remote",
                "--profile",
                str(profile),
                "--marionette",
                "-remote-allow-system-access",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.m = Marionette(port)
            self.m.send("WebDriver:NewSession", {"capabilities": {}})
            self.m.send("WebDriver:SetTimeouts", {"script": 30_000, "pageLoad": 30_000, "implicit": 0})
            self.m.send("Addon:Install", {"path": str(extension_dir), "temporary": True})
            self._grant_host_access()
            self.first_tab = self.m.value("WebDriver:GetWindowHandle")
            self.control = self.open_extension_page("options/options.html")
            self.tab = self.first_tab
            self.switch(self.tab)
        except BaseException:
            self.close()
            raise

    # ---- the browser --------------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.m.send("WebDriver:DeleteSession")
            self.m.close()
        except Exception:  # Firefox may already be gone; it is stopped below either way
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()

    def _chrome(self, script: str, *args: Any, run_async: bool = False) -> Any:
        self.m.send("Marionette:SetContext", {"value": "chrome"})
        try:
            name = "WebDriver:ExecuteAsyncScript" if run_async else "WebDriver:ExecuteScript"
            return self.m.value(name, {"script": script, "args": list(args)})
        finally:
            self.m.send("Marionette:SetContext", {"value": "content"})

    def _grant_host_access(self) -> None:
        """What a person does when Firefox asks: allow the extension on all websites."""
        ok = self._chrome(
            """const done = arguments[arguments.length - 1];
            const { ExtensionPermissions } = ChromeUtils.importESModule('resource://gre/modules/ExtensionPermissions.sys.mjs');
            const ext = WebExtensionPolicy.getByID(arguments[0]).extension;
            ExtensionPermissions.add(arguments[0], { permissions: [], origins: ['http://*/*', 'https://*/*'] }, ext)
              .then(() => done(true), (e) => done(String(e)));""",
            GECKO_ID,
            run_async=True,
        )
        assert ok is True, ok

    def ext_url(self, path: str) -> str:
        return f"moz-extension://{self.uuid}/{path}"

    def open_extension_page(self, path: str) -> str:
        """Open an extension page in a new tab (content cannot navigate to moz-extension://; the browser can)."""
        before = set(self.m.value("WebDriver:GetWindowHandles"))
        self._chrome(
            "gBrowser.selectedTab = gBrowser.addTab(arguments[0], "
            "{ triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal() });",
            self.ext_url(path),
        )
        handle = wait_for(
            "the new tab", lambda: next(iter(set(self.m.value("WebDriver:GetWindowHandles")) - before), None)
        )
        self.switch(handle)
        wait_for(
            f"{path} to load",
            lambda: (
                self.js("return document.readyState") == "complete" and self.js("return !!document.body.dataset.testid")
            ),
        )
        # the popup and the options page ask the background for its state after load and mark the body
        # data-rendered once that answer is shown: a click before it can race the first render
        rendered = "return !!document.body.dataset.rendered"
        wait_for(f"{path} to show the extension's state", lambda: self.js(rendered), 30)
        return str(handle)

    def new_tab(self, url: str | None = None) -> str:
        handle = str(self.m.send("WebDriver:NewWindow", {"type": "tab"})["handle"])
        self.switch(handle)
        self.tab = handle
        if url:
            self.goto(url)
        return handle

    def switch(self, handle: str) -> None:
        self.m.send("WebDriver:SwitchToWindow", {"handle": handle})
        self.current = handle

    def close_tab(self, handle: str) -> None:
        self.switch(handle)
        self.m.send("WebDriver:CloseWindow")
        self.switch(self.control)

    def close_other_tabs(self) -> None:
        """Every tab but the control page (pages left open would keep reporting into the next test)."""
        for handle in self.m.value("WebDriver:GetWindowHandles"):
            if handle != self.control:
                self.switch(str(handle))
                self.m.send("WebDriver:CloseWindow")
        self.switch(self.control)

    def goto(self, url: str) -> None:
        self.m.send("WebDriver:Navigate", {"url": url})

    def url(self) -> str:
        return str(self.m.value("WebDriver:GetCurrentURL"))

    def js(self, script: str, *args: Any) -> Any:
        return self.m.value("WebDriver:ExecuteScript", {"script": script, "args": list(args)})

    def _find(self, css: str, timeout: float = 15.0) -> str:
        """The element for ``css``, waiting for it as playwright's locators do: pages such as the popup render
        their lists after ``load``, so an element may appear a moment after the page reports ready."""

        def probe() -> str | None:
            if not self.js("return !!document.querySelector(arguments[0])", css):
                return None
            el = self.m.value("WebDriver:FindElement", {"using": "css selector", "value": css})
            return str(el[ELEMENT])

        return wait_for(f"{css} on {self.url()}", probe, timeout)

    def click(self, css: str) -> None:
        self.m.send("WebDriver:ElementClick", {"id": self._find(css)})

    def fill(self, css: str, text: str) -> None:
        el = self._find(css)
        self.m.send("WebDriver:ElementClear", {"id": el})
        self.m.send("WebDriver:ElementSendKeys", {"id": el, "text": text})

    def fill_label(self, label: str, value: str) -> None:
        """Type into the field whose label starts with ``label`` (as playwright's get_by_label)."""
        found = self.js(
            """const l = [...document.querySelectorAll('label')]
              .find((x) => x.textContent.trim().startsWith(arguments[0]));
            const f = l && (l.control || document.getElementById(l.htmlFor));
            if (f) f.setAttribute('data-iv-fill', '1');
            return !!f;""",
            label,
        )
        assert found, f"no field labelled {label!r} on {self.url()}"
        self.fill("[data-iv-fill]", value)
        self.js("document.querySelector('[data-iv-fill]').removeAttribute('data-iv-fill')")

    def click_button(self, name: str) -> None:
        """Click the button whose text is ``name`` (as playwright's get_by_role('button', name=...))."""
        found = self.js(
            """document.querySelectorAll('[data-iv-click]').forEach((e) => e.removeAttribute('data-iv-click'));
            const b = [...document.querySelectorAll('button, input[type=submit]')]
              .find((x) => (x.textContent || x.value).trim() === arguments[0]);
            if (b) b.setAttribute('data-iv-click', '1');
            return !!b;""",
            name,
        )
        assert found, f"no button {name!r} on {self.url()}"
        self.click("[data-iv-click]")

    def text(self, css: str) -> str | None:
        value = self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", css)
        return None if value is None else str(value)

    def attr(self, css: str, name: str) -> str | None:
        value = self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;", css, name
        )
        return None if value is None else str(value)

    def wait_text(self, css: str, want: str, timeout: float = 15.0) -> None:
        wait_for(f"{css} to say {want!r}", lambda: self.text(css) == want or None, timeout)

    # ---- the extension (ExtensionControl) -------------------------------------------------------------
    def _in_control(self, script: str, *args: Any) -> Any:
        back = self.current
        self.switch(self.control)
        try:
            return self.m.value("WebDriver:ExecuteAsyncScript", {"script": script, "args": list(args)})
        finally:
            self.switch(back)

    def send(self, type_: str, **payload: Any) -> dict[str, Any]:
        res = self._in_control(
            """const done = arguments[arguments.length - 1];
            const api = (window.wrappedJSObject || window).browser || window.browser;
            api.runtime.sendMessage(JSON.parse(arguments[0]))
              .then((r) => done(JSON.stringify(r)), (e) => done(JSON.stringify({ ok: false, error: String(e) })));""",
            json.dumps({"type": type_, **payload}),
        )
        out = json.loads(res)
        assert isinstance(out, dict), out
        return out

    def storage(self, key: str) -> Any:
        res = self._in_control(
            """const done = arguments[arguments.length - 1];
            const api = (window.wrappedJSObject || window).browser || window.browser;
            api.storage.local.get(arguments[0])
              .then((g) => done(JSON.stringify(g[arguments[0]] ?? null)),
                    (e) => done(JSON.stringify({ error: String(e) })));""",
            key,
        )
        return json.loads(res)

    def remove_storage(self, keys: list[str]) -> None:
        self._in_control(
            """const done = arguments[arguments.length - 1];
            const api = (window.wrappedJSObject || window).browser || window.browser;
            api.storage.local.remove(JSON.parse(arguments[0])).then(() => done(true));""",
            json.dumps(keys),
        )


class _Gate(BaseHTTPRequestHandler):
    mode = "open"
    target = ""
    lost: list[dict[str, Any]] = []
    posts: list[str] = []
    client: httpx.Client

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _forward(self) -> None:
        gestures = self.command == "POST" and self.path.split("?")[0] == "/v1/gestures"
        if gestures:
            type(self).posts.append(self.mode)
        if self.mode == "down":
            self.close_connection = True  # no answer at all: a network error in the extension
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in {"connection", "keep-alive", "content-length"}
        }
        r = self.client.request(self.command, self.path, headers=headers, content=body)
        if gestures and self.mode == "answer_lost":
            type(self).lost.extend(r.json()["results"])
            self.close_connection = True
            return
        self.send_response(r.status_code)
        for k, v in r.headers.multi_items():
            if k.lower() not in {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()


class VaultGate:
    """A reverse proxy in front of the vault whose ``mode`` a test switches (see the module docstring)."""

    def __init__(self, target: str) -> None:
        self.client = httpx.Client(base_url=target, timeout=30, follow_redirects=False)
        self.handler = type("Gate", (_Gate,), {"target": target, "client": self.client, "lost": [], "posts": []})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def posts(self) -> list[str]:
        return list(self.handler.posts)

    @property
    def lost(self) -> list[dict[str, Any]]:
        return list(self.handler.lost)

    def set(self, mode: str) -> None:
        assert mode in {"open", "down", "answer_lost"}
        self.handler.mode = mode

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


@contextmanager
def firefox_with_extension(built: Path, workdir: Path, hosts: list[str]) -> Iterator[FirefoxExtension]:
    if not Path(FIREFOX).is_file():
        raise FileNotFoundError(f"{FIREFOX} is missing: apt-get install firefox-esr (scripts/test.sh installs it)")
    tree = workdir / "firefox-build"
    shutil.copytree(built, tree)  # a concurrent rebuild cannot change the add-on under Firefox
    ff = FirefoxExtension(tree, workdir / "firefox-profile", hosts)
    try:
        yield ff
    finally:
        ff.close()


__all__ = ["FIREFOX", "FirefoxExtension", "MarionetteError", "VaultGate", "firefox_with_extension"]
