"""Every page of every role in a real browser, against a live vault seeded with the demo data:

* a crawl from each role's home follows every same-origin link and finds no 4xx or 5xx;
* axe-core (npm, injected into the page) finds no serious or critical issue on any page it renders, nor on the
  error pages (400, 403, 404, 409, 422, 500) and the public pages;
* each rendered page is saved as a full-page screenshot at phone and desktop width under tests/e2e/screenshots/;
* journeys: the consent preview follows the consumer's ticks live (consent.js, under the page's strict CSP), a
  deleted gesture comes back with "Undo", an auditor checks an entry's inclusion proof in the page, and a consumer
  deletes their vault, can no longer log in, and the vendor gets the tombstone.

The crawl renders one page per route shape (digits and ids folded, query values ignored) and only checks the status
of the other links of that shape, so its time stays bounded as the demo data grows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.api.test_feed_support import feed_all
from tests.conftest import LiveServer
from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.db import Database, migrate
from vault_server.errors import Conflict
from vault_server.setup import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo
from vault_server.vendors.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI

E2E = Path(__file__).resolve().parent
AXE = E2E / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = E2E / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SERIOUS = ("serious", "critical")
MAX_RENDERED = 30  # pages rendered per role (route shapes); every other link is still checked for its status
# Links that are downloads or API documents: checked for their status, not rendered.
NOT_PAGES = re.compile(r"^/(v1/|\.well-known/|docs|openapi|redoc)|\.(csv|zip|json|jsonl)$")
EMAILS = {role.value: email for role, email, _ in DEMO_ACCOUNTS}


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core from tests/e2e/node_modules (installed by scripts/test.sh; installed here when missing)."""
    if not AXE.exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=E2E,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not AXE.exists():
            pytest.fail(f"could not install axe-core in {E2E} (npm ci): {done.stderr[-2000:]}")
    return AXE.read_text()


@pytest.fixture(scope="module")
def site(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live vault on its own SQLite file, seeded as ``intent-vault demo`` does, with three routes that fail on
    purpose so the 400, 409 and 500 pages can be looked at."""
    db_file = tmp_path_factory.mktemp("pages") / "pages.db"
    settings = base_settings.model_copy(update={"database_url": f"sqlite:///{db_file}", "database_schema": None})
    db = Database(settings)
    migrate(db)
    db.dispose()
    list(seed_demo(settings))
    ctx = build_context(settings)
    app = create_app(ctx=ctx)

    def conflict() -> None:
        raise Conflict("This was changed by someone else meanwhile; reload and try again.")

    def crash() -> None:
        raise RuntimeError("a fault on purpose (tests/e2e/test_pages.py)")

    app.add_api_route("/e2e/conflict", conflict, include_in_schema=False)
    app.add_api_route("/e2e/crash", crash, include_in_schema=False)
    try:
        with LiveServer(app) as server:
            yield server
    finally:
        ctx.db.dispose()


@dataclass
class Visit:
    """What one browser context saw: pages rendered, problems found (any is a failure), CSP reports."""

    role: str
    rendered: list[str] = field(default_factory=list)
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)


def new_context(chromium: Browser, visit: Visit) -> BrowserContext:
    context = chromium.new_context(viewport=DESKTOP, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(10_000)

    def on_console(message: object) -> None:
        text = getattr(message, "text", "")
        if "Content Security Policy" in text or "Refused to" in text:
            visit.csp.append(text)

    context.on("console", on_console)
    return context


def log_in(page: Page, base: str, role: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(EMAILS[role])
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path != "/login", f"{role} could not log in"


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.replace("{id}", "id").lower()).strip("-") or "home"


def shape(url: str) -> str:
    """A route's shape: ids and numbers folded, query keys kept, values dropped."""
    parts = urlsplit(url)
    path = re.sub(r"/(ivc_[\w-]+|[0-9a-f-]{16,}|\d+|[A-Za-z0-9_-]{20,})(?=/|$)", "/{id}", parts.path)
    keys = sorted({kv.split("=")[0] for kv in parts.query.split("&") if kv})
    return path + ("?" + "&".join(keys) if keys else "")


def check_axe(page: Page, axe: str, label: str) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each. It is evaluated through the
    DevTools protocol, which the page's CSP does not govern, so the page is tested under its real policy."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe)
    result = page.evaluate("() => window.axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{label}: axe {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v.get("impact") in SERIOUS
    ]


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)


