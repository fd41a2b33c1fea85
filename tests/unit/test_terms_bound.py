"""An agreement bounds a grant: whatever a vendor asks and the consumer ticks, the grant never allows more than
the agreement in force (property test over the bundled roster), and broken rosters say file:line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault_server.oauth import rar
from vault_server.policy.loader import Policy, check_policy, default_policy_dir, load_policy
from vault_server.policy.models import ANALYTICS_FIELDS, INTENTCASTING_FIELDS, INTENTCASTING_SCOPES, SIGNAL_FIELDS
from vault_server.terms import service

SCOPES = ["signals:read", "intents:read", "offers:write", "questions:write", "identity:name", "identity:email"]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_dir())


detail_strategy = st.builds(
    lambda fields, retention, stage: {
        "type": "intent_signals",
        "categories": ["electronics.tv"],
        "min_stage": stage,
        "fields": fields,
        "purpose": "offers",
        "retention_days": retention,
        "frequency": "daily",
    },
    st.lists(st.sampled_from(SIGNAL_FIELDS), min_size=1, unique=True),
    st.integers(1, 90),
    st.sampled_from(["awareness", "interest", "action"]),
)


@settings(max_examples=300, deadline=None)
@given(
    details=st.lists(detail_strategy, max_size=4),
    scopes=st.lists(st.sampled_from(SCOPES), unique=True),
    which=st.integers(0, 100),
)
def test_a_grant_never_allows_more_than_its_agreement(
    policy: Policy, details: list[dict[str, Any]], scopes: list[str], which: int
) -> None:
    assert policy.agreements is not None
    terms = policy.agreements.agreements[which % len(policy.agreements.agreements)]
    bounded, kept = service.bound(details, scopes, terms)
    permits = terms.permits
    assert rar.is_within(bounded, details)  # never wider than what was asked
    assert set(kept) <= set(scopes)
    for detail in bounded:
        assert detail["retention_days"] <= permits.retention_days
        assert detail["agreement"] == {"id": terms.id, "version": terms.version}
        if not permits.analytics:
            assert not set(detail["fields"]) & ANALYTICS_FIELDS
        if not permits.intentcasting:
            assert not set(detail["fields"]) & INTENTCASTING_FIELDS
    if not permits.intentcasting:
        assert not set(kept) & INTENTCASTING_SCOPES
    if not bounded:
        assert "signals:read" not in kept


def test_a_broken_roster_says_file_and_line(tmp_path: Path) -> None:
    target = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), target)
    text = (target / "agreements.yaml").read_text()
    text = text.replace("default: cc-sd-offers", "default: cc-missing")
    text = text.replace("  - id: cc-no-stalking", "  - id: cc-sd-base", 1)
    (target / "agreements.yaml").write_text(text)
    problems = [str(p) for p in check_policy(target)]
    default_line = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("default:"))
    assert f"agreements.yaml:{default_line}: default agreement 'cc-missing' is not in the roster" in problems
    assert any(p.startswith("agreements.yaml:") and "duplicate agreement 'cc-sd-base'" in p for p in problems)


def test_a_vault_without_a_roster_still_loads(tmp_path: Path) -> None:
    target = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), target)
    (target / "agreements.yaml").unlink()
    assert load_policy(target).agreements is None
