"""What the consent screen shows and what its form means: the vendor's verified identity, each category and
field in plain words with a preview from the consumer's own signals, and the narrowing of the decision."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.oauth import rar
from vault_server.oauth.models import AuthorizationRequest
from vault_server.oauth.scopes import IDENTITY_SCOPES, SCOPE_LABELS
from vault_server.policy.models import STAGES
from vault_server.vendors.models import VendorApp

log = logging.getLogger("vault.oauth")


def consumer_signals(
    *, session: Session, ctx: VaultContext, account_id: str, categories: set[str]
) -> list[dict[str, Any]]:
    """The consumer's current signals in (or below) ``categories``; empty if the signals room cannot say."""
    from vault_server.signals.service import signals_for

    leaves = rar.leaves_under(rar.policy_for(ctx), categories)
    try:
        return list(signals_for(session=session, ctx=ctx, account_id=account_id, categories=leaves))
    except Exception as exc:  # a preview must never block the decision; the form stays correct without it
        log.warning("consent preview unavailable: %s", type(exc).__name__)
        return []


def view_model(*, session: Session, ctx: VaultContext, req: AuthorizationRequest, app: VendorApp) -> dict[str, Any]:
    policy = rar.policy_for(ctx)
    signals = consumer_signals(
        session=session, ctx=ctx, account_id=req.account_id, categories=rar.categories_of(req.authorization_details)
    )
    details = []
    for i, detail in enumerate(req.authorization_details):
        cats = []
        for cat in detail["categories"]:
            node = policy.nodes.get(cat)
            sensitive = policy.is_sensitive(cat)
            preview = rar.shape(signals, [{**detail, "categories": [cat]}], policy)
            cats.append(
                {
                    "id": cat,
                    "name": node.name if node else cat,
                    "path": " > ".join(policy.nodes[a].name for a in reversed(policy.ancestors(cat))),
                    "sensitive": sensitive,
                    "checked": not sensitive,
                    "preview": preview,
                }
            )
        details.append(
            {
                "index": i,
                "categories": cats,
                "fields": [{"id": f, "label": rar.FIELD_LABELS.get(f, f)} for f in detail["fields"]],
                "min_stage": detail["min_stage"],
                "min_stage_label": rar.STAGE_LABELS.get(detail["min_stage"], detail["min_stage"]),
                "stage_options": [
                    {"id": s, "label": rar.STAGE_LABELS.get(s, s)}
                    for s in STAGES
                    if rar.stage_rank(s) >= rar.stage_rank(detail["min_stage"])
                ],
                "purpose": detail["purpose"],
                "retention_days": detail["retention_days"],
                "frequency": detail["frequency"],
            }
        )
    scopes = req.scope.split()
    return {
        "app": app,
        "request_id": req.id,
        "details": details,
        # signals:read is what the details above mean; it is not a separate choice
        "scopes": [
            {"id": s, "label": SCOPE_LABELS.get(s, s)}
            for s in scopes
            if s not in IDENTITY_SCOPES and not (s == "signals:read" and details)
        ],
        "identity": [{"id": s.split(":")[1], "label": SCOPE_LABELS.get(s, s)} for s in scopes if s in IDENTITY_SCOPES],
        "has_signals": bool(signals),
    }


def decision(
    form: Sequence[tuple[str, Any]], req: AuthorizationRequest
) -> tuple[list[dict[str, Any]], list[str], list[str], int]:
    """The consumer's narrowed choice from the posted form: (details, scopes, identity fields, expiry days)."""
    categories: dict[int, set[str]] = {}
    fields: dict[int, set[str]] = {}
    stages: dict[int, str] = {}
    scopes: set[str] = set()
    identity: set[str] = set()
    days = 90
    for key, value in form:
        value = str(value)
        if key.startswith("d") and "." in key:
            head, _, what = key.partition(".")
            try:
                index = int(head[1:])
            except ValueError:
                continue
            if what == "cat":
                categories.setdefault(index, set()).add(value)
            elif what == "field":
                fields.setdefault(index, set()).add(value)
            elif what == "min_stage":
                stages[index] = value
        elif key == "scope":
            scopes.add(value)
        elif key == "identity":
            identity.add(value)
        elif key == "expires_days":
            try:
                days = int(value)
            except ValueError:
                days = 90
    details = rar.narrow(req.authorization_details, categories=categories, fields=fields, min_stage=stages)
    requested = req.scope.split()
    granted_scopes = [s for s in requested if s in scopes and s not in IDENTITY_SCOPES]
    if "signals:read" in requested and details and "signals:read" not in granted_scopes:
        granted_scopes.insert(0, "signals:read")  # reading the chosen signals is what the details mean
    if not details and "signals:read" in granted_scopes:
        granted_scopes.remove("signals:read")
    granted_identity: list[str] = [f for f in ("name", "email") if f in identity and f"identity:{f}" in requested]
    return details, granted_scopes, granted_identity, max(1, min(days, 365))