def look_at(page: Page, axe: str, visit: Visit, path: str, *, expect_status: int | None = None) -> None:
    """Render one page: its status, its language and title, axe, and the two screenshots."""
    origin = urlsplit(page.url)
    response = page.goto(f"{origin.scheme}://{origin.netloc}{path}")
    status = response.status if response is not None else 0
    if expect_status is None and status >= 400:
        visit.problems.append(f"{visit.role}: {path} answered {status}")
    if expect_status is not None and status != expect_status:
        visit.problems.append(f"{visit.role}: {path} answered {status}, expected {expect_status}")
    if page.locator("html[lang]").count() != 1 or not page.title():
        visit.problems.append(f"{visit.role}: {path} has no lang or no title")
    visit.problems.extend(check_axe(page, axe, f"{visit.role} {path}"))
    shoot(page, f"{visit.role}-{slug(shape(path))}")
    visit.rendered.append(path)


def crawl(page: Page, base: str, axe: str, visit: Visit, start: list[str]) -> None:
    """Breadth-first over same-origin links from ``start``: render one page per route shape, check the rest."""
    origin = urlsplit(base).netloc
    queue = list(start)
    seen: set[str] = set(start)
    shapes: set[str] = set()
    while queue:
        target = queue.pop(0)
        if shape(target) in shapes or len(visit.rendered) >= MAX_RENDERED:
            status = page.request.get(base + target, headers={"Accept": "text/html"}).status
            visit.checked += 1
            if status >= 400:
                visit.problems.append(f"{visit.role}: link {target} answered {status}")
            continue
        shapes.add(shape(target))
        look_at(page, axe, visit, target)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => [e.href, e.hasAttribute('download')])"):
            url, download = href
            parts = urlsplit(url)
            if parts.netloc != origin or parts.scheme not in ("http", "https"):
                continue
            link = parts.path + ("?" + parts.query if parts.query else "")
            if link in seen:
                continue
            seen.add(link)
            if download or NOT_PAGES.search(parts.path):
                status = page.request.get(url).status
                visit.checked += 1
                if status >= 400:
                    visit.problems.append(f"{visit.role}: link {link} (from {target}) answered {status}")
            else:
                queue.append(link)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


CONSENT_DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics.tv", "sports"],
        "min_stage": "awareness",
        "fields": ["stage", "score", "price_band", "brand"],
        "purpose": "Offers on the TV you are looking for",
        "retention_days": 30,
        "frequency": "realtime",
    }
]


def consent_url(base: str) -> str:
    return f"{base}/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": DEMO_REDIRECT_URI,
            "scope": "signals:read identity:name",
            "state": "e2e",
            "code_challenge": pkce()[1],
            "code_challenge_method": "S256",
            "authorization_details": json.dumps(CONSENT_DETAILS),
        }
    )


