"""What the extension costs on every page a person opens: real Chromium, the shared real pages, with vs without it.

Serves ``../shared/pages`` (41 shop product pages, 45 news/blog articles; read in place, never copied) at their
original URLs through a local HTTP proxy (every other request gets a fast 404, nothing leaves the machine), and
opens each page in Debian's chromium once per variant:

* ``none``  — no extension (the baseline),
* ``after`` — ``extension/dist/chrome`` (this tree, rebuilt with ``npm run build`` first),
* ``before`` — optional ``--before DIR``: another unpacked build (e.g. main before the change) for the ratio,
* ``floor`` — optional ``--floor``: this build with an empty ``first.js``, i.e. what any content script costs (the
  browser builds an isolated world with the extension bindings in every tab that runs one).

Per page it reads the renderer's CDP ``Performance.getMetrics`` after the load and a settle window (the content
scripts run at document_idle): ``ScriptDuration`` (main-thread JavaScript, all worlds, so the content scripts'
isolated world too) and ``JSHeapUsedSize`` after a forced GC. The extension's cost is the difference to ``none``
for the same page and run; the figure is the median over runs per page, then the mean and median over pages,
separately for articles ("pages that are not shops") and product pages.

    .venv/bin/python bench/extension/bench_pages.py [--runs 3] [--settle 1.5] [--before DIR] [--floor] [--pages DIR]
        [--limit N] [--profile]

``--limit N`` takes the first N articles and N product pages (a quick look while iterating); ``--profile`` adds a
pass per build with the CDP Profiler (a fresh tab per page again): the main-thread ms sampled in the extension's
own scripts and the DOM calls they make, which the floor build does not have by construction.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
CHROMIUM = "/usr/bin/chromium"


def default_pages_dir() -> Path:
    """``../shared/pages`` next to the repository (also from a git worktree under a sibling directory)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "pages" / "labels.json").is_file():
            return base / "shared" / "pages"
    return ROOT.parent / "shared" / "pages"


@dataclass(frozen=True)
class PageRef:
    id: str
    kind: str
    url: str  # served as http:// at the original host and path
    file: Path


