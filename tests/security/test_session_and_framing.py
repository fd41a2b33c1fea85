"""Session fixation through the browser login form, and clickjacking: every HTML page (every role, errors too)
refuses to be framed with both ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.context import VaultContext
from vault_server.web.deps import PRESESSION_COOKIE, SESSION_COOKIE

from ..conftest import PASSWORD, LiveServer, log_in, sign_up

HOST = "127.0.0.1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form_login(http: httpx.Client, email: str) -> httpx.Response:
    page = http.get("/login")
    token = CSRF.search(page.text)
    assert token, page.text[:500]
    return http.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})


def test_a_planted_session_cookie_never_becomes_the_victims_session(live_server: LiveServer) -> None:
    """Mallory logs in, plants her own session cookie (and a made-up one) in Dana's browser; Dana logs in with
    the form. Dana gets a fresh session id; the planted ids never open Dana's account; logout ends the session
    on the server, not only in the browser."""
    with httpx.Client(timeout=20, base_url=live_server.url, follow_redirects=False) as mallory:
        sign_up(mallory, "mallory@example.com", name="Mallory")
        log_in(mallory, "mallory@example.com")
        planted = mallory.cookies.get(SESSION_COOKIE)
        assert planted
    with httpx.Client(timeout=20, base_url=live_server.url, follow_redirects=False) as setup:
        sign_up(setup, "dana@example.com", name="Dana")
    for fixed in (planted, "attacker-chosen-session-id-0123456789abcdef"):
        with httpx.Client(timeout=20, base_url=live_server.url, follow_redirects=False) as dana:
            dana.cookies.set(SESSION_COOKIE, fixed, domain=HOST)
            dana.cookies.set(PRESESSION_COOKIE, "attacker-chosen-presession", domain=HOST)
            r = _form_login(dana, "dana@example.com")
            assert r.status_code == 303, r.text[:300]
            issued = dana.cookies.get(SESSION_COOKIE, domain=HOST)
            assert issued and issued != fixed, "the session id must rotate at login"
            assert dana.get("/v1/me").json()["email"] == "dana@example.com"
            with httpx.Client(timeout=20, base_url=live_server.url) as attacker:
                attacker.cookies.set(SESSION_COOKIE, fixed)
                me = attacker.get("/v1/me")
                assert me.status_code == 401 or me.json()["email"] == "mallory@example.com"
            # logout kills the id server-side: a copy of the cookie taken before is worthless
            token = CSRF.search(dana.get("/settings").text)
            assert token
            dana.post("/logout", data={"csrf_token": token.group(1)})
            with httpx.Client(timeout=20, base_url=live_server.url) as thief:
                thief.cookies.set(SESSION_COOKIE, issued)
                assert thief.get("/v1/me").status_code == 401


# ---- clickjacking -------------------------------------------------------------------------------------------
def _page_paths(app: FastAPI) -> list[str]:
    """Every GET route that is not part of the JSON API: the server-rendered pages (and FastAPI's /docs)."""

    def walk(routes: Any) -> Iterator[Any]:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from walk(inner.routes)
            else:
                yield route

    paths = set()
    for route in walk(app.routes):
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "GET" in methods and not path.startswith(("/v1/", "/.well-known", "/openapi", "/health", "/ready")):
            paths.add(re.sub(r"\{[^}]+\}", "0", path))
    return sorted(paths)


def _role_client(server: LiveServer, ctx: VaultContext, role: Role | None) -> httpx.Client:
    http = httpx.Client(timeout=20, base_url=server.url, follow_redirects=False)
    if role is None:
        return http
    email = f"{role.value}@example.com"
    with ctx.db.session() as s:
        accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD, name=role.value, role=role
        )
    log_in(http, email)
    return http


@pytest.mark.parametrize("role", [None, Role.consumer, Role.vendor, Role.auditor, Role.admin])
def test_no_page_can_be_framed(live_server: LiveServer, ctx: VaultContext, app: FastAPI, role: Role | None) -> None:
    paths = _page_paths(app)
    assert {"/login", "/dashboard", "/oauth/authorize", "/grants/0", "/vendor", "/auditor"} <= set(paths)
    seen_html = 0
    http = _role_client(live_server, ctx, role)
    for path in [*paths, "/no-such-page"]:
        r = http.get(path)
        assert r.headers.get("x-frame-options") == "DENY", path
        policy = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy, (path, policy)
        if "text/html" in r.headers.get("content-type", ""):
            seen_html += 1
    http.close()
    assert seen_html >= 5, "the scan must reach real pages, not only redirects"