def test_every_page_of_every_role(site: LiveServer, chromium: Browser, axe_source: str) -> None:
    base = site.url
    started = time.monotonic()
    visits: list[Visit] = []

    # anonymous: the public pages and a 404
    visit = Visit("public")
    visits.append(visit)
    with new_context(chromium, visit) as context:
        page = context.new_page()
        page.goto(base)
        for path in ("/", "/login", "/signup"):
            look_at(page, axe_source, visit, path)
        look_at(page, axe_source, visit, "/no-such-page", expect_status=404)
        # the check itself can fail: an image without a text alternative is a critical axe violation
        page.evaluate("() => document.querySelector('main').append(Object.assign(new Image(), {src: '/x.png'}))")
        assert any("image-alt" in line for line in check_axe(page, axe_source, "self-check"))

    # the consumer: consent first (its preview follows the ticks live), so the crawl also meets a grant
    visit = Visit("consumer")
    visits.append(visit)
    with new_context(chromium, visit) as context:
        page = context.new_page()
        log_in(page, base, "consumer")
        expect(page).to_have_url(f"{base}/dashboard")
        chart = page.get_by_test_id("history-chart")
        expect(chart).to_be_visible()
        expect(chart.locator("text[data-day]").last).to_contain_text(".")  # "2. Dez.": the reader's locale (de-DE)
        page.goto(consent_url(base))
        tv = page.get_by_test_id("preview-electronics.tv")
        expect(tv).to_be_visible()
        expect(page.get_by_test_id("update-preview")).to_be_hidden()  # the script makes the button needless
        brands = tv.locator("[data-field=brand]").first
        expect(brands).to_be_visible()
        visit.problems.extend(check_axe(page, axe_source, "consumer consent"))
        shoot(page, "consumer-consent")
        page.get_by_test_id("field-brand").uncheck()
        expect(brands).to_be_hidden()  # live, without a round trip
        page.get_by_test_id("min-stage-0").select_option("relationship")
        expect(tv.locator("li[data-stage-rank]").first).to_be_hidden()
        expect(tv.locator("[data-none]")).to_be_visible()
        page.get_by_test_id("min-stage-0").select_option("awareness")
        page.get_by_test_id("cat-electronics.tv").uncheck()
        expect(tv).to_be_hidden()
        page.get_by_test_id("cat-electronics.tv").check()
        page.route(DEMO_REDIRECT_URI + "*", lambda route: route.fulfill(status=200, body="back at the vendor"))
        page.get_by_test_id("approve").click()
        expect(page.get_by_text("back at the vendor")).to_be_visible()
        # delete a recorded gesture, see "Deleted 1 gesture. Undo", undo it
        page.goto(f"{base}/gestures")
        rows = page.get_by_test_id("gesture-row")
        count = rows.count()
        rows.first.get_by_role("button", name="Delete").click()
        visit.problems.extend(check_axe(page, axe_source, "consumer confirm"))
        shoot(page, "consumer-confirm")
        page.get_by_test_id("confirm-yes").click()
        expect(page.get_by_test_id("deleted-notice")).to_contain_text("Deleted 1 gesture.")
        expect(rows).to_have_count(count - 1)
        visit.problems.extend(check_axe(page, axe_source, "consumer undo notice"))
        shoot(page, "consumer-gestures-deleted")
        page.get_by_test_id("undo").click()
        expect(page.get_by_test_id("restored-notice")).to_contain_text("Put back 1 gesture")
        expect(rows).to_have_count(count)
        page.goto(f"{base}/dashboard")
        crawl(page, base, axe_source, visit, ["/dashboard", "/settings", "/gestures"])
        # error pages as a signed-in person meets them
        look_at(page, axe_source, visit, "/auditor", expect_status=403)
        look_at(page, axe_source, visit, "/gestures?since=yesterday", expect_status=422)
        look_at(page, axe_source, visit, "/auditor/entries/99999999999999999999", expect_status=403)
        look_at(page, axe_source, visit, "/e2e/conflict", expect_status=409)
        look_at(page, axe_source, visit, "/e2e/crash", expect_status=500)
        look_at(page, axe_source, visit, "/nothing-here", expect_status=404)

    # vendor, auditor, admin: the crawl from each home
    for role, start in (
        ("vendor", ["/vendor"]),
        ("auditor", ["/auditor"]),
        ("admin", ["/admin/vendors"]),
    ):
        visit = Visit(role)
        visits.append(visit)
        with new_context(chromium, visit) as context:
            page = context.new_page()
            log_in(page, base, role)
            if role == "auditor":  # sign a head so the entry pages have something to check against
                page.get_by_test_id("make-sth").click()
                page.wait_for_load_state()
            crawl(page, base, axe_source, visit, start)
            if role == "admin":
                look_at(page, axe_source, visit, "/auditor/entries/99999999999999999999", expect_status=400)

    report = [
        f"{v.role}: {len(v.rendered)} pages rendered, {v.checked} more links checked; {len(v.problems)} problems"
        for v in visits
    ]
    print("\n".join(report), f"\n{time.monotonic() - started:.0f} s")
    problems = [p for v in visits for p in v.problems] + [f"{v.role}: CSP {c}" for v in visits for c in v.csp]
    assert not problems, "\n".join(problems)
    rendered = {v.role: v.rendered for v in visits}
    assert len(rendered["consumer"]) >= 10 and len(rendered["auditor"]) >= 4 and len(rendered["vendor"]) >= 2
    assert any(p.startswith("/grants/") for p in rendered["consumer"])  # the grant made above
    assert any(p.startswith("/auditor/entries/") for p in rendered["auditor"])


