""" "Signals changed": the one-way hook from the rooms that change signal states to the rooms that react.

The intents room publishes after it wrote signal states (ingest, intent edits, deletions, recomputes); the feed
subscribes (``feed.hooks.install(ctx)``, called by ``create_app``) to log ``signal.updated`` for the grants that can
see the change. Subscribers live on the :class:`~vault_server.context.VaultContext`, never in module state, so every
app (and every test) has exactly the subscribers it was built with, and the intents room never imports the feed.

Subscribers run inside the publisher's transaction: what they write commits or rolls back with the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlmodel import Session

if TYPE_CHECKING:
    from vault_server.context import VaultContext
    from vault_server.crypto.envelope import ConsumerCipher


class SignalsChanged(Protocol):
    """A subscriber: called with the consumer and the categories whose signal states changed."""

    def __call__(self, *, session: Session, ctx: VaultContext, account_id: str, categories: Iterable[str]) -> object:
        """React inside the caller's transaction; the return value is ignored."""


@dataclass
class SignalHooks:
    """The subscribers of one context, called in subscription order."""

    subscribers: list[SignalsChanged] = field(default_factory=list)


def subscribe(ctx: VaultContext, subscriber: SignalsChanged) -> None:
    """Call ``subscriber`` whenever signals change under ``ctx`` (idempotent: subscribing twice calls it once)."""
    if subscriber not in ctx.signal_hooks.subscribers:
        ctx.signal_hooks.subscribers.append(subscriber)


@dataclass(frozen=True)
class Known:
    """What a publisher already holds of the change, so a subscriber need not read it back: the consumer's data key
    and, per category, the (score, stage) of the state it just wrote, evaluated at publish time. A category not in
    ``signals`` is unknown (read it)."""

    cipher: ConsumerCipher
    signals: Mapping[str, tuple[float, str]]


_KNOWN: ContextVar[Known | None] = ContextVar("signals_published_known", default=None)


def known() -> Known | None:
    """Inside a subscriber: what the publisher passed as ``known`` (None when it passed nothing)."""
    return _KNOWN.get()


def publish(
    *, session: Session, ctx: VaultContext, account_id: str, categories: Iterable[str], known: Known | None = None
) -> None:
    """Tell every subscriber that these categories' signal states of this consumer changed."""
    changed = sorted(set(categories))
    if not changed:
        return
    token = _KNOWN.set(known if known is not None and known.cipher.consumer_id == account_id else None)
    try:
        for subscriber in ctx.signal_hooks.subscribers:
            subscriber(session=session, ctx=ctx, account_id=account_id, categories=changed)
    finally:
        _KNOWN.reset(token)
