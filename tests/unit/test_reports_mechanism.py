"""The demand-report mechanism: a public domain, bounded contributions, and OpenDP's proof of epsilon."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault_server.policy.loader import Policy, default_policy_dir, load_policy
from vault_server.policy.models import STAGES
from vault_server.reports import mechanism as m

CURRENCIES = ["EUR", "USD"]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_dir())


def query(level: int = 1, by_price_band: bool = False, epsilon: float = 0.5) -> m.Query:
    return m.Query(period="2026-12", level=level, by_price_band=by_price_band, epsilon_micro=round(epsilon * 1e6))


@pytest.mark.parametrize("epsilon", [0.05, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("max_cells", [1, 3, 8])
def test_the_noise_scale_is_proven_to_cost_at_most_epsilon(epsilon: float, max_cells: int) -> None:
    scale = m.noise_scale(round(epsilon * 1e6), max_cells)
    assert m.privacy_loss(scale, max_cells) <= epsilon + 1e-9
    # and it is not wastefully large: a tenth less noise would break the promise
    assert m.privacy_loss(scale * 0.9, max_cells) > epsilon


def test_the_domain_is_public_and_never_sensitive(policy: Policy) -> None:
    for level in (1, 2, 3):
        domain = m.category_domain(policy, level)
        assert domain, level
        assert not any(policy.is_sensitive(c) for c in domain)
        assert all(m.depth(c) <= level for c in domain)
    assert any(policy.is_sensitive(c) for c in policy.nodes), "the bundled taxonomy lists sensitive categories"
    cells = m.cell_domain(policy, query(level=1, by_price_band=True), CURRENCIES)
    assert len(cells) == len(set(cells)) == len(m.category_domain(policy, 1)) * len(STAGES) * (8 * 2 + 1)


def test_a_leaf_counts_under_its_ancestor_at_the_asked_level(policy: Policy) -> None:
    assert m.at_level(policy, "electronics.tv", 1) == "electronics"
    assert m.at_level(policy, "electronics.tv", 2) == "electronics.tv"
    assert m.at_level(policy, "electronics.tv", 3) == "electronics.tv"  # a shallower leaf stays itself
    assert m.at_level(policy, "no.such.category", 1) is None
    sensitive = next(c for c in policy.nodes if policy.is_sensitive(c))
    assert m.at_level(policy, sensitive, 1) is None


signal_strategy = st.fixed_dictionaries(
    {
        "category": st.sampled_from(["electronics.tv", "electronics.soundbar", "computers.laptop", "health", "x.y"]),
        "stage": st.sampled_from([*STAGES, "bogus"]),
        "score": st.floats(0, 1),
        "price_band": st.sampled_from([None, "250-500 EUR", "2500+ USD", "100-250 JPY", 7]),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    people=st.lists(st.lists(signal_strategy, max_size=12), max_size=6),
    extra=st.lists(signal_strategy, max_size=20),
    max_cells=st.integers(1, 5),
    level=st.integers(1, 3),
    by_band=st.booleans(),
)
def test_one_more_person_moves_the_counts_by_at_most_the_bound(
    policy: Policy,
    people: list[list[dict[str, Any]]],
    extra: list[dict[str, Any]],
    max_cells: int,
    level: int,
    by_band: bool,
) -> None:
    q = query(level, by_band)
    domain = m.cell_domain(policy, q, CURRENCIES)
    cells = [m.person_cells(policy, q, signals, CURRENCIES, max_cells) for signals in people]
    extra_cells = m.person_cells(policy, q, extra, CURRENCIES, max_cells)
    assert len(extra_cells) <= max_cells and len(set(extra_cells)) == len(extra_cells)
    assert set(extra_cells) <= set(domain)
    without = m.true_counts(domain, cells)
    with_one = m.true_counts(domain, [*cells, extra_cells])
    assert sum(abs(a - b) for a, b in zip(with_one, without, strict=True)) <= max_cells


def test_the_strongest_signals_are_the_ones_counted(policy: Policy) -> None:
    signals = [
        {"category": "electronics.tv", "stage": "action", "score": 0.9},
        {"category": "computers.laptop", "stage": "interest", "score": 0.2},
        {"category": "electronics.soundbar", "stage": "motivation", "score": 0.5},
    ]
    assert m.person_cells(policy, query(level=2), signals, CURRENCIES, 2) == [
        ("electronics.tv", "action", m.NO_BAND),
        ("electronics.soundbar", "motivation", m.NO_BAND),
    ]
    # at level 1 both electronics signals fall into distinct stage cells of one category
    assert m.person_cells(policy, query(level=1), signals, CURRENCIES, 3)[:2] == [
        ("electronics", "action", m.NO_BAND),
        ("electronics", "motivation", m.NO_BAND),
    ]


def test_release_adds_integer_noise_and_suppression_drops_small_counts() -> None:
    counts = [1000, 0, 50]
    noisy = m.release(counts, scale=2.0)
    assert all(isinstance(n, int) for n in noisy) and len(noisy) == 3
    assert abs(noisy[0] - 1000) < 100  # 50 scales: probability ~e^-50
    kept, dropped = m.suppress([("a", "interest", "any"), ("b", "interest", "any"), ("c", "action", "any")], noisy, 20)
    assert ("a", "interest", "any") in [cell for cell, _ in kept] and ("b", "interest", "any") not in [
        cell for cell, _ in kept
    ]
    assert dropped == 3 - len(kept)
    assert m.error_bound(2.0) == 6  # 2 * ln 20 = 5.99


def test_the_threshold_rises_with_the_domain_so_empty_cells_stay_rare() -> None:
    scale = m.noise_scale(500_000, 3)  # epsilon 0.5, 3 cells: scale 6
    small, large = m.release_threshold(20, scale, 100), m.release_threshold(20, scale, 20_000)
    assert 20 <= small < large
    assert m.release_threshold(500, scale, 100) == 500  # the configured floor is kept
    # a domain of pure noise: at most a few cells in 20 such reports pass (expected 0.05 per report)
    empty = [0] * 2_000
    threshold = m.release_threshold(20, scale, len(empty))
    passed = sum(len(m.suppress([("c", "interest", "any")] * len(empty), m.release(empty, scale), threshold)[0])
                 for _ in range(20))  # fmt: skip
    assert passed <= 4  # P(> 4) is below one in ten thousand at an expected 1
