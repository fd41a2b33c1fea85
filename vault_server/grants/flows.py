"""The grants room's part of account-wide workflows: grants, receipts and paired devices in the consumer's
export; on account deletion every grant is revoked (with a receipt and an audit entry) and every token ended."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.grants import service as grants
from vault_server.oauth import tokens
from vault_server.oauth.models import TokenFamily
from vault_server.vendors.models import VendorApp


def export_grants(session: Session, ctx: VaultContext, account: Account) -> tuple[str, Any]:
    """Every grant with its signed receipts (compact JWS), and the paired devices."""
    rows = grants.list_for_account(session=session, account_id=account.id)
    out = []
    for g in rows:
        view = grants.view(g, session.get(VendorApp, g.vendor_id))
        view["receipts"] = [
            {"id": r.id, "version": r.version, "event": r.event, "jws": r.jws}
            for r in grants.receipts_of(session=session, grant_id=g.id)
        ]
        out.append(view)
    families = session.exec(
        select(TokenFamily).where(TokenFamily.account_id == account.id).order_by(col(TokenFamily.created_at))
    ).all()
    devices = [
        {
            "id": f.id,
            "kind": f.kind,
            "client_id": f.client_id,
            "name": f.device_name,
            "scope": f.scope.split(),
            "created_at": f.created_at.isoformat(),
            "revoked_at": f.revoked_at.isoformat() if f.revoked_at else None,
        }
        for f in families
    ]
    return "grants", {"grants": out, "token_families": devices}


def revoke_everything(session: Session, ctx: VaultContext, account: Account) -> None:
    """Account deletion: end every grant (receipt + audit) and every token family of the account."""
    grants.revoke_all_for_account(session=session, ctx=ctx, account_id=account.id)
    for family in session.exec(
        select(TokenFamily).where(TokenFamily.account_id == account.id, col(TokenFamily.revoked_at).is_(None))
    ).all():
        tokens.revoke_family(session=session, family_id=family.id, reason="account_deleted")


