"""The intents room's part of account-wide workflows (export, deletion)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from vault_server.accounts.models import Account
from vault_server.context import VaultContext


def export_sections() -> list[Callable[[Session, VaultContext, Account], tuple[str, Any]]]:
    """The exporters of this room (gestures, declared intents, signals) once their tables exist."""
    return []


def delete_all_for(session: Session, ctx: VaultContext, account: Account) -> None:
    """Delete every gesture, intent and signal of the account (no tables yet in the foundation)."""
    return None
