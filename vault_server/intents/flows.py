"""The intents room's part of account-wide workflows (export, deletion)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.intents import service
from vault_server.signals.service import signals_for


def _gestures(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    return "gestures", [
        {**g["event"], "id": g["id"], "category": g["category"]}
        for g in service.iter_all_gestures(session=session, ctx=ctx, account_id=account.id)
    ]


def _intents(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    return "intents", service.list_intents(session=session, ctx=ctx, account_id=account.id)


def _signals(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    return "signals", signals_for(session=session, ctx=ctx, account_id=account.id)


def _settings(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account.id)
    return "settings", {
        "paused": account.paused,
        "opt_in_categories": service.get_opt_ins(session=session, cipher=cipher),
    }


def export_sections() -> list[Callable[[Session, VaultContext, Account], tuple[str, Any]]]:
    """This room's exporters: settings, gestures, declared intents and current signals."""
    return [_settings, _gestures, _intents, _signals]


def delete_all_for(session: Session, ctx: VaultContext, account: Account) -> None:
    """Delete every gesture, intent, signal and setting of the account."""
    service.delete_everything(session=session, account_id=account.id)
