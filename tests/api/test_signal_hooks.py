"""Data flows one way: gestures -> signals -> (grant) -> feed. The intents room publishes "signals changed"
through the signals room's hook; the feed subscribes per context at app creation; nothing imports back."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.feed.models import FeedChange
from vault_server.signals import hooks

from .test_feed_support import detail, make_consumer, make_grant, make_vendor, record

PACKAGE = Path(__file__).resolve().parents[2] / "vault_server"


def _imports(path: Path) -> set[str]:
    """Every vault_server module a file imports, at module level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("vault_server")}


def _room_imports(room: str) -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): _imports(p) for p in sorted((PACKAGE / room).rglob("*.py"))}


def _offenders(room: str, forbidden: Iterable[str]) -> list[str]:
    prefixes = tuple(forbidden)
    return [
        f"{f} imports {m}" for f, mods in _room_imports(room).items() for m in sorted(mods) if m.startswith(prefixes)
    ]


def test_intents_never_import_the_feed() -> None:
    assert _offenders("intents", ["vault_server.feed"]) == []


def test_signals_import_neither_intents_nor_feed() -> None:
    assert _offenders("signals", ["vault_server.intents", "vault_server.feed"]) == []


def test_room_clis_and_pages_do_not_import_back() -> None:
    rooms = [p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    clis = [
        f"{f} imports {m}"
        for r in rooms
        for f, mods in _room_imports(r).items()
        for m in mods
        if m == "vault_server.cli"
    ]
    assert clis == []
    shell = _imports(PACKAGE / "web" / "pages.py")
    assert sorted(m for m in shell if m.endswith(".pages") and not m.startswith("vault_server.web")) == []


@pytest.fixture
def bare_ctx(settings: Settings, ctx: VaultContext) -> Iterator[VaultContext]:
    """A second context on the same (emptied) database, built without any app: nobody is subscribed."""
    other = build_context(settings)
    yield other
    other.db.dispose()


def _signal_updates(ctx: VaultContext, grant_id: str) -> int:
    with Session(ctx.db.engine) as s:
        rows = s.exec(
            select(FeedChange).where(FeedChange.grant_id == grant_id, col(FeedChange.kind) == "signal.updated")
        ).all()
    return len(rows)


def test_subscribers_belong_to_their_context(ctx: VaultContext, bare_ctx: VaultContext) -> None:
    calls: list[tuple[str, list[str]]] = []

    def recorder(*, session: Session, ctx: VaultContext, account_id: str, categories: Iterable[str]) -> None:
        calls.append((account_id, list(categories)))

    hooks.subscribe(bare_ctx, recorder)
    hooks.subscribe(bare_ctx, recorder)  # twice: still called once
    alice = make_consumer(ctx)
    record(ctx, alice, "electronics.tv")  # the fixture's context: the recorder is not its subscriber
    assert calls == []
    record(bare_ctx, alice, "electronics.tv")
    assert calls == [(alice, ["electronics.tv"])]
    assert recorder not in ctx.signal_hooks.subscribers


def test_the_feed_hears_signal_changes_only_where_it_is_wired(ctx: VaultContext, bare_ctx: VaultContext) -> None:
    alice = make_consumer(ctx)
    vendor, _ = make_vendor(ctx)
    grant = make_grant(ctx, alice, vendor, [detail(["electronics"])])
    record(bare_ctx, alice, "electronics.tv")  # no app built on this context: no feed row
    assert _signal_updates(ctx, grant.id) == 0
    app: Any = create_app(ctx=bare_ctx)  # creating the app subscribes the feed to this context
    assert app.state.ctx is bare_ctx
    record(bare_ctx, alice, "electronics.tv")
    assert _signal_updates(ctx, grant.id) == 1
    record(ctx, alice, "electronics.tv", ["compare"])  # the test context is wired as create_app wires it
    assert _signal_updates(ctx, grant.id) == 2