def load_pages(pages_dir: Path) -> list[PageRef]:
    labels: dict[str, dict[str, Any]] = json.loads((pages_dir / "labels.json").read_text("utf-8"))
    out = []
    for pid, lab in sorted(labels.items(), key=lambda kv: (kv[1]["kind"], kv[0])):
        file = pages_dir / lab["kind"] / f"{pid}.html.gz"
        if not file.is_file():
            continue
        parts = urlsplit(lab["url"])
        out.append(PageRef(pid, lab["kind"], f"http://{parts.netloc}{parts.path or '/'}", file))
    return out


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that knows only the saved pages (absolute-URI requests); everything else is a 404."""

    pages: dict[str, Path] = {}

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        file = self.pages.get(f"{parts.netloc}{parts.path or '/'}")
        if file is None:
            self._reply(404, b"", "text/plain")
            return
        self._reply(200, gzip.decompress(file.read_bytes()), "text/html; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self._reply(404, b"", "text/plain")

    def do_CONNECT(self) -> None:  # https subresources: refused at once
        self.send_response(403)
        self.end_headers()


@contextmanager
def proxy(pages: list[PageRef]) -> Iterator[int]:
    known = {urlsplit(p.url).netloc + urlsplit(p.url).path: p.file for p in pages}
    handler = type("Proxy", (_Proxy,), {"pages": known})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def launch(pw: Any, profile: Path, port: int, extension: Path | None) -> BrowserContext:
    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
        f"--proxy-server=http://127.0.0.1:{port}",
        "--proxy-bypass-list=<-loopback>",
        "--blink-settings=imagesEnabled=false",
    ]
    if extension is not None:
        args += [f"--disable-extensions-except={extension}", f"--load-extension={extension}"]
    else:
        args += ["--disable-extensions"]
    ctx: BrowserContext = pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=False, args=args, viewport={"width": 1280, "height": 900}
    )
    if extension is not None:  # the extension's worker is up before the first measured page
        deadline = time.monotonic() + 15
        while not ctx.service_workers and time.monotonic() < deadline:
            time.sleep(0.1)
    return ctx


def measure(ctx: BrowserContext, page: PageRef, settle: float) -> tuple[float, float]:
    """(main-thread script ms, JS heap used MB after GC) for one fresh tab on ``page``."""
    tab = ctx.new_page()
    try:
        cdp = ctx.new_cdp_session(tab)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        with contextlib.suppress(Exception):  # a page whose load never fires still ran its content scripts
            tab.goto(page.url, wait_until="load", timeout=30_000)
        time.sleep(settle)
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return metrics["ScriptDuration"] * 1000.0, metrics["JSHeapUsedSize"] / 1e6
    finally:
        tab.close()


def profile_ms(ctx: BrowserContext, page: PageRef, settle: float) -> float:
    """Main-thread ms in the extension's own scripts on ``page`` (a fresh tab): CDP Profiler samples (50 us) whose
    stack holds a ``chrome-extension://`` frame, so the DOM calls they make count too; the isolated world's set-up
    (the floor) is native and not in it."""
    tab = ctx.new_page()
    try:
        cdp = ctx.new_cdp_session(tab)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 50})
        cdp.send("Profiler.start")
        with contextlib.suppress(Exception):
            tab.goto(page.url, wait_until="load", timeout=30_000)
        time.sleep(settle)
        prof = cdp.send("Profiler.stop")["profile"]
    finally:
        tab.close()
    parent: dict[int, int] = {}
    ours: dict[int, bool] = {}
    for node in prof["nodes"]:
        for child in node.get("children", []):
            parent[child] = node["id"]
        ours[node["id"]] = str(node["callFrame"].get("url", "")).startswith("chrome-extension://")

    def in_ours(nid: int) -> bool:
        while True:
            if ours.get(nid):
                return True
            if nid not in parent:
                return False
            nid = parent[nid]

    memo: dict[int, bool] = {}
    total = 0
    for nid, dt in zip(prof.get("samples", []), prof.get("timeDeltas", []), strict=False):
        if nid not in memo:
            memo[nid] = in_ours(nid)
        if memo[nid]:
            total += dt
    return total / 1000.0


def build_extension() -> Path:
    subprocess.run(["npm", "run", "--silent", "build"], cwd=EXTENSION, check=True, capture_output=True)
    return EXTENSION / "dist" / "chrome"


Rows = dict[str, dict[str, list[tuple[float, float]]]]


def summarise(
    rows: Rows, pages: list[PageRef], variant: str, prof: dict[str, list[float]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("article", "product"):
        script, heap = [], []
        for p in pages:
            if p.kind != kind:
                continue
            base, mine = rows["none"][p.id], rows[variant][p.id]
            script.append(statistics.median(m[0] - b[0] for m, b in zip(mine, base, strict=True)))
            heap.append(statistics.median(m[1] - b[1] for m, b in zip(mine, base, strict=True)))
        out[kind] = {
            "pages": len(script),
            "script_ms_mean": statistics.fmean(script),
            "script_ms_median": statistics.median(script),
            "heap_mb_mean": statistics.fmean(heap),
            "heap_mb_median": statistics.median(heap),
        }
        if prof and all(prof[p.id] for p in pages if p.kind == kind):
            own = [statistics.median(prof[p.id]) for p in pages if p.kind == kind]
            out[kind]["own_script_ms_mean"] = statistics.fmean(own)
            out[kind]["own_script_ms_median"] = statistics.median(own)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=Path, default=default_pages_dir())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=1.5, help="seconds after load before reading the metrics")
    ap.add_argument("--before", type=Path, help="another unpacked Chrome build to compare (e.g. main's)")
    ap.add_argument("--floor", action="store_true", help="also this build with an empty first.js (any content script)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N pages of each kind (quick look)")
    ap.add_argument(
        "--profile", action="store_true", help="also a CDP Profiler pass: ms sampled in the extension's own scripts"
    )
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not (a.pages / "labels.json").is_file():
        print(f"no labels.json in {a.pages}", file=sys.stderr)
        return 2
    pages = load_pages(a.pages)
    if a.limit:
        pages = [p for k in ("article", "product") for p in pages if p.kind == k][: a.limit] + [
            p for p in pages if p.kind == "product"
        ][: a.limit]
    variants: dict[str, Path | None] = {"none": None, "after": build_extension()}
    if a.before:
        variants["before"] = a.before.resolve()
    rows: Rows = {}
    started = time.monotonic()
    with proxy(pages) as port, sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        if a.floor:
            floor = Path(tmp) / "floor"
            shutil.copytree(EXTENSION / "dist" / "chrome", floor)
            (floor / "first.js").write_text("void 0;\n", "utf-8")
            variants["floor"] = floor
        rows = {v: {p.id: [] for p in pages} for v in variants}
        prof: dict[str, dict[str, list[float]]] = {v: {p.id: [] for p in pages} for v in variants if v != "none"}
        for run in range(a.runs):
            order = list(variants.items())
            for name, ext in order if run % 2 == 0 else order[::-1]:  # alternate the order: no variant always first
                ctx = launch(pw, Path(tmp) / f"{name}-{run}", port, ext)
                try:
                    measure(ctx, pages[0], 0.2)  # warm the renderer and the caches once
                    for p in pages:
                        rows[name][p.id].append(measure(ctx, p, a.settle))
                    if a.profile and ext is not None:
                        for p in pages:
                            prof[name][p.id].append(profile_ms(ctx, p, a.settle))
                finally:
                    ctx.close()
    result = {
        "runs": a.runs,
        "settle_s": a.settle,
        "seconds": round(time.monotonic() - started, 1),
        **{v: summarise(rows, pages, v, prof[v] if a.profile else None) for v in variants if v != "none"},
    }
    if a.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{len(pages)} pages, {a.runs} runs, settle {a.settle} s, {result['seconds']} s")
    own = a.profile
    print(
        "| build | pages | script ms/page mean | median | heap MB/tab mean | median |"
        + (" own scripts ms (profiler) mean | median |" if own else "")
    )
    print("|---|---|---|---|---|---|" + ("---|---|" if own else ""))
    for v in variants:
        if v == "none":
            continue
        for kind, s in result[v].items():
            label = "articles (not shops)" if kind == "article" else "product pages"
            extra = " - | - |" if own else ""
            if "own_script_ms_mean" in s:
                extra = f" {s['own_script_ms_mean']:.2f} | {s['own_script_ms_median']:.2f} |"
            print(
                f"| {v} | {label}: {s['pages']} | {s['script_ms_mean']:+.2f} | {s['script_ms_median']:+.2f} | "
                f"{s['heap_mb_mean']:+.3f} | {s['heap_mb_median']:+.3f} |{extra}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
