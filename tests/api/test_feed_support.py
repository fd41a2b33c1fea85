"""Helpers for the feed, webhook, offer and question tests (no tests here): consumers, approved vendors and grants
built through the rooms' own service functions, gestures that raise a category to a chosen stage, and a real
local webhook receiver."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.grants import service as grants
from vault_server.grants.models import Grant
from vault_server.intents import service as intents
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppRegistration

from ..conftest import PASSWORD, serving

ALL_FIELDS = ["stage", "score", "price_band", "brand", "declared_intent", "last_seen"]


def make_consumer(ctx: VaultContext, email: str | None = None, name: str = "Dana") -> str:
    with ctx.db.session() as s:
        account = accounts.sign_up(
            session=s,
            ring=ctx.ring,
            hasher=ctx.hasher,
            email=email or f"c-{uuid.uuid4().hex[:10]}@example.com",
            password=PASSWORD,
            name=name,
            role=Role.consumer,
        )
        return account.id


def make_vendor(ctx: VaultContext, name: str = "Shop Example", owner: str | None = None) -> tuple[str, str]:
    """An approved vendor app; returns (client_id, client_secret)."""
    body = AppRegistration(name=name, homepage="https://shop.example", redirect_uris=["https://shop.example/cb"])
    with ctx.db.session() as s:
        app, secret = vendors.register(session=s, body=body, owner_account_id=owner, via="portal")
        vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="test")
        assert secret is not None
        return app.id, secret


def detail(
    categories: list[str], fields: list[str] | None = None, min_stage: str = "awareness", frequency: str = "realtime"
) -> dict[str, Any]:
    return {
        "type": "intent_signals",
        "categories": categories,
        "min_stage": min_stage,
        "fields": fields or ["stage", "score"],
        "purpose": "Offers that fit",
        "retention_days": 30,
        "frequency": frequency,
    }


def make_grant(
    ctx: VaultContext,
    account_id: str,
    vendor_id: str,
    details: list[dict[str, Any]],
    scope: list[str] | None = None,
    days: int = 30,
) -> Grant:
    with ctx.db.session() as s:
        app = vendors.get(session=s, client_id=vendor_id)
        assert app is not None
        return grants.create(
            session=s,
            ctx=ctx,
            account_id=account_id,
            app=app,
            scope=scope or ["signals:read"],
            details=details,
            requested={"scope": scope or ["signals:read"], "authorization_details": details},
            identity_fields=[],
            expires_at=utcnow() + timedelta(days=days),
        )


def revoke(ctx: VaultContext, grant_id: str) -> None:
    with ctx.db.session() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None
        grants.revoke(session=s, ctx=ctx, grant=grant)


def event(category: str, type_: str = "product_view", minutes_ago: float = 5, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "ts": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z"),
        "origin": "https://shop.example",
        "path": "/p/{id}",
        "category": category,
        "product": {"name": "Thing", "brand": "Acme", "price": 120.0, "currency": "EUR"},
        **extra,
    }


#: gesture batches that raise a category to (at least) each stage
STAGE_RECIPES: dict[str, list[str]] = {
    "awareness": ["page_view"],
    "interest": ["product_view"],
    "motivation": ["product_view"] * 3 + ["compare"] * 2,
    "action": ["product_view"] * 3 + ["compare", "cart_add", "checkout_start"],
}


def record(ctx: VaultContext, account_id: str, category: str, types: list[str] | None = None) -> None:
    events = [event(category, t, minutes_ago=30 - i) for i, t in enumerate(types or ["product_view"])]
    with ctx.db.session() as s:
        result = intents.ingest(session=s, ctx=ctx, account_id=account_id, events=events)
    assert result.rejected == 0, result.results


def signals(ctx: VaultContext, account_id: str) -> dict[str, dict[str, Any]]:
    from vault_server.signals.service import signals_for

    with ctx.db.session() as s:
        return {x["category"]: x for x in signals_for(session=s, ctx=ctx, account_id=account_id)}


# ---- vendor HTTP ---------------------------------------------------------------------------------------------------
def feed_all(client: Any, auth: tuple[str, str], cursor: str | None = None, limit: int = 100) -> tuple[list[Any], str]:
    """Follow the feed to its end; returns (items, last cursor)."""
    items: list[Any] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/v1/feed", params=params, auth=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return items, str(cursor)


# ---- a real webhook receiver --------------------------------------------------------------------------------
class Receiver:
    """A loopback HTTP server that records every request; ``status`` decides the answer (a list = one per call)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.default_status = 204
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.answer(self.headers, body, self.path)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, headers: Message, body: bytes, path: str) -> int:
        """Record one request and choose its status (called under ``lock``); a receiver with other rules overrides
        this."""
        self.requests.append({"headers": dict(headers.items()), "body": body, "path": path})
        return self.statuses.pop(0) if self.statuses else self.default_status

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with serving(r.server):
        yield r


def http_client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30)
