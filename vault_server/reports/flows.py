"""The reports room's part in account export and deletion (registered in accounts/flows.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import Session

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.reports import service
from vault_server.reports.models import ReportBudget, ReportParticipant


def export_participation(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    """Export section: whether the account is counted in anonymous demand statistics and its budget."""
    return "demand_statistics", service.consumer_status(session=session, ctx=ctx, account_id=account.id)


def delete_all_for(session: Session, ctx: VaultContext, account: Account) -> None:
    """Forget participation and budget rows (released reports hold no one's data)."""
    session.execute(delete(ReportParticipant).where(ReportParticipant.account_id == account.id))  # type: ignore[arg-type]
    session.execute(delete(ReportBudget).where(ReportBudget.account_id == account.id))  # type: ignore[arg-type]
