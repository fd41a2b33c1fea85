"""The grants room's part of account-wide workflows: grants, receipts and paired devices in the consumer's
export; on account deletion every grant is revoked (with a receipt and an audit entry) and every token ended."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, delete, select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.grants import service as grants
from vault_server.oauth import tokens
from vault_server.oauth.models import AuthorizationRequest, TokenFamily
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
    """Account deletion: end every grant (audit entry) and token family, then scrub what they said about the
    consumer's interests (categories, fields, purposes, receipts): nothing of it stays readable in the vault."""
    grants.revoke_all_for_account(session=session, ctx=ctx, account_id=account.id)
    families = session.exec(select(TokenFamily).where(TokenFamily.account_id == account.id)).all()
    for family in families:
        tokens.revoke_family(session=session, family_id=family.id, reason="account_deleted")
        family.authorization_details = []
        session.add(family)
    for grant in grants.list_for_account(session=session, account_id=account.id):
        grant.authorization_details = []
        grant.requested = {}
        grant.purpose = ""
        session.add(grant)
        for receipt in grants.receipts_of(session=session, grant_id=grant.id):
            session.delete(receipt)
    session.exec(delete(AuthorizationRequest).where(col(AuthorizationRequest.account_id) == account.id))
