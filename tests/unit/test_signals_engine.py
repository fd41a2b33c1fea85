"""The signals engine: properties (hypothesis) and the behaviours the funnel promises."""

from __future__ import annotations

import json
import math
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vault_server.policy import Policy, load_policy
from vault_server.signals import (
    SignalState,
    UnknownGesture,
    apply,
    evaluate,
    fold,
    gesture_json_schema,
    group_by_category,
    new_state,
)
from vault_server.signals.engine import MAX_SEEN, feature_vector, score_parts

REPO = Path(__file__).resolve().parents[2]
POLICY = load_policy(REPO / "policies")
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
CAT = "electronics.tv"
POSITIVE = sorted(t for t, r in POLICY.gesture_rules.items() if r.weight > 0)
ALL_TYPES = sorted(POLICY.gesture_rules)
SHOPS = ["https://a.example", "https://b.example", "https://c.example", "https://d.example"]


def ev(kind: str, at: timedelta | datetime, **extra: Any) -> dict[str, Any]:
    when = at if isinstance(at, datetime) else T0 + at
    event: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "ts": when.isoformat(),
                             "origin": extra.pop("origin", SHOPS[0]), "path": "/p/{id}", "category": CAT}  # fmt: skip
    event.update(extra)
    return event


def score(events: list[dict[str, Any]], at: datetime, policy: Policy = POLICY) -> tuple[float, str]:
    sig = evaluate(apply(new_state(CAT), events, policy), at, policy)
    return sig.score, sig.stage


# --- strategies ---------------------------------------------------------------------------------

HORIZON_S = 60 * 86400


@st.composite
def events(draw: st.DrawFn, types: list[str] = ALL_TYPES) -> dict[str, Any]:
    kind = draw(st.sampled_from(types))
    offset = draw(st.integers(min_value=0, max_value=HORIZON_S))
    event = ev(kind, timedelta(seconds=offset), origin=draw(st.sampled_from(SHOPS)))
    event["id"] = str(uuid.UUID(int=draw(st.integers(min_value=0, max_value=2**122)), version=4))
    if draw(st.booleans()):
        event["dwell_ms"] = draw(st.integers(min_value=0, max_value=600_000))
        event["scroll"] = draw(st.floats(min_value=0, max_value=1))
    if kind == "declared_intent" and draw(st.booleans()):
        event["intent"] = {"timeframe_days": draw(st.integers(min_value=1, max_value=60))}
    return event


def _id(event: dict[str, Any]) -> str:
    return str(event["id"])


