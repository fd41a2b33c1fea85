"""Property: for any grant (random categories at any taxonomy level, fields, min stage, one or two details), the
feed shows exactly the consumer's signals the grant covers — never a category, field or stage outside it, and
nothing it covers is missing. The expected set comes from an independent reading of the grant rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.feed import service
from vault_server.intents import service as intents

from .test_feed_support import STAGE_RECIPES, make_consumer, make_grant, make_vendor, record, revoke, signals

STAGES = ["awareness", "interest", "motivation", "action", "relationship"]
FIELDS = ["stage", "score", "price_band", "brand", "declared_intent", "last_seen"]
KEY_OF = {"stage": "stage", "score": "score", "price_band": "price_band", "brand": "brands", "last_seen": "last_seen"}
POOL = [
    "electronics",
    "electronics.tv",
    "electronics.headphones",
    "computers",
    "computers.laptop",
    "phones",
    "finance",
    "finance.insurance",
    "finance.insurance.health",
    "appliances",
]
RECORDED = {
    "electronics.tv": "action",
    "electronics.headphones": "awareness",
    "computers.laptop": "motivation",
    "phones.smartphone": "interest",
    "finance.insurance.car": "interest",
    "finance.insurance.health": "interest",  # sensitive, opted in
}

details_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "categories": st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True),
            "fields": st.lists(st.sampled_from(FIELDS), min_size=1, max_size=6, unique=True),
            "min_stage": st.sampled_from(STAGES),
        }
    ),
    min_size=1,
    max_size=2,
)


@pytest.fixture
def consumer_with_signals(ctx: VaultContext) -> str:
    account_id = make_consumer(ctx)
    with ctx.db.session() as s:
        account = s.get(Account, account_id)
        assert account is not None
        intents.update_settings(session=s, ctx=ctx, account=account, paused=None, opt_ins=["finance.insurance.health"])
    for category, stage in RECORDED.items():
        record(ctx, account_id, category, STAGE_RECIPES[stage])
    have = signals(ctx, account_id)
    assert set(have) == set(RECORDED)
    return account_id


def expected(ctx: VaultContext, sigs: dict[str, dict[str, Any]], details: list[dict[str, Any]]) -> dict[str, set[str]]:
    """category -> keys the vendor may see, read straight from the rules (not from the server's shaping code)."""
    policy = ctx.policy
    out: dict[str, set[str]] = {}
    for category, sig in sigs.items():
        allowed: set[str] = set()
        for d in details:
            covered = any(
                (category == g or category.startswith(g + "."))
                and (not policy.is_sensitive(category) or policy.is_sensitive(g))
                for g in d["categories"]
            )
            if covered and STAGES.index(sig["stage"]) >= STAGES.index(d["min_stage"]):
                allowed |= set(d["fields"])
        if allowed:  # the category itself is what was granted; fields add keys (declared_intent only if declared)
            out[category] = {KEY_OF[f] for f in allowed if f in KEY_OF} | {"category", "category_name"}
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=details_strategy)
def test_feed_never_leaves_the_grant(ctx: VaultContext, consumer_with_signals: str, raw: list[dict[str, Any]]) -> None:
    account_id = consumer_with_signals
    details = [
        {**d, "type": "intent_signals", "purpose": "Offers", "retention_days": 30, "frequency": "daily"} for d in raw
    ]
    vendor, _ = make_vendor(ctx)
    grant = make_grant(ctx, account_id, vendor, details)
    try:
        want = expected(ctx, signals(ctx, account_id), details)
        service.stamp_now(ctx)
        with ctx.db.session() as s:
            page = service.read_page(session=s, ctx=ctx, vendor_id=vendor, cursor=None)
        [item] = page.items
        assert item["type"] == "grant.created" and item["subject"] == grant.subject
        got = {sig["category"]: set(sig) for sig in item["signals"]}
        assert got == want
        for sig in item["signals"]:
            assert sig.get("stage", "awareness") in STAGES
        audits = page.audits
        assert len(audits) == 1
        assert audits[0]["details"]["categories"] == sorted(want)
        seen_fields = {f for f, key in KEY_OF.items() for keys in want.values() if key in keys}
        assert set(audits[0]["details"]["fields"]) == seen_fields
    finally:
        revoke(ctx, grant.id)
