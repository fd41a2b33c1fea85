"""Rich Authorization Requests (RFC 9396) of type intent_signals: validation, narrowing that can never widen,
and shaping signals to exactly the granted categories, stages and fields (sensitive ones only when granted)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault_server.oauth import rar
from vault_server.oauth.errors import OAuthError
from vault_server.policy.loader import Policy, default_policy_dir, load_policy

_POLICY = load_policy(default_policy_dir())


@pytest.fixture(scope="module")
def policy() -> Policy:
    return _POLICY


BASE: dict[str, Any] = {
    "type": "intent_signals",
    "categories": ["electronics.tv", "electronics.headphones"],
    "min_stage": "interest",
    "fields": ["stage", "score", "brand"],
    "purpose": "offers",
    "retention_days": 30,
    "frequency": "daily",
}


def sig(category: str, stage: str = "action", **extra: Any) -> dict[str, Any]:
    return {
        "category": category,
        "category_name": category,
        "score": 0.8123,
        "stage": stage,
        "confidence": 0.9,
        "last_seen": datetime(2026, 11, 25, tzinfo=UTC),
        "price_band": "500-1000 EUR",
        "brands": ["Sony"],
        **extra,
    }


def test_parse_normalises_and_defaults(policy: Policy) -> None:
    raw = [{k: v for k, v in BASE.items() if k not in ("min_stage", "frequency")}]
    raw[0]["fields"] = ["brand", "stage", "brand"]
    parsed = rar.parse(json.dumps(raw), policy)
    assert parsed[0]["min_stage"] == "awareness" and parsed[0]["frequency"] == "daily"
    assert parsed[0]["fields"] == ["stage", "brand"]  # policy order, no duplicates
    assert rar.parse(None, policy) == [] and rar.parse("", policy) == []


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        "{}",
        json.dumps([BASE] * 6),
        json.dumps(["x"]),
        json.dumps([{**BASE, "categories": []}]),
        json.dumps([{**BASE, "categories": "electronics.tv"}]),
        json.dumps([{**BASE, "retention_days": True}]),
        json.dumps([{**BASE, "retention_days": 0}]),
        json.dumps([{**BASE, "frequency": "hourly"}]),
        json.dumps([{**BASE, "purpose": "  "}]),
        json.dumps([{**BASE, "fields": []}]),
    ],
)
def test_parse_refusals(policy: Policy, raw: str) -> None:
    with pytest.raises(OAuthError) as err:
        rar.parse(raw, policy)
    assert err.value.error == "invalid_authorization_details"


def test_narrow_never_widens_and_keeps_stage_floor(policy: Policy) -> None:
    detail = rar.parse([BASE], policy)
    out = rar.narrow(
        detail,
        categories={0: {"electronics.tv", "electronics.laptops"}},
        fields={0: {"stage", "price_band"}},
        min_stage={0: "awareness"},
    )
    assert out[0]["categories"] == ["electronics.tv"] and out[0]["fields"] == ["stage"]
    assert out[0]["min_stage"] == "interest"  # cannot go below what was asked
    higher = rar.narrow(detail, categories={0: {"electronics.tv"}}, fields={0: {"stage"}}, min_stage={0: "action"})
    assert higher[0]["min_stage"] == "action"
    assert rar.narrow(detail, categories={}, fields={0: {"stage"}}, min_stage={}) == []
    assert rar.is_within(out, detail) and not rar.is_within(detail, out)


@given(
    cats=st.sets(st.sampled_from(["electronics.tv", "electronics.headphones", "electronics.laptops", "x"])),
    fields=st.sets(st.sampled_from(["stage", "score", "brand", "price_band", "last_seen"])),
    stage=st.sampled_from(["awareness", "interest", "motivation", "action", "relationship", "bogus"]),
)
def test_narrowing_is_always_within_the_request(cats: set[str], fields: set[str], stage: str) -> None:
    requested = rar.parse([BASE], _POLICY)
    out = rar.narrow(requested, categories={0: cats}, fields={0: fields}, min_stage={0: stage})
    assert rar.is_within(out, requested)


def test_shape_returns_only_granted_categories_stages_and_fields(policy: Policy) -> None:
    details = rar.parse([{**BASE, "categories": ["electronics"], "fields": ["stage", "score"]}], policy)
    signals = [sig("electronics.tv"), sig("electronics.headphones", "awareness"), sig("home.furniture")]
    shaped = rar.shape(signals, details, policy)
    assert shaped == [
        {"category": "electronics.tv", "category_name": "electronics.tv", "stage": "action", "score": 0.812}
    ]


def test_sensitive_category_only_when_granted_itself(policy: Policy) -> None:
    broad = rar.parse([{**BASE, "categories": ["health"]}], policy)
    assert policy.is_sensitive("health.hearing")
    # "health" is itself sensitive, so granting it covers its children
    assert [s["category"] for s in rar.shape([sig("health.hearing")], broad, policy)] == ["health.hearing"]
    insurance = "finance.insurance.health"
    parent = policy.nodes[insurance].parent
    assert parent is not None and not policy.is_sensitive(parent)
    granted_parent = rar.parse([{**BASE, "categories": [parent]}], policy)
    assert rar.shape([sig(insurance)], granted_parent, policy) == []  # never via a non-sensitive ancestor


def test_leaves_under(policy: Policy) -> None:
    leaves = rar.leaves_under(policy, {"electronics"})
    assert "electronics.tv" in leaves and all(leaf.startswith("electronics") for leaf in leaves)
