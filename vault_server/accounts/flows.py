"""Multi-room account workflows: the consumer's full export and account deletion (crypto-shredding).

Each room that holds consumer data contributes an exporter and a deleter here, called inside one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlmodel import Session

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account
from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.db import utcnow
from vault_server.errors import ValidationFailed

Exporter = Callable[[Session, VaultContext, Account], tuple[str, Any]]
Deleter = Callable[[Session, VaultContext, Account], None]


def _export_tokens(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    return "tokens", [
        {
            "id": t.id,
            "name": t.name,
            "kind": t.kind,
            "scopes": t.scopes.split(),
            "created_at": t.created_at.isoformat(),
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in accounts.list_tokens(session=session, account_id=account.id)
    ]


def room_exporters() -> list[Exporter]:
    """Every room's exporter, in export order. Rooms added later register here."""
    from vault_server.feed.flows import export_inbox
    from vault_server.grants.flows import export_grants
    from vault_server.intents.flows import export_sections as intent_sections
    from vault_server.reports.flows import export_participation
    from vault_server.terms.flows import export_terms

    return [_export_tokens, *intent_sections(), export_grants, export_inbox, export_participation, export_terms]


def room_deleters() -> list[Deleter]:
    from vault_server.feed.flows import delete_all_for as feed_delete
    from vault_server.grants.flows import revoke_everything as grants_revoke
    from vault_server.intents.flows import delete_all_for as intents_delete
    from vault_server.reports.flows import delete_all_for as reports_delete

    return [grants_revoke, intents_delete, feed_delete, reports_delete]


def export_account(*, session: Session, ctx: VaultContext, account: Account) -> dict[str, Any]:
    """Returns everything the vault holds about the account, decrypted, as one JSON-able document."""
    cipher_for(session=session, ring=ctx.ring, account_id=account.id)  # fails clearly after shredding
    doc: dict[str, Any] = {
        "format": "intent-vault-export/1",
        "exported_at": utcnow().isoformat(),
        "account": {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in accounts.profile(session=session, ring=ctx.ring, account=account).items()
        },
    }
    for exporter in room_exporters():
        name, value = exporter(session, ctx, account)
        doc[name] = value
    encoded: dict[str, Any] = jsonable_encoder(doc)
    return encoded


def delete_account(*, session: Session, ctx: VaultContext, account: Account, actor: str = "consumer") -> None:
    """Delete every room's data of the account, then shred its key and blank the account row.

    The ``consumer.deleted`` audit entry is written first, while the key still exists: its private part is
    encrypted with that key and becomes unreadable with everything else; its hash keeps the log verifiable.
    """
    audit.record(
        session=session,
        ctx=ctx,
        kind="consumer.deleted",
        actor=actor,
        consumer_id=account.id,
        details={"role": account.role},
        private={"account_id": account.id, "deleted_at": utcnow().isoformat()},
    )
    for deleter in room_deleters():
        deleter(session, ctx, account)
    accounts.delete_account(session=session, account=account)


DELETE_PHRASE = "delete my vault"


def delete_own_account(*, session: Session, ctx: VaultContext, account_id: str, password: str, confirm: str) -> None:
    """The consumer deletes their own account: the typed phrase and the password must both match; then
    :func:`delete_account`. Raises ValidationFailed or InvalidCredentials and deletes nothing otherwise."""
    if confirm.strip().lower() != DELETE_PHRASE:
        raise ValidationFailed(f'type "{DELETE_PHRASE}" to confirm')
    account = accounts.get_account(session=session, account_id=account_id)
    try:
        ctx.hasher.verify(account.password_hash or "", password)
    except Exception:
        raise accounts.InvalidCredentials("password is wrong") from None
    delete_account(session=session, ctx=ctx, account=account)
