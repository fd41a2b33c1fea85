"""The feed room's part of account-wide workflows: export (casts, offers, questions and answers) and deletion
(every vendor the consumer ever granted is told ``subject.deleted``, then the room's data of the account goes)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.feed import offers, questions
from vault_server.feed.service import emit
from vault_server.grants.models import Grant


def export_inbox(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    """Intentcasts, offers received and questions with the consumer's answers."""
    asked = questions.inbox(session=session, account_id=account.id, status=None)
    for item in asked:
        answer = questions.answer_event(session, ctx, item["id"])
        item["answer"] = answer["answer"] if answer else None
    return "inbox", {
        "intentcasts": offers.list_casts(session=session, ctx=ctx, account_id=account.id),
        "offers": offers.inbox(session=session, ctx=ctx, account_id=account.id),
        "questions": asked,
        "vendor_preferences": [
            {"vendor_id": p.vendor_id, "blocked": p.blocked, "questions_off": p.questions_off}
            for p in offers.preferences(session=session, account_id=account.id)
        ],
    }


def delete_all_for(session: Session, ctx: VaultContext, account: Account) -> None:
    """Tell every vendor the consumer ever granted to forget them (``subject.deleted``, once per grant and
    transaction), then delete casts, offers, answers and switches."""
    for grant in session.exec(select(Grant).where(Grant.account_id == account.id)).all():
        emit(
            session,
            vendor_id=grant.vendor_id,
            subject=grant.subject,
            grant_id=grant.id,
            kind="subject.deleted",
            dedupe=session.info,
        )
    questions.delete_all_for(session=session, account_id=account.id)
    offers.delete_all_for(session=session, account_id=account.id)
