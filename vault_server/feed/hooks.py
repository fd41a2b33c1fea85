"""Changes reach the feed in the same transaction: grant changes through ORM listeners on the grants room's
``Grant`` rows, signal changes through the signals room's "signals changed" hook.

The grants room writes grants through the ORM (create, narrow, revoke, expire, account deletion); these mapper
listeners append the matching feed change (and webhook outbox rows) on the flush's own connection, so the change
log can never disagree with the grant table. ``install(ctx)`` is idempotent; ``create_app`` (and the CLI commands that
change signals) call it with their context.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, inspect
from sqlalchemy.orm import Mapper, Session, SessionTransaction, object_session

from vault_server.context import VaultContext
from vault_server.feed.service import emit, on_signal_changed
from vault_server.grants.models import Grant
from vault_server.signals import hooks as signal_hooks

_END_KINDS = {"expired": "grant.expired", "account_deleted": "subject.deleted"}


def _memo(target: Grant) -> dict[Any, Any] | None:
    session = object_session(target)
    return session.info if session is not None else None


def _after_insert(_mapper: Mapper[Any], connection: Connection, target: Grant) -> None:
    emit(
        connection,
        vendor_id=target.vendor_id,
        subject=target.subject,
        grant_id=target.id,
        kind="grant.created",
        dedupe=_memo(target),
    )


def _after_update(_mapper: Mapper[Any], connection: Connection, target: Grant) -> None:
    state = inspect(target)
    ended = state.attrs.revoked_at.history
    if ended.added and target.revoked_at is not None and not any(v is not None for v in ended.deleted):
        kind = _END_KINDS.get(target.end_reason or "", "grant.revoked")
        emit(
            connection,
            vendor_id=target.vendor_id,
            subject=target.subject,
            grant_id=target.id,
            kind=kind,
            dedupe=_memo(target),
        )
        return
    if target.revoked_at is None and state.attrs.authorization_details.history.has_changes():
        emit(
            connection,
            vendor_id=target.vendor_id,
            subject=target.subject,
            grant_id=target.id,
            kind="grant.narrowed",
            ref_id=str(target.version),
            dedupe=_memo(target),
        )


def _forget_memo(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop("feed_emitted", None)


def install(ctx: VaultContext) -> None:
    """Subscribe the feed to ``ctx``'s signal changes and register the grant listeners (idempotent)."""
    signal_hooks.subscribe(ctx, on_signal_changed)
    install_grant_listeners()


def install_grant_listeners() -> None:
    """Register the grant listeners once per process (they are mapper events, so process-wide)."""
    if event.contains(Grant, "after_insert", _after_insert):
        return
    event.listen(Grant, "after_insert", _after_insert)
    event.listen(Grant, "after_update", _after_update)
    event.listen(Session, "after_transaction_end", _forget_memo)
