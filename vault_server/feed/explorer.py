"""The vendor portal's feed explorer: the subjects that granted an app (pseudonyms only), how their signals spread
over the funnel stages, and the feed's latest items.

It reads through the feed's own path (``shaped_for_grants`` narrows every consumer's signals to their grant as it
is now; ``read_page`` builds the items) and writes the same ``vendor.read`` audit entries as ``GET /v1/feed``,
naming the portal as the endpoint, in the same transaction and before anything is rendered: no side door.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.feed import service
from vault_server.grants import service as grants
from vault_server.oauth import rar
from vault_server.policy.models import STAGES

ENDPOINT = "/vendor/feed"
SUBJECTS_CAP = 100
LATEST = 20


def explore(
    *, session: Session, ctx: VaultContext, vendor_id: str, sandbox_subjects: set[str] | None = None
) -> dict[str, Any]:
    """The explorer's view of one app, audited in the caller's transaction (commit before rendering)."""
    live = grants.live_for_vendor(session=session, vendor_id=vendor_id, limit=SUBJECTS_CAP + 1)
    capped = len(live) > SUBJECTS_CAP
    live = live[:SUBJECTS_CAP]
    shaped = service.shaped_for_grants(session=session, ctx=ctx, grants=live)
    audits: list[dict[str, Any]] = []
    stages: Counter[str] = Counter()
    subjects = []
    sandbox_subjects = sandbox_subjects or set()
    for grant in sorted(live, key=lambda g: g.created_at, reverse=True):
        signals = shaped[grant.id]
        if signals:
            audits.append(
                {
                    "kind": "vendor.read",
                    "consumer_id": grant.account_id,
                    "details": service.read_details(vendor_id, grant, signals, endpoint=ENDPOINT),
                    "private": {"signals": signals},
                }
            )
        stages.update(str(s["stage"]) for s in signals if "stage" in s)
        subjects.append(
            {
                "subject": grant.subject,
                "since": grant.created_at,
                "expires": grant.expires_at,
                "categories": sorted(rar.categories_of(grant.authorization_details or [])),
                "signals": signals,
                "sandbox": grant.subject in sandbox_subjects,
            }
        )
    after = service.position_before_latest(session, vendor_id, LATEST)
    page = service.read_page(
        session=session,
        ctx=ctx,
        vendor_id=vendor_id,
        cursor=service.encode_cursor(ctx, vendor_id, after),
        limit=LATEST,
        endpoint=ENDPOINT,
    )
    service.record_reads(
        session=session, ctx=ctx, vendor_id=vendor_id, audits=audits + page.audits, ciphers=page.ciphers
    )
    return {
        "subjects": subjects,
        "capped": capped,
        "stage_counts": [(stage, stages.get(stage, 0)) for stage in STAGES],
        "latest": list(reversed(page.items)),
    }
