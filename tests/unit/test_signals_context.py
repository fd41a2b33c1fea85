"""Context and visit rules of the signals: gestures that name no product take the category of their shop
visit (live ingest and replay alike), a return visit makes its visit weigh less, a cart's value counts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vault_server.policy import load_policy
from vault_server.signals import SignalState, apply, evaluate, fold, group_by_category, new_state
from vault_server.signals.classify import VisitContext, origin_context, with_context
from vault_server.signals.cli import signals
from vault_server.signals.engine import score_parts

REPO = Path(__file__).resolve().parents[2]
POLICY = load_policy(REPO / "policies")
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SHOP = "https://shop.example"
OTHER = "https://other.example"
TV = {"name": "LG OLED55 television", "price": 899.0, "currency": "EUR"}
SOFA = {"name": "Ecksofa grau", "price": 499.0, "currency": "EUR"}


def ev(kind: str, minutes: float, origin: str = SHOP, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
                             "origin": origin, "path": extra.pop("path", "/p/{id}")}  # fmt: skip
    event.update(extra)
    return event


def test_a_return_visit_and_an_account_page_take_the_category_of_their_visit() -> None:
    batch = [ev("return_visit", 0, path="/"), ev("product_view", 1, product=TV), ev("product_view", 3, product=TV),
             ev("page_view", 5, path="/account"), ev("product_view", 6, product=SOFA)]  # fmt: skip
    cats = with_context(batch, POLICY)
    assert cats == ["electronics.tv", "electronics.tv", "electronics.tv", "electronics.tv", "furniture.sofa"]


def test_context_stays_within_one_shop_and_one_visit() -> None:
    batch = [ev("product_view", 0, product=TV), ev("page_view", 2, origin=OTHER, path="/account"),
             ev("page_view", 90, path="/account"), ev("page_view", 10, path="/info/{page}")]  # fmt: skip
    # Other shop: nothing known there. 90 minutes later: a new visit. 10 minutes later: the same visit.
    assert with_context(batch, POLICY) == ["electronics.tv", None, None, "electronics.tv"]


def test_a_gesture_that_names_something_unknown_does_not_inherit() -> None:
    batch = [ev("product_view", 0, product=TV), ev("product_view", 1, product={"name": "Zqxv 3000"}),
             ev("search", 2, query="zqxv"), ev("declared_intent", 3)]  # fmt: skip
    assert with_context(batch, POLICY) == ["electronics.tv", None, None, None]


def test_the_stored_states_say_what_a_shop_was_about_on_an_earlier_day() -> None:
    tv = apply(new_state("electronics.tv"), [ev("product_view", 0, product=TV)], POLICY)
    sofa = apply(new_state("furniture.sofa"), [ev("product_view", 60, origin=OTHER, product=SOFA)], POLICY)
    known = origin_context([tv, sofa])
    later = [ev("return_visit", 3 * 24 * 60, path="/"), ev("return_visit", 3 * 24 * 60, origin=OTHER, path="/"),
             ev("return_visit", 60 * 24 * 60, path="/")]  # fmt: skip
    # Three days later both shops are remembered; two months later the shop's old category is not.
    assert with_context(later, POLICY, known=known) == ["electronics.tv", "furniture.sofa", None]
    result = fold({"electronics.tv": tv, "furniture.sofa": sofa}, later, POLICY)
    assert sorted(result.states) == ["electronics.tv", "furniture.sofa"]
    assert [reason for _, reason in result.dropped] == ["no category matched"]


def test_the_visit_majority_wins_and_ties_go_to_the_nearest() -> None:
    ctx = VisitContext()
    for minutes, cat in ((0, "a.x"), (1, "a.x"), (2, "b.y")):
        ctx.note(SHOP, minutes * 60.0, cat)
    assert ctx.category_for(SHOP, 2.5 * 60) == "a.x"
    tie = VisitContext()
    tie.note(SHOP, 0.0, "a.x")
    tie.note(SHOP, 600.0, "b.y")
    assert tie.category_for(SHOP, 550.0) == "b.y"
    assert tie.category_for("https://SHOP.example", 10.0) == "a.x"


def test_group_by_category_keeps_what_it_could_only_place_by_context() -> None:
    batch = [ev("return_visit", 0, path="/"), ev("product_view", 1, product=TV), ev("page_view", 200, path="/")]
    groups, dropped = group_by_category(batch, POLICY)
    assert [e.type for e in groups["electronics.tv"]] == ["return_visit", "product_view"]
    assert [(e.type, reason) for e, reason in dropped] == [("page_view", "no category matched")]


def _score(events: list[dict[str, Any]], minutes: float) -> float:
    state = apply(new_state("electronics.tv"), events, POLICY)
    return evaluate(state, T0 + timedelta(minutes=minutes), POLICY).score


def _views(start: float, n: int) -> list[dict[str, Any]]:
    return [ev("product_view", start + i, product=TV, dwell_ms=60_000) for i in range(n)]


def test_a_visit_that_starts_as_a_return_visit_weighs_less() -> None:
    first = _views(1, 10)
    returning = [ev("return_visit", 0, path="/", category="electronics.tv"), *_views(1, 10)]
    assert _score(returning, 20) < _score(first, 20)
    # The damping lasts `hours` and stays in its shop: a later visit or another shop counts in full.
    hours = POLICY.gesture_rules["return_visit"].visit
    assert hours is not None
    later = hours.hours * 60 + 30
    assert _score([returning[0], *_views(later, 10)], later + 20) == _score(_views(later, 10), later + 20)
    elsewhere = [{**e, "origin": OTHER} for e in _views(1, 10)]
    assert _score([returning[0], *elsewhere], 20) >= _score(elsewhere, 20)


def test_a_return_visit_after_a_purchase_is_still_engagement() -> None:
    bought = [ev("purchase", 0, category="electronics.tv", value=899.0)]
    back = [ev("return_visit", 60 * 24 * d, path="/", category="electronics.tv") for d in (3, 5)]
    state = apply(new_state("electronics.tv"), [*bought, *back], POLICY)
    assert state.after_purchase > 1.0


def test_a_fuller_cart_counts_more() -> None:
    cheap = [ev("cart_add", 0, category="electronics.tv", product={**TV, "price": 2.0})]
    dear = [ev("cart_add", 0, category="electronics.tv", product=TV)]
    valued = [ev("cart_add", 0, category="electronics.tv", value=899.0)]
    assert _score(cheap, 1) < _score(dear, 1) == _score(valued, 1)


def test_replay_places_context_gestures_and_counts_the_rest_unclassified(tmp_path: Path) -> None:
    visit = [ev("return_visit", 0, path="/"), ev("product_view", 1, product=TV), ev("page_view", 2, path="/account")]
    rows = [{"subject": "a", **e} for e in (*visit, ev("page_view", 300, path="/"))]
    rows += [{"subject": "b", **ev("page_view", 0, path="/account")}]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(signals, ["replay", "--no-progress", "--input", str(path)])
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [(o["subject"], o["category"]) for o in out] == [("a", "electronics.tv")]
    assert any(line.startswith("1 page view") for line in out[0]["explanation"])
    assert "replayed 3 events" in result.output
    assert "2 unclassified" in result.output


def test_in_a_return_visit_browsing_counts_a_tenth_and_a_cart_half() -> None:
    """What the shipped return_visit says: the visit's product views count `factor`, a cart `factors.cart_add`."""
    visit = POLICY.gesture_rules["return_visit"].visit
    assert visit is not None
    start = [ev("return_visit", 0, path="/", category="electronics.tv")]
    shopping = [ev("product_view", 1, product=TV), ev("cart_add", 2, category="electronics.tv", value=899.0)]
    first = apply(new_state("electronics.tv"), shopping, POLICY).counts
    back = apply(new_state("electronics.tv"), [*start, *shopping], POLICY).counts
    assert back["product_view"] == pytest.approx(first["product_view"] * visit.factor)
    assert back["cart_add"] == pytest.approx(first["cart_add"] * visit.factors["cart_add"])
    assert visit.factor < visit.factors["cart_add"] < 1.0


