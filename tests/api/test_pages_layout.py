"""One layout for every role: each lands on its own home after login, sees its own navigation bar, and a browser
gets readable HTML error pages (title, lang, plain words, a way back) where API clients keep problem+json."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.context import VaultContext

from ..conftest import PASSWORD, log_in, sign_up

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOMES = {"consumer": "/dashboard", "vendor": "/vendor", "auditor": "/auditor", "admin": "/admin/vendors"}


def make_account(ctx: VaultContext, role: str) -> str:
    email = f"{role}@example.com"
    with ctx.db.session() as s:
        accounts.sign_up(session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD, role=Role(role))
    return email


def form_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.nav: list[str] = []
        self._in_nav = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "nav":
            self._in_nav += 1
        if tag == "a" and values.get("href"):
            href = str(values["href"])
            self.links.append(href)
            if self._in_nav:
                self.nav.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_nav -= 1


def links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def assert_error_page(r: Any, status: int, *words: str) -> str:
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    text = str(r.text)
    assert re.search(r'<html lang="en">', text)
    assert re.search(r"<title>[^<]+ · Intent Vault</title>", text)
    assert 'data-testid="error-page"' in text and "<h1>" in text
    for word in words:
        assert word in text, word
    assert "application/problem+json" not in r.headers["content-type"] and '"type":' not in text
    return text


@pytest.mark.parametrize("role", ["consumer", "vendor", "auditor", "admin"])
def test_each_role_lands_on_its_home_with_its_own_navigation(client: TestClient, ctx: VaultContext, role: str) -> None:
    email = make_account(ctx, role)
    token = form_csrf(client.get("/login").text)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == HOMES[role]
    page = client.get(HOMES[role], headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    nav = links(page.text).nav
    assert HOMES[role] in nav
    assert ("/inbox" in nav) == (role == "consumer")
    assert ("/vendor/webhooks" in nav) == (role == "vendor")
    assert f'href="{HOMES[role]}" aria-current="page"' in page.text
    # the public home page points a signed-in person to their own home
    assert f'href="{HOMES[role]}" data-testid="your-home"' in client.get("/").text


def test_a_login_with_a_next_page_goes_back_there_and_never_off_site(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    token = form_csrf(client.get("/login?next=/grants").text)
    data = {"email": "dana@example.com", "password": PASSWORD, "csrf_token": token, "next": "/grants"}
    assert client.post("/login", data=data, follow_redirects=False).headers["location"] == "/grants"
    data.update(next="//evil.example/x", csrf_token=form_csrf(client.get("/login").text))
    assert client.post("/login", data=data, follow_redirects=False).headers["location"] == "/dashboard"


@pytest.mark.parametrize(("role", "page"), [("vendor", "/dashboard"), ("consumer", "/vendor"), ("auditor", "/inbox")])
def test_a_page_of_another_role_is_an_html_403_with_a_way_back(
    client: TestClient, ctx: VaultContext, role: str, page: str
) -> None:
    log_in(client, make_account(ctx, role))
    r = client.get(page, headers=HTML)
    text = assert_error_page(r, 403, "Not allowed", "You are signed in as a")
    assert f'href="{HOMES[role]}"' in text and "Go to your home page" in text
    # the same request from an API client stays problem+json
    api = client.get(page)
    assert api.status_code == 403 and api.headers["content-type"] == "application/problem+json"
    assert api.json()["type"].endswith("/forbidden")


def test_unknown_url_is_an_html_404_for_browsers_and_problem_json_for_apis(client: TestClient) -> None:
    text = assert_error_page(client.get("/no/such/page", headers=HTML), 404, "Page not found", "/no/such/page")
    assert 'href="/"' in text
    api = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["type"].endswith("/not-found")
    # a client that prefers JSON over HTML keeps JSON
    mixed = client.get("/no/such/page", headers={"Accept": "application/json, text/html;q=0.5"})
    assert mixed.headers["content-type"] == "application/problem+json"


def test_a_bad_filter_value_reads_as_words(client: TestClient, ctx: VaultContext) -> None:
    log_in(client, make_account(ctx, "auditor"))
    r = client.get("/auditor?before=yesterday", headers=HTML)
    assert_error_page(r, 422, "“before” must be a whole number")
    assert "int_parsing" not in r.text
    r = client.get("/auditor?since=31/12/2026", headers=HTML)
    assert_error_page(r, 422, "must be a date like 2026-11-25")
    assert client.get("/auditor?before=yesterday").headers["content-type"] == "application/problem+json"


def test_a_form_without_its_csrf_token_explains_and_links_back_to_the_form(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    client.get("/login")
    r = client.post("/login", data={"email": "dana@example.com", "password": PASSWORD}, headers=HTML)
    text = assert_error_page(r, 403, "This form has expired", "reload the page")
    assert 'href="/login"' in text and "Back to the form" in text
    assert "vault_session" not in client.cookies


def test_error_pages_escape_what_the_request_carried(client: TestClient) -> None:
    r = client.get("/<script>alert(1)</script>", headers=HTML)
    assert r.status_code == 404 and "<script>alert" not in r.text


def test_every_link_on_every_role_page_answers(client: TestClient, ctx: VaultContext) -> None:
    """A crawl of the same-origin links reachable from each role's home finds no 4xx or 5xx."""
    sign_up(client, "dana@example.com", name="Dana")
    for role in ("vendor", "auditor", "admin"):
        make_account(ctx, role)
    for email, home in [
        ("dana@example.com", "/dashboard"),
        ("vendor@example.com", "/vendor"),
        ("auditor@example.com", "/auditor"),
        ("admin@example.com", "/admin/vendors"),
    ]:
        client.cookies.clear()
        log_in(client, email)
        seen: set[str] = set()
        todo = [home]
        while todo and len(seen) < 60:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            r = client.get(url, headers=HTML)
            assert r.status_code < 400, f"{email}: {url} -> {r.status_code}"
            if r.headers["content-type"].startswith("text/html"):
                for href in links(r.text).links:
                    target = href.split("#")[0]
                    if target.startswith("/") and not target.startswith("//") and target not in seen:
                        todo.append(target)
        assert len(seen) > 2, f"{email}: the crawl found almost nothing"


def test_pairing_with_an_empty_code_says_so(client: TestClient) -> None:
    sign_up(client, "dana@example.com")
    log_in(client, "dana@example.com")
    token = form_csrf(client.get("/device").text)
    r = client.post("/device", data={"csrf_token": token, "action": "lookup", "user_code": "  "})
    assert r.status_code == 400 and "Enter the code your extension shows." in r.text
