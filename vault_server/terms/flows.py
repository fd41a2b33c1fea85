"""The terms room's part in account export (registered in accounts/flows.py); rows go with the account
(foreign keys cascade), so deletion needs nothing here."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.terms import service


def export_terms(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    """Export section: the agreements the consumer proffers and every signed agreement record."""
    if service.roster(ctx) is None:
        return "terms", None
    records = service.records_for_account(session=session, account_id=account.id)
    return "terms", {
        "choices": service.choices(session=session, ctx=ctx, account_id=account.id),
        "records": [service.download(session=session, ctx=ctx, row=r) for r in records],
    }