def test_a_cart_stands_for_the_browsing_that_led_to_it() -> None:
    """With `overlap`, a cart after long browsing is worth about the same cart after a glance: the browsing
    counts `share`, so it can add at most `share` of itself, and the explanation says so."""
    overlap = POLICY.gestures.overlap
    assert overlap is not None and overlap.share < 1.0
    cart = [ev("cart_add", 90, category="electronics.tv", value=899.0)]
    glance = [ev("product_view", 89, product=TV, dwell_ms=20_000)]
    long = [ev("product_view", m, product=TV, dwell_ms=60_000) for m in range(1, 89)]
    state = apply(new_state("electronics.tv"), [*long, *cart], POLICY)
    raw_long, parts, _ = score_parts(state, state.updated, POLICY)
    raw_glance, _, _ = score_parts(apply(new_state("electronics.tv"), [*glance, *cart], POLICY), state.updated, POLICY)
    raw_browsing, _, _ = score_parts(apply(new_state("electronics.tv"), long, POLICY), state.updated, POLICY)
    raw_cart, _, _ = score_parts(apply(new_state("electronics.tv"), cart, POLICY), state.updated, POLICY)
    assert raw_cart > raw_browsing > 0
    assert raw_cart <= raw_long <= raw_cart + overlap.share * raw_browsing
    assert raw_glance < raw_long < raw_cart + raw_browsing
    assert any(p.label.startswith("overlap: cart add and checkout start stand for") for p in parts)
    assert any("product views" in p.label and p.label.endswith("(overlap)") for p in parts)
    # Browsing alone that outweighs a small cart: the cart is the part that counts `share`.
    small = [ev("cart_add", 90, category="electronics.tv")]  # no price: no value bonus
    heavy = [*long, *(ev(kind, 91 + i, category="electronics.tv") for i in range(8)
                      for kind in ("compare", "review_read", "price_check"))]  # fmt: skip
    state = apply(new_state("electronics.tv"), [*heavy, *small], POLICY)
    _, parts, _ = score_parts(state, state.updated, POLICY)
    assert any(p.label.startswith("overlap: browsing outweighs") for p in parts)


def test_a_state_stored_before_visit_factors_still_damps_its_visit() -> None:
    """States written before `visit.factors` keep 4-item visit windows: they damp with their stored factor."""
    state = apply(new_state("electronics.tv"), [ev("return_visit", 0, path="/", category="electronics.tv")], POLICY)
    old = state.to_dict()
    old["visits"] = [v[:4] for v in old["visits"]]
    old["visits"][0][3] = 0.3
    views = _views(1, 3)
    counts = apply(SignalState.from_dict(old), views, POLICY).counts
    fresh = apply(new_state("electronics.tv"), views, POLICY).counts
    assert counts["product_view"] == pytest.approx(fresh["product_view"] * 0.3)
