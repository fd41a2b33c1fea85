"""Helpers for the OAuth tests (no tests here): PKCE pairs, a browser-like HTML form submitter, vendor
registration + approval, the consent round trip, and a few recorded gestures for the consumer."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from vault_server.context import VaultContext
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.views import set_status

from ..conftest import PASSWORD, log_in, sign_up

REDIRECT = "https://shop.example/callback"
DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics.tv", "electronics.headphones", "health.hearing"],
        "min_stage": "interest",
        "fields": ["stage", "score", "price_band", "brand"],
        "purpose": "Send you offers on TVs and headphones",
        "retention_days": 30,
        "frequency": "daily",
    }
]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Forms(HTMLParser):
    """Collects every form: action, method and its controls as a browser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "controls": []})
        elif not self.forms:
            return
        elif tag == "input":
            self.forms[-1]["controls"].append(
                {"tag": "input", "type": a.get("type", "text"), "name": a.get("name"), "value": a.get("value", ""),
                 "checked": "checked" in a}
            )  # fmt: skip
        elif tag == "button" and a.get("name"):
            self.forms[-1]["controls"].append(
                {"tag": "button", "type": "submit", "name": a["name"], "value": a.get("value", "")}
            )
        elif tag == "select":
            self._select = {"tag": "select", "name": a.get("name"), "value": None, "options": []}
            self.forms[-1]["controls"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
            if "selected" in a or self._select["value"] is None:
                self._select["value"] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def submit_values(
    form: dict[str, Any],
    *,
    button: tuple[str, str] | None = None,
    uncheck: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    check: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    set_values: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """What a browser posts: hidden/text inputs, ticked checkboxes, selected options, the pressed button."""
    out: list[tuple[str, str]] = []
    for c in form["controls"]:
        name = c.get("name")
        if not name:
            continue
        if c["tag"] == "button":
            continue
        if c["tag"] == "input" and c["type"] == "checkbox":
            ticked = (c["checked"] or (name, c["value"]) in check) and (name, c["value"]) not in uncheck
            if ticked:
                out.append((name, c["value"]))
            continue
        value = (set_values or {}).get(name, c["value"])
        out.append((name, value))
    if button:
        out.append(button)
    return out


def register_vendor(
    http: httpx.Client, *, name: str = "Shop Example", redirect_uris: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"client_name": name, "redirect_uris": redirect_uris or [REDIRECT], "client_uri": "https://shop.example"}
    body.update(extra)
    r = http.post("/oauth/register", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def approve(ctx: VaultContext, client_id: str) -> None:
    set_status(ctx, client_id, VendorStatus.approved, "admin:test")


def approved_vendor(http: httpx.Client, ctx: VaultContext, **kw: Any) -> dict[str, Any]:
    vendor = register_vendor(http, **kw)
    approve(ctx, vendor["client_id"])
    return vendor


def authorize_params(
    client_id: str,
    challenge: str | None,
    *,
    state: str = "st-123",
    scope: str = "signals:read identity:name identity:email",
    details: list[dict[str, Any]] | None = None,
    redirect_uri: str = REDIRECT,
    method: str | None = "S256",
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "authorization_details": json.dumps(details if details is not None else DETAILS),
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    return params


def browser(server_url: str) -> httpx.Client:
    return httpx.Client(base_url=server_url, follow_redirects=False, timeout=20)


def consumer_browser(server_url: str, email: str = "dana@example.com", name: str = "Dana") -> httpx.Client:
    http = browser(server_url)
    sign_up(http, email, name=name)
    log_in(http, email, PASSWORD)
    return http


def consent_page(http: httpx.Client, params: dict[str, str]) -> httpx.Response:
    return http.get("/oauth/authorize?" + urlencode(params))


def consent_form(page: httpx.Response) -> dict[str, Any]:
    found = [f for f in forms(page.text) if f["action"] == "/oauth/authorize"]
    assert found, page.text[:2000]
    return found[0]


def approve_consent(
    http: httpx.Client,
    params: dict[str, str],
    *,
    uncheck: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    check: set[tuple[str, str]] = frozenset(),
    set_values: dict[str, str] | None = None,  # type: ignore[assignment]
    decision: str = "approve",
) -> dict[str, list[str]]:
    """Open the consent screen, post it as a browser would; returns the query of the redirect back."""
    page = consent_page(http, params)
    assert page.status_code == 200, page.text[:500]
    values = submit_values(
        consent_form(page), button=("decision", decision), uncheck=uncheck, check=check, set_values=set_values
    )
    r = post_form(http, "/oauth/authorize", values)
    assert r.status_code == 303, r.text[:500]
    location = r.headers["location"]
    assert location.startswith(params["redirect_uri"] + "?"), location
    return parse_qs(urlsplit(location).query)


def post_form(http: httpx.Client, url: str, values: list[tuple[str, str]]) -> httpx.Response:
    """POST repeated form fields (checkboxes) exactly as a browser encodes them."""
    return http.post(
        url, content=urlencode(values).encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


def basic(vendor: dict[str, Any]) -> tuple[str, str]:
    return vendor["client_id"], vendor["client_secret"]


def exchange(
    http: httpx.Client, vendor: dict[str, Any], code: str, verifier: str, redirect_uri: str = REDIRECT
) -> httpx.Response:
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=basic(vendor),
    )


def record_gestures(http: httpx.Client, bearer: str) -> None:
    """A consumer who looked at TVs a lot (with brands and prices) and at headphones."""
    now = datetime.now(UTC)

    def ev(type_: str, minutes: float, name: str, brand: str, price: float) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "type": type_,
            "ts": (now - timedelta(minutes=minutes)).isoformat(),
            "origin": "https://shop.example",
            "path": "/p/{id}",
            "product": {"name": name, "brand": brand, "price": price, "currency": "EUR"},
        }

    events = [ev("product_view", 50 - i, "Samsung 65 inch QLED 4K Smart TV", "Samsung", 899.0) for i in range(6)]
    events += [
        ev("compare", 20, "LG 65 inch OLED TV", "LG", 1099.0),
        ev("cart_add", 10, "LG 65 inch OLED TV", "LG", 1099.0),
    ]
    events += [ev("product_view", 30 - i, "Sony noise cancelling headphones", "Sony", 299.0) for i in range(3)]
    r = http.post("/v1/gestures", json={"events": events}, headers={"Authorization": f"Bearer {bearer}"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(events), r.text
