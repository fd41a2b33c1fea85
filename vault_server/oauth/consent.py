"""What the consent screen shows and what its form means: the vendor's verified identity, each category and
field in plain words with a preview from the consumer's own signals, and the narrowing of the decision."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.oauth import rar
from vault_server.oauth.models import AuthorizationRequest
from vault_server.oauth.scopes import IDENTITY_SCOPES, SCOPE_LABELS
from vault_server.policy.models import STAGES
from vault_server.vendors.models import VendorApp

log = logging.getLogger("vault.oauth")
EXPIRY_CHOICES = (7, 30, 90, 180, 365)


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


@dataclass
class Choices:
    """What the consent form says, as posted: per detail the ticked categories and fields and the chosen
    minimum stage, plus the ticked scopes and identity fields and the expiry."""

    categories: dict[int, set[str]] = field(default_factory=dict)
    fields: dict[int, set[str]] = field(default_factory=dict)
    stages: dict[int, str] = field(default_factory=dict)
    scopes: set[str] = field(default_factory=set)
    identity: set[str] = field(default_factory=set)
    days: int = 90


def choices(form: Sequence[tuple[str, Any]]) -> Choices:
    """Parse the consent form (the same names the template writes)."""
    out = Choices()
    for key, value in form:
        value = str(value)
        if key.startswith("d") and "." in key:
            head, _, what = key.partition(".")
            try:
                index = int(head[1:])
            except ValueError:
                continue
            if what == "cat":
                out.categories.setdefault(index, set()).add(value)
            elif what == "field":
                out.fields.setdefault(index, set()).add(value)
            elif what == "min_stage":
                out.stages[index] = value
        elif key == "scope":
            out.scopes.add(value)
        elif key == "identity":
            out.identity.add(value)
        elif key == "expires_days":
            try:
                out.days = int(value)
            except ValueError:
                out.days = 90
    return out


def view_model(
    *,
    session: Session,
    ctx: VaultContext,
    req: AuthorizationRequest,
    app: VendorApp,
    chosen: Choices | None = None,
) -> dict[str, Any]:
    """The consent screen: every requested category with a preview of what the vendor would see now, built from
    the whole request so the page's script can follow the consumer's narrowing live (hiding, never adding); with
    ``chosen`` (the "Update the preview" button, no script) the form shows those choices and the preview follows
    them."""
    policy = rar.policy_for(ctx)
    signals = consumer_signals(
        session=session, ctx=ctx, account_id=req.account_id, categories=rar.categories_of(req.authorization_details)
    )
    stage_of = {str(sig["category"]): str(sig["stage"]) for sig in signals}
    details = []
    for i, detail in enumerate(req.authorization_details):
        cats = []
        ticked_fields = set(detail["fields"]) if chosen is None else chosen.fields.get(i, set())
        min_stage = detail["min_stage"]
        if chosen is not None and i in chosen.stages and chosen.stages[i] in STAGES:
            min_stage = max(chosen.stages[i], detail["min_stage"], key=rar.stage_rank)
        for cat in detail["categories"]:
            node = policy.nodes.get(cat)
            sensitive = policy.is_sensitive(cat)
            preview = rar.shape(signals, [{**detail, "categories": [cat]}], policy)
            for item in preview:  # the real stage (shared or not) tells which items a higher minimum hides
                item["stage_rank"] = rar.stage_rank(stage_of.get(item["category"], detail["min_stage"]))
                item["stage_label"] = rar.STAGE_LABELS.get(str(item.get("stage", "")), item.get("stage", ""))
                item["shown"] = item["stage_rank"] >= rar.stage_rank(min_stage)
            checked = not sensitive if chosen is None else cat in chosen.categories.get(i, set())
            cats.append(
                {
                    "id": cat,
                    "name": node.name if node else cat,
                    "path": " > ".join(policy.nodes[a].name for a in reversed(policy.ancestors(cat))),
                    "sensitive": sensitive,
                    "checked": checked,
                    "preview": preview,
                }
            )
        details.append(
            {
                "index": i,
                "categories": cats,
                "fields": [
                    {"id": f, "label": rar.FIELD_LABELS.get(f, f), "checked": f in ticked_fields}
                    for f in detail["fields"]
                ],
                "ticked_fields": ticked_fields,
                "chosen_stage": min_stage,
                "min_stage": detail["min_stage"],
                "min_stage_label": rar.STAGE_LABELS.get(detail["min_stage"], detail["min_stage"]),
                "stage_options": [
                    {"id": s, "label": rar.STAGE_LABELS.get(s, s), "rank": rar.stage_rank(s)}
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
            {"id": s, "label": SCOPE_LABELS.get(s, s), "checked": chosen is None or s in chosen.scopes}
            for s in scopes
            if s not in IDENTITY_SCOPES and not (s == "signals:read" and details)
        ],
        "identity": [
            {
                "id": s.split(":")[1],
                "label": SCOPE_LABELS.get(s, s),
                "checked": chosen is not None and s.split(":")[1] in chosen.identity,
            }
            for s in scopes
            if s in IDENTITY_SCOPES
        ],
        "expires_days": chosen.days if chosen is not None and chosen.days in EXPIRY_CHOICES else 90,
        "expiry_choices": EXPIRY_CHOICES,
        "has_signals": bool(signals),
    }


def decision(
    form: Sequence[tuple[str, Any]], req: AuthorizationRequest
) -> tuple[list[dict[str, Any]], list[str], list[str], int]:
    """The consumer's narrowed choice from the posted form: (details, scopes, identity fields, expiry days)."""
    chosen = choices(form)
    scopes, identity, days = chosen.scopes, chosen.identity, chosen.days
    details = rar.narrow(
        req.authorization_details, categories=chosen.categories, fields=chosen.fields, min_stage=chosen.stages
    )
    requested = req.scope.split()
    granted_scopes = [s for s in requested if s in scopes and s not in IDENTITY_SCOPES]
    if "signals:read" in requested and details and "signals:read" not in granted_scopes:
        granted_scopes.insert(0, "signals:read")  # reading the chosen signals is what the details mean
    if not details and "signals:read" in granted_scopes:
        granted_scopes.remove("signals:read")
    granted_identity: list[str] = [f for f in ("name", "email") if f in identity and f"identity:{f}" in requested]
    return details, granted_scopes, granted_identity, max(1, min(days, 365))