def test_an_auditor_checks_an_entry_in_the_page(site: LiveServer, chromium: Browser) -> None:
    visit = Visit("auditor")
    with new_context(chromium, visit) as context:
        page = context.new_page()
        log_in(page, site.url, "auditor")
        page.get_by_test_id("make-sth").click()
        page.wait_for_load_state()
        first = page.get_by_test_id("entries").locator("tbody tr").first.locator("a").first
        number = first.inner_text()
        first.click()
        expect(page.get_by_role("heading", name=f"Audit entry #{number}")).to_be_visible()
        result = page.get_by_test_id("check-result")
        expect(result).to_contain_text("Yes.")
        expect(result).to_contain_text("signature is valid")
        page.goto(f"{site.url}/auditor/heads")
        expect(page.get_by_test_id("sth-history").locator("tbody tr").first).to_be_visible()
    assert not visit.csp, visit.csp


def test_a_consumer_deletes_their_vault_and_cannot_log_in(site: LiveServer, chromium: Browser) -> None:
    visit = Visit("leaver")
    email = f"leaver-{secrets.token_hex(4)}@example.com"
    password = "a long enough password"
    with new_context(chromium, visit) as context:
        page = context.new_page()
        page.goto(f"{site.url}/signup")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password (10 characters or more)").fill(password)
        page.get_by_role("button", name="Create vault").click()
        page.wait_for_load_state()
        if urlsplit(page.url).path == "/login":
            page.get_by_label("E-mail").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{site.url}/dashboard")
        page.route(DEMO_REDIRECT_URI + "*", lambda route: route.fulfill(status=200, body="back at the vendor"))
        page.goto(consent_url(site.url))  # share with the demo vendor, so there is a promise to keep
        page.get_by_test_id("approve").click()
        expect(page.get_by_text("back at the vendor")).to_be_visible()
        before = _tombstones(site.url)
        page.goto(f"{site.url}/settings")
        form = page.get_by_test_id("delete-account")
        form.get_by_label("Type").fill("delete my vault")
        form.get_by_label("Your password").fill(password)
        form.get_by_test_id("delete-account-button").click()
        expect(page.get_by_test_id("account-deleted")).to_be_visible()

        page.goto(f"{site.url}/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.get_by_role("alert")).to_be_visible()
        assert page.goto(f"{site.url}/dashboard") is not None
        expect(page).to_have_url(re.compile(r"/login\?next="))  # no session survived
    after = _tombstones(site.url)
    assert len(after - before) == 1  # the vendor is told to forget this subject


def _tombstones(base: str) -> set[tuple[str, str]]:
    """The demo vendor's ``subject.deleted`` items in its feed: (subject, grant)."""
    with httpx.Client(base_url=base, timeout=10) as http:
        items, _ = feed_all(http, (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
    return {(str(i["subject"]), str(i["grant_id"])) for i in items if i["type"] == "subject.deleted"}