batches = st.lists(events(), max_size=40, unique_by=_id)
positive_batches = st.lists(events([t for t in POSITIVE if t != "purchase"]), max_size=40, unique_by=_id)
END = T0 + timedelta(seconds=HORIZON_S)
later = st.integers(min_value=0, max_value=120 * 86400).map(lambda s: END + timedelta(seconds=s))
# SIGNALS_EXAMPLES=2000 pytest ... for a deeper run.
fast = settings(
    max_examples=int(os.environ.get("SIGNALS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@fast
@given(batch=batches, at=later)
def test_score_and_confidence_always_in_unit_interval(batch: list[dict[str, Any]], at: datetime) -> None:
    sig = evaluate(apply(new_state(CAT), batch, POLICY), at, POLICY)
    assert 0.0 <= sig.score <= 1.0
    assert 0.0 <= sig.confidence <= 1.0
    assert sig.stage in [s.id for s in POLICY.stage_rules]


@fast
@given(batch=batches, extra=events(POSITIVE), at=later, incremental=st.booleans())
def test_adding_a_positive_gesture_never_lowers_the_score(
    batch: list[dict[str, Any]], extra: dict[str, Any], at: datetime, incremental: bool
) -> None:
    assume(extra["id"] not in {e["id"] for e in batch})  # same id = a resend, not a new gesture
    before = apply(new_state(CAT), batch, POLICY)
    after = apply(before, [extra], POLICY) if incremental else apply(new_state(CAT), [*batch, extra], POLICY)
    assert evaluate(after, at, POLICY).score >= evaluate(before, at, POLICY).score - 1e-6


@fast
@given(batch=batches, at=later, wait=st.integers(min_value=0, max_value=400 * 86400))
def test_time_only_decays(batch: list[dict[str, Any]], at: datetime, wait: int) -> None:
    state = apply(new_state(CAT), batch, POLICY)
    assert evaluate(state, at + timedelta(seconds=wait), POLICY).score <= evaluate(state, at, POLICY).score + 1e-9


@fast
@given(batch=st.lists(events(), max_size=60), at=later)
def test_replaying_a_batch_twice_changes_nothing(batch: list[dict[str, Any]], at: datetime) -> None:
    once = apply(new_state(CAT), batch, POLICY)
    twice = apply(once, batch, POLICY)
    assert twice.to_dict() == once.to_dict()
    assert evaluate(twice, at, POLICY) == evaluate(once, at, POLICY)


@fast
@given(batch=st.lists(events(), max_size=40), seed=st.randoms(use_true_random=False))
def test_order_within_a_batch_does_not_matter(batch: list[dict[str, Any]], seed: Any) -> None:
    shuffled = list(batch)
    seed.shuffle(shuffled)
    assert apply(new_state(CAT), shuffled, POLICY).to_dict() == apply(new_state(CAT), batch, POLICY).to_dict()


@fast
@given(batch=positive_batches, cut=st.integers(min_value=0, max_value=40), at=later)
def test_batches_fold_like_one_batch(batch: list[dict[str, Any]], cut: int, at: datetime) -> None:
    """Out-of-order arrival across batches is decayed correctly: two batches score like one."""
    whole = evaluate(apply(new_state(CAT), batch, POLICY), at, POLICY).score
    split = apply(apply(new_state(CAT), batch[cut:], POLICY), batch[:cut], POLICY)
    assert evaluate(split, at, POLICY).score == pytest.approx(whole, abs=1e-6)


@fast
@given(batch=batches)
def test_state_round_trips_through_json(batch: list[dict[str, Any]]) -> None:
    state = apply(new_state(CAT), batch, POLICY)
    again = SignalState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state


@fast
@given(batch=batches, at=later)
def test_features_reproduce_the_raw_score(batch: list[dict[str, Any]], at: datetime) -> None:
    state = apply(new_state(CAT), batch, POLICY)
    raw, _, _ = score_parts(state, at.timestamp(), POLICY)
    feats = feature_vector(state, at.timestamp(), POLICY)
    weights = {t: r.weight for t, r in POLICY.gesture_rules.items()}
    pat = POLICY.gestures.patterns
    weights |= {"patterns.visit_days": pat.visit_days.weight, "patterns.origins": pat.origins.weight,
                "patterns.dwell_minutes": pat.dwell_minutes.weight}  # fmt: skip
    assert sum(weights[k] * v for k, v in feats.items()) == pytest.approx(raw, abs=1e-9)


# --- behaviours ---------------------------------------------------------------------------------


def test_one_product_view_is_interest_at_most_even_when_read_closely() -> None:
    s, stage = score([ev("product_view", timedelta(0), dwell_ms=1_800_000, scroll=1.0)], T0)
    assert stage in ("awareness", "interest")
    assert s < 0.3


def test_a_browser_who_never_carts_stays_below_action() -> None:
    views = [ev("product_view", timedelta(days=d, minutes=m), origin=SHOPS[m % 4], dwell_ms=90_000, scroll=0.9)
             for d in range(10) for m in range(6)]  # fmt: skip
    views += [ev("review_read", timedelta(days=d, hours=2)) for d in range(0, 10, 2)]
    s, stage = score(views, T0 + timedelta(days=10))
    assert stage == "motivation"
    assert s > 0.4


def test_cart_and_checkout_reach_action_then_decay_back() -> None:
    shopping = [ev("product_view", timedelta(days=d, minutes=m), origin=SHOPS[m % 3]) for d in (0, 2) for m in range(4)]
    shopping += [ev("compare", timedelta(days=2, hours=1)), ev("cart_add", timedelta(days=3)),
                 ev("checkout_start", timedelta(days=3, minutes=5))]  # fmt: skip
    state = apply(new_state(CAT), shopping, POLICY)
    assert evaluate(state, T0 + timedelta(days=3), POLICY).stage == "action"
    month = evaluate(state, T0 + timedelta(days=33), POLICY)
    assert month.stage in ("interest", "motivation")
    assert evaluate(state, T0 + timedelta(days=200), POLICY).stage in ("awareness", "interest")


def test_declared_intent_with_timeframe_is_action_until_it_expires() -> None:
    intent = {"timeframe_days": 14, "budget_max": 900.0, "currency": "EUR"}
    state = apply(new_state(CAT), [ev("declared_intent", timedelta(0), intent=intent)], POLICY)
    now = evaluate(state, T0 + timedelta(days=1), POLICY)
    assert now.stage == "action"
    assert any("within 14 days" in line and "900 EUR" in line for line in now.explanation)
    assert evaluate(state, T0 + timedelta(days=30), POLICY).stage != "action"
    untimed = apply(new_state(CAT), [ev("declared_intent", timedelta(0))], POLICY)
    assert evaluate(untimed, T0 + timedelta(days=1), POLICY).stage == "motivation"


def test_a_return_damps_the_score() -> None:
    bought = [ev("product_view", timedelta(minutes=m)) for m in range(5)]
    bought += [ev("cart_add", timedelta(minutes=6)), ev("purchase", timedelta(minutes=8))]
    kept, _ = score(bought, T0 + timedelta(days=5))
    returned, _ = score([*bought, ev("return", timedelta(days=4))], T0 + timedelta(days=5))
    assert returned < kept


def test_purchase_then_engagement_is_relationship() -> None:
    bought = [ev("product_view", timedelta(minutes=m)) for m in range(3)] + [ev("purchase", timedelta(minutes=9))]
    assert score(bought, T0 + timedelta(days=1))[1] != "relationship"
    later_on = [*bought, ev("review_write", timedelta(days=10)), ev("referral", timedelta(days=11))]
    assert score(later_on, T0 + timedelta(days=12))[1] == "relationship"


def test_duplicates_beyond_the_batch_are_dropped_while_remembered() -> None:
    first = ev("cart_add", timedelta(0))
    state = apply(new_state(CAT), [first], POLICY)
    filler = [ev("page_view", timedelta(minutes=i + 1)) for i in range(MAX_SEEN - 1)]
    state = apply(state, filler, POLICY)
    assert apply(state, [first], POLICY).to_dict() == state.to_dict()


def test_unknown_gesture_type_is_an_error() -> None:
    with pytest.raises(UnknownGesture, match="unknown gesture type 'teleport'"):
        apply(new_state(CAT), [ev("teleport", timedelta(0))], POLICY)


def test_explanation_names_contributions_and_policy() -> None:
    sig = evaluate(apply(new_state(CAT), [ev("search", timedelta(0), query="oled tv"),
                                          ev("cart_add", timedelta(minutes=3), product={"name": "LG OLED55"})],
                         POLICY), T0 + timedelta(minutes=5), POLICY)  # fmt: skip
    assert sig.policy_hash == POLICY.hash
    assert sig.explanation[0].startswith(f"stage {sig.stage}")
    rule = POLICY.gesture_rules["cart_add"]
    sat = rule.repetition.saturation
    share = f"+{rule.weight * sat * (1 - math.exp(-1 / sat)):.2f}"  # one cart add, no value, not yet decayed
    assert any(line.startswith("1 cart add") and line.endswith(share) for line in sig.explanation)
    assert any("LG OLED55" in line for line in sig.explanation)
    assert sig.last_seen == T0 + timedelta(minutes=3)


def test_group_by_category_classifies_and_drops_what_it_must() -> None:
    batch = [
        ev("search", timedelta(0), category=None, query="waschmaschine 8kg"),
        ev("search", timedelta(0), category=None, query="qwxzv"),
        ev("product_view", timedelta(0), category=None, product={"name": "Ibuprofen 400mg painkiller"}),
        ev("teleport", timedelta(0)),
    ]
    groups, dropped = group_by_category(batch, POLICY)
    assert list(groups) == ["appliances.washing_machine"]
    reasons = sorted(reason for _, reason in dropped)
    assert reasons == ["no category matched", "sensitive category 'health.pharmacy' not opted in",
                       "unknown gesture type 'teleport'"]  # fmt: skip
    groups, _ = group_by_category(batch, POLICY, opted_in=["health"])
    assert "health.pharmacy" in groups


def test_gesture_json_schema_is_published() -> None:
    schema = gesture_json_schema()
    assert schema["title"] == "GestureEvent"
    assert {"id", "type", "ts", "origin"} <= set(schema["required"])  # type: ignore[operator]


def test_fold_updates_touched_categories_and_reports_drops() -> None:
    tv = apply(new_state(CAT), [ev("product_view", timedelta(0))], POLICY)
    batch = [ev("cart_add", timedelta(hours=1)), ev("search", timedelta(hours=1), category=None, query="pralka"),
             ev("search", timedelta(hours=1), category=None, query="qwxzv")]  # fmt: skip
    result = fold({CAT: tv, "garden.grill": new_state("garden.grill")}, batch, POLICY)
    assert sorted(result.states) == ["appliances.washing_machine", CAT]
    assert result.states[CAT].totals == {"product_view": 1, "cart_add": 1}
    assert [reason for _, reason in result.dropped] == ["no category matched"]


def test_signal_carries_price_band_brands_and_declared_intent() -> None:
    batch = [ev("product_view", timedelta(minutes=i), product={"name": f"TV {i}", "brand": brand, "price": price,
                                                               "currency": "EUR"})
             for i, (brand, price) in enumerate([("LG", 900.0), ("LG", 1100.0), ("Sony", 1300.0)])]  # fmt: skip
    batch.append(ev("product_view", timedelta(minutes=9), product={"price": 5.0, "currency": "USD"}))
    batch.append(ev("declared_intent", timedelta(minutes=10), intent={"timeframe_days": 7, "budget_max": 1200.0}))
    sig = evaluate(apply(new_state(CAT), batch, POLICY), T0 + timedelta(days=1), POLICY)
    assert sig.price_band is not None
    assert (sig.price_band.low, sig.price_band.median, sig.price_band.high) == (900.0, 1100.0, 1300.0)
    assert sig.price_band.currency == "EUR"
    assert sig.brands == ["LG", "Sony"]
    assert sig.declared_intent is not None and sig.declared_intent.active
    assert sig.declared_intent.timeframe_days == 7
    expired = evaluate(apply(new_state(CAT), batch, POLICY), T0 + timedelta(days=40), POLICY)
    assert expired.declared_intent is not None and not expired.declared_intent.active
