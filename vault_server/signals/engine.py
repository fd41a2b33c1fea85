"""The signals engine: incremental, policy-driven scoring of one consumer's intent in one category.

Pure functions, no I/O. The server keeps one :class:`SignalState` per (consumer, category) (JSON via
``to_dict``/``from_dict``), folds each accepted batch in with :func:`apply` (O(len(events)), never the
full history) and reads a :class:`Signal` with :func:`evaluate`.

Scoring (docs/SIGNALS.md has the long form): every decayed quantity is kept "as of" ``state.updated``
and multiplied by ``0.5 ** (age / half_life)`` when read. Per gesture type the decayed,
dwell-weighted count ``c`` gives evidence ``w * s * (1 - exp(-c / s))`` (diminishing returns, capped at
``w * s``); aggregate patterns add distinct visit days, shops and minutes on page; the sum ``raw``
becomes ``score = 1 - exp(-raw / score_scale)``. With ``overlap`` in the policy, the evidence of a cart
(``a``) and of the browsing before it (``b``) count ``max(a, b) + share * min(a, b)`` instead of
``a + b``. Gestures with a negative weight (cart_remove, return) damp the evidence gathered before
them by ``exp(weight)``, so every stored quantity stays >= 0 and decays: time only lowers a score, and
a positive gesture never does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from vault_server.policy.loader import Policy
from vault_server.policy.models import Condition, GestureRule
from vault_server.signals.classify import classify, origin_context, with_context
from vault_server.signals.schema import GestureEvent

MAX_DAYS = 120  # distinct activity days kept (older ones weigh < 0.3% at a 14-day half-life)
MAX_ORIGINS = 32  # shops kept per category (the most recently seen)
MAX_SEEN = 512  # recent event ids kept for idempotency; older duplicates must be dropped upstream
TOP_N = 5  # strongest single gestures kept for the explanation
MAX_PRICES = 20  # most recent product prices kept (price band)
MAX_BRANDS = 16  # brands kept by decayed count
DWELL_CAP_MS = 600_000  # time on one page counted at most (a tab left open for an hour is not an hour read)
MAX_VISITS = 8  # damped visits kept (the most recent); an older one no longer damps late arrivals
DAY = 86400.0
STATE_VERSION = 1

EventLike = GestureEvent | Mapping[str, Any]


class UnknownGesture(ValueError):
    """The event's type is not defined in the policy's gestures.yaml."""


@dataclass
class SignalState:
    """Decayed aggregates for one (consumer, category); JSON-serialisable via to_dict/from_dict."""

    category: str
    updated: float = 0.0  # epoch seconds; decayed values below are expressed as of this time
    counts: dict[str, float] = field(default_factory=dict)  # gesture type -> decayed weighted count
    totals: dict[str, int] = field(default_factory=dict)  # gesture type -> raw count (explanations)
    days: list[int] = field(default_factory=list)  # distinct UTC day numbers, ascending
    origins: dict[str, float] = field(default_factory=dict)  # origin -> last seen (epoch)
    dwell_ms: float = 0.0  # decayed time on page
    first_seen: float | None = None
    last_seen: float | None = None
    last_purchase: float | None = None
    after_purchase: float = 0.0  # decayed count of gestures after the last purchase
    declared: dict[str, Any] | None = None  # latest declared intent: ts, timeframe_days, budget, currency
    top: list[list[Any]] = field(default_factory=list)  # [contribution, ts, type, label], strongest first
    prices: list[list[Any]] = field(default_factory=list)  # [ts, price, currency], oldest first
    brands: dict[str, float] = field(default_factory=dict)  # brand -> decayed count
    visits: list[list[Any]] = field(default_factory=list)  # [origin, from, until, factor, type]: damped visits
    seen: list[str] = field(default_factory=list)  # recent event ids, oldest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "category": self.category,
            "updated": self.updated,
            "counts": dict(self.counts),
            "totals": dict(self.totals),
            "days": list(self.days),
            "origins": dict(self.origins),
            "dwell_ms": self.dwell_ms,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "last_purchase": self.last_purchase,
            "after_purchase": self.after_purchase,
            "declared": dict(self.declared) if self.declared is not None else None,
            "top": [list(t) for t in self.top],
            "prices": [list(p) for p in self.prices],
            "brands": dict(self.brands),
            "visits": [list(v) for v in self.visits],
            "seen": list(self.seen),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignalState:
        if data.get("v", STATE_VERSION) != STATE_VERSION:
            raise ValueError(f"unsupported signal state version {data.get('v')!r}")
        return cls(
            category=str(data["category"]),
            updated=float(data.get("updated", 0.0)),
            counts={str(k): float(v) for k, v in dict(data.get("counts", {})).items()},
            totals={str(k): int(v) for k, v in dict(data.get("totals", {})).items()},
            days=[int(d) for d in data.get("days", [])],
            origins={str(k): float(v) for k, v in dict(data.get("origins", {})).items()},
            dwell_ms=float(data.get("dwell_ms", 0.0)),
            first_seen=_opt_float(data.get("first_seen")),
            last_seen=_opt_float(data.get("last_seen")),
            last_purchase=_opt_float(data.get("last_purchase")),
            after_purchase=float(data.get("after_purchase", 0.0)),
            declared=dict(data["declared"]) if data.get("declared") is not None else None,
            top=[list(t) for t in data.get("top", [])],
            prices=[list(p) for p in data.get("prices", [])],
            brands={str(k): float(v) for k, v in dict(data.get("brands", {})).items()},
            visits=[list(v) for v in data.get("visits", [])],
            seen=[str(s) for s in data.get("seen", [])],
        )

    def copy(self) -> SignalState:
        return SignalState.from_dict(self.to_dict())


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class Contribution(BaseModel):
    """One line of the explanation, with its share of ``raw`` (negative for damping)."""

    label: str
    amount: float


class PriceBand(BaseModel):
    """Range of the prices of products looked at recently (in the most frequent currency)."""

    low: float
    high: float
    median: float
    currency: str


class DeclaredIntentView(BaseModel):
    """The consumer's latest declared intent in this category."""

    declared_at: datetime
    timeframe_days: int | None = None
    budget_min: float | None = None
    budget_max: float | None = None
    currency: str | None = None
    active: bool


class Signal(BaseModel):
    """What a consumer sees, and (narrowed by a grant) what a vendor may read."""

    category: str
    score: float = Field(ge=0, le=1)
    stage: str
    confidence: float = Field(ge=0, le=1)
    last_seen: datetime | None
    explanation: list[str]
    contributions: list[Contribution]
    policy_hash: str
    price_band: PriceBand | None = None
    brands: list[str] = Field(default_factory=list)  # most looked-at first, at most 3
    declared_intent: DeclaredIntentView | None = None


# --- applying events ----------------------------------------------------------------------------


def as_event(event: EventLike) -> GestureEvent:
    """A validated :class:`GestureEvent` (dicts are validated; pydantic raises on bad input)."""
    return event if isinstance(event, GestureEvent) else GestureEvent.model_validate(event)


def check_event(event: GestureEvent, policy: Policy) -> str | None:
    """Why the policy rejects ``event`` (unknown gesture type or category), or None if it is fine."""
    if event.type not in policy.gesture_rules:
        return f"unknown gesture type '{event.type}'"
    if event.category is not None and event.category not in policy.nodes:
        return f"unknown category '{event.category}'"
    return None


def category_of(event: GestureEvent, policy: Policy) -> str | None:
    """The leaf category the event counts for (explicit or classified), or None."""
    return classify(event, policy)


def group_by_category(
    events: Iterable[EventLike],
    policy: Policy,
    *,
    opted_in: Iterable[str] = (),
    known: Mapping[str, tuple[float, str]] | None = None,
) -> tuple[dict[str, list[GestureEvent]], list[tuple[GestureEvent, str]]]:
    """Split events by leaf category. Returns (groups, dropped) where dropped pairs each event left out
    with the reason: unknown type/category, unclassified, or sensitive and not opted in.

    A gesture that names no product (a return visit, an account page) takes the category of its shop
    visit in the batch, else the shop's last category in ``known`` (:func:`classify.with_context`)."""
    allowed = frozenset(opted_in)
    groups: dict[str, list[GestureEvent]] = {}
    dropped: list[tuple[GestureEvent, str]] = []
    valid: list[GestureEvent] = []
    for raw in events:
        event = as_event(raw)
        problem = check_event(event, policy)
        if problem is not None:
            dropped.append((event, problem))
            continue
        valid.append(event)
    for event, category in zip(valid, with_context(valid, policy, known=known), strict=True):
        if category is None:
            dropped.append((event, "no category matched"))
            continue
        if policy.is_sensitive(category) and not any(a in allowed for a in policy.ancestors(category)):
            dropped.append((event, f"sensitive category '{category}' not opted in"))
            continue
        groups.setdefault(category, []).append(event)
    return groups, dropped


@dataclass
class FoldResult:
    """What :func:`fold` changed: new states for the touched categories, and the events left out."""

    states: dict[str, SignalState]
    dropped: list[tuple[GestureEvent, str]]


def fold(
    states: Mapping[str, SignalState],
    events: Iterable[EventLike],
    policy: Policy,
    *,
    opted_in: Iterable[str] = (),
) -> FoldResult:
    """Fold one accepted batch of a consumer into their per-category states (the ingest hot path).

    ``states`` holds the consumer's current states by category (load only the categories the batch
    touches, or all); the result has a new state for every category the batch touched. The shops seen in
    ``states`` are the context for gestures that name no product (a return visit counts for the
    category last looked at in that shop).
    """
    groups, dropped = group_by_category(events, policy, opted_in=opted_in, known=origin_context(states.values()))
    changed = {
        category: apply(states.get(category) or new_state(category), batch, policy)
        for category, batch in sorted(groups.items())
    }
    return FoldResult(states=changed, dropped=dropped)


def _multiplier(event: GestureEvent, policy: Policy) -> float:
    rule = policy.gesture_rules[event.type]
    m = 1.0
    if rule.dwell is not None and event.dwell_ms:
        m += rule.dwell.max_bonus * min(event.dwell_ms / rule.dwell.reference_ms, 1.0)
    if rule.scroll is not None and event.scroll:
        m += rule.scroll.max_bonus * event.scroll
    if rule.value is not None:
        value = event.value if event.value is not None and event.value > 0 else None
        if value is None and event.product is not None and event.product.price:
            value = event.product.price
        if value:
            m += rule.value.max_bonus * (1.0 - math.exp(-value / rule.value.reference))
    return m


def _visit_factor(state: SignalState, event: GestureEvent, policy: Policy) -> float:
    """How much a positive gesture counts: the smallest factor of the damped visits (``visit`` in
    gestures.yaml) on its origin that it falls in, else 1. A visit's ``factors`` give some gesture types
    their own factor (a cart in a return visit)."""
    factor = 1.0
    t = event.epoch
    for v_origin, start, until, f, *by in state.visits:
        if v_origin == event.origin and float(start) <= t <= float(until):
            damping = policy.gesture_rules.get(str(by[0])) if by else None
            if damping is not None and damping.visit is not None and event.type in damping.visit.factors:
                f = damping.visit.factors[event.type]
            factor = min(factor, float(f))
    return factor


def _add_visit(state: SignalState, origin: str, t: float, rule: GestureRule) -> None:
    if rule.visit is None:
        return
    entry = [origin, t, t + rule.visit.hours * 3600.0, rule.visit.factor, rule.type]
    if entry in state.visits:
        return
    state.visits.append(entry)
    state.visits.sort(key=lambda v: (float(v[1]), str(v[0]), float(v[3])))
    del state.visits[: max(0, len(state.visits) - MAX_VISITS)]


def _label(event: GestureEvent) -> str:
    if event.product is not None and event.product.name:
        return event.product.name[:80]
    if event.query:
        return f"search '{event.query[:60]}'"
    return event.origin


def _decay_to(state: SignalState, t: float, policy: Policy) -> None:
    """Move the state's reference time forward to ``t``, decaying every stored quantity."""
    if t <= state.updated:
        return
    if state.updated > 0:
        f = math.exp(-policy.decay_rate * (t - state.updated))
        state.counts = {k: v * f for k, v in state.counts.items()}
        state.dwell_ms *= f
        state.after_purchase *= f
        for item in state.top:
            item[0] = float(item[0]) * f
        state.brands = {k: v * f for k, v in state.brands.items()}
    state.updated = t


def _add_bounded_day(state: SignalState, day: int) -> None:
    if day in state.days:
        return
    if len(state.days) >= MAX_DAYS:
        if day < state.days[0]:
            return  # older than everything kept: contributes least, monotone to skip
        state.days.pop(0)
    state.days.append(day)
    state.days.sort()


def _add_origin(state: SignalState, origin: str, t: float) -> None:
    if origin in state.origins:
        state.origins[origin] = max(state.origins[origin], t)
        return
    if len(state.origins) >= MAX_ORIGINS:
        oldest = min(state.origins.items(), key=lambda kv: (kv[1], kv[0]))
        if (t, origin) <= (oldest[1], oldest[0]):
            return
        del state.origins[oldest[0]]
    state.origins[origin] = t


def _add_brand(state: SignalState, brand: str, weight: float) -> None:
    if not brand:
        return
    if brand not in state.brands and len(state.brands) >= MAX_BRANDS:
        weakest = min(state.brands.items(), key=lambda kv: (kv[1], kv[0]))
        if weight <= weakest[1]:
            return
        del state.brands[weakest[0]]
    state.brands[brand] = state.brands.get(brand, 0.0) + weight


def _apply_one(state: SignalState, event: GestureEvent, policy: Policy) -> None:
    rule = policy.gesture_rules.get(event.type)
    if rule is None:
        raise UnknownGesture(f"unknown gesture type '{event.type}'")
    t = event.epoch
    _decay_to(state, t, policy)
    age_factor = math.exp(-policy.decay_rate * (state.updated - t))
    m = _multiplier(event, policy)
    visit = _visit_factor(state, event, policy) if rule.weight > 0 else 1.0
    m *= visit
    if rule.weight < 0:
        # Damp what came before (carts emptied, goods returned); the count is kept for the explanation.
        damp = math.exp(rule.weight * age_factor)
        state.counts = {k: (v * damp if policy.gesture_rules.get(k, rule).weight >= 0 else v)
                        for k, v in state.counts.items()}  # fmt: skip
        state.dwell_ms *= damp
        state.after_purchase *= damp
    state.counts[event.type] = state.counts.get(event.type, 0.0) + m * age_factor
    state.totals[event.type] = state.totals.get(event.type, 0) + 1
    if event.dwell_ms:
        state.dwell_ms += min(event.dwell_ms, DWELL_CAP_MS) * age_factor * visit
    _add_visit(state, event.origin, t, rule)
    _add_bounded_day(state, int(t // DAY))
    _add_origin(state, event.origin, t)
    state.first_seen = t if state.first_seen is None else min(state.first_seen, t)
    state.last_seen = t if state.last_seen is None else max(state.last_seen, t)
    if event.type == "purchase":
        if state.last_purchase is None or t > state.last_purchase:
            state.last_purchase = t
            state.after_purchase = 0.0
    elif state.last_purchase is not None and t > state.last_purchase and rule.weight >= 0:
        state.after_purchase += age_factor
    if event.type == "declared_intent" and (state.declared is None or t >= float(state.declared.get("ts", 0.0))):
        info = event.intent
        state.declared = {
            "ts": t,
            "timeframe_days": info.timeframe_days if info else None,
            "budget_min": info.budget_min if info else None,
            "budget_max": info.budget_max if info else None,
            "currency": info.currency if info else None,
        }
    product = event.product
    if product is not None:
        if product.price is not None and product.currency is not None and rule.weight > 0:
            state.prices.append([t, product.price, product.currency])
            if len(state.prices) > MAX_PRICES:
                state.prices.sort(key=lambda p: (float(p[0]), float(p[1]), str(p[2])))
                del state.prices[: len(state.prices) - MAX_PRICES]
        if product.brand:
            _add_brand(state, product.brand.strip()[:60], age_factor)
    contribution = rule.weight * m * age_factor
    if contribution > 0 and (len(state.top) < TOP_N or contribution > float(state.top[-1][0])):
        state.top.append([contribution, t, event.type, _label(event)])
        state.top.sort(key=lambda item: (-float(item[0]), -float(item[1]), str(item[2]), str(item[3])))
        del state.top[TOP_N:]


def apply(state: SignalState, events: Iterable[EventLike], policy: Policy) -> SignalState:
    """A new state with ``events`` folded in (sorted by time within the batch; ids already seen are
    skipped, so applying the same batch twice changes nothing). Raises :class:`UnknownGesture`."""
    new = state.copy()
    batch = sorted((as_event(e) for e in events), key=lambda e: (e.epoch, e.id_str))
    if len({e.id_str for e in batch}) < len(batch):
        # The same id with different content (a client bug): keep a deterministic winner.
        batch.sort(key=lambda e: (e.epoch, e.id_str, e.model_dump_json()))
    seen = set(new.seen)
    for event in batch:
        eid = event.id_str
        if eid in seen:
            continue
        _apply_one(new, event, policy)
        seen.add(eid)
        new.seen.append(eid)
    if len(new.seen) > MAX_SEEN:
        del new.seen[: len(new.seen) - MAX_SEEN]
    return new


# --- evaluating ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Now:
    """Decayed view of a state at one instant."""

    counts: dict[str, float]
    visit_days: float
    origins: float
    dwell_minutes: float
    after_purchase: float


def _view(state: SignalState, now: float, policy: Policy) -> _Now:
    f = math.exp(-policy.decay_rate * (now - state.updated)) if state.updated > 0 else 1.0
    rate = policy.decay_rate
    return _Now(
        counts={k: v * f for k, v in state.counts.items()},
        visit_days=sum(math.exp(-rate * max(0.0, now - (d + 1) * DAY)) for d in state.days),
        origins=sum(math.exp(-rate * max(0.0, now - ts)) for ts in state.origins.values()),
        dwell_minutes=state.dwell_ms * f / 60000.0,
        after_purchase=state.after_purchase * f,
    )


def _declared_active(state: SignalState, now: float, policy: Policy, *, need_timeframe: bool) -> bool:
    d = state.declared
    if d is None:
        return False
    ts = float(d.get("ts", 0.0))
    timeframe = d.get("timeframe_days")
    if timeframe is None:
        # Without a timeframe a declared intent lasts like any other evidence: two half-lives.
        return not need_timeframe and now - ts <= 2 * policy.half_life_s
    return now <= ts + (float(timeframe) + policy.stages.declared_intent_grace_days) * DAY


def _holds(cond: Condition, view: _Now, state: SignalState, now: float, policy: Policy) -> bool:
    if cond.gestures and sum(view.counts.get(g, 0.0) for g in cond.gestures) < cond.min_count:
        return False
    if cond.min_visit_days is not None and view.visit_days < cond.min_visit_days:
        return False
    if cond.declared_intent is not None and not _declared_active(
        state, now, policy, need_timeframe=cond.declared_intent == "with_timeframe"
    ):
        return False
    return cond.min_after_purchase is None or view.after_purchase >= cond.min_after_purchase


def _plural(gesture_type: str, n: int) -> str:
    words = gesture_type.replace("_", " ")
    if n == 1:
        return words
    if words.endswith("search"):
        return words + "es"
    return words + "s"


def _patterns(view: _Now, state: SignalState, policy: Policy) -> list[tuple[str, str, float, float]]:
    """(feature name, explanation label, unweighted feature in [0, 1), weight) per aggregate pattern."""
    pat = policy.gestures.patterns
    rows = (
        ("visit_days", f"active on {len(state.days)} distinct day(s) ({view.visit_days:.1f} after decay)",
         view.visit_days, pat.visit_days),
        ("origins", f"seen at {len(state.origins)} shop(s)", view.origins, pat.origins),
        ("dwell_minutes", f"{view.dwell_minutes:.1f} minute(s) on pages after decay", view.dwell_minutes,
         pat.dwell_minutes),
    )  # fmt: skip
    return [(name, label, 1.0 - math.exp(-x / p.saturation), p.weight) for name, label, x, p in rows]


def feature_vector(state: SignalState, now: float, policy: Policy) -> dict[str, float]:
    """Unweighted features at ``now``: ``raw == sum(weight[k] * f[k])`` over positive gesture types
    (key = type) and patterns (key = ``patterns.<name>``). Calibration fits the weights on these."""
    now = max(now, state.updated)
    view = _view(state, now, policy)
    out: dict[str, float] = {}
    for gtype, rule in policy.gesture_rules.items():
        if rule.weight < 0:
            continue
        s = rule.repetition.saturation
        out[gtype] = s * (1.0 - math.exp(-view.counts.get(gtype, 0.0) / s))
    for name, _label, value, _weight in _patterns(view, state, policy):
        out[f"patterns.{name}"] = value
    weights = {t: r.weight for t, r in policy.gesture_rules.items()} | _pattern_weights(policy)
    scale = _overlap_scale({k: weights[k] * v for k, v in out.items()}, policy)
    return {k: v * scale.get(k, 1.0) for k, v in out.items()}


def _pattern_weights(policy: Policy) -> dict[str, float]:
    pat = policy.gestures.patterns
    return {f"patterns.{name}": getattr(pat, name).weight for name in ("visit_days", "origins", "dwell_minutes")}


def _overlap_groups(policy: Policy) -> tuple[frozenset[str], frozenset[str]]:
    """The keys (gesture types, ``patterns.<name>``) of the overlap's action and browsing sides."""
    ov = policy.gestures.overlap
    if ov is None:
        return frozenset(), frozenset()
    cached = policy.cache.get("signals.overlap")
    if cached is None:
        browsing = frozenset(ov.browsing) | frozenset(f"patterns.{p}" for p in ov.patterns)
        cached = policy.cache["signals.overlap"] = (frozenset(ov.action), browsing)
    groups: tuple[frozenset[str], frozenset[str]] = cached
    return groups


def _overlap_scale(evidence: Mapping[str, float], policy: Policy) -> dict[str, float]:
    """``overlap`` in gestures.yaml: the factor (``share``) for each key of the weaker side, by key; the
    stronger side counts in full, so ``a + b`` becomes ``max(a, b) + share * min(a, b)``."""
    ov = policy.gestures.overlap
    if ov is None or ov.share >= 1.0:
        return {}
    action, browsing = _overlap_groups(policy)
    a = sum(evidence.get(k, 0.0) for k in action)
    b = sum(evidence.get(k, 0.0) for k in browsing)
    if a <= 0.0 or b <= 0.0:
        return {}
    weaker = browsing if a > b else action
    return dict.fromkeys(weaker, ov.share)


def score_parts(state: SignalState, now: float, policy: Policy) -> tuple[float, list[Contribution], _Now]:
    """``raw`` and its contributions at ``now`` (epoch seconds, clamped to >= state.updated)."""
    now = max(now, state.updated)
    view = _view(state, now, policy)
    parts: list[Contribution] = []
    rows: list[tuple[str, str, float]] = []  # (key, label, evidence)
    for gtype in sorted(view.counts):
        rule = policy.gesture_rules.get(gtype)
        count = view.counts[gtype]
        n = state.totals.get(gtype, 0)
        if rule is None:
            continue  # a type the current policy no longer defines counts for nothing
        if rule.weight < 0:
            parts.append(Contribution(label=f"{n} {_plural(gtype, n)} (damps earlier evidence)", amount=0.0))
            continue
        s = rule.repetition.saturation
        evidence = rule.weight * s * (1.0 - math.exp(-count / s))
        rows.append((gtype, f"{n} {_plural(gtype, n)} (weight {count:.2f} after decay)", evidence))
    for name, label, value, weight in _patterns(view, state, policy):
        if weight * value > 0:
            rows.append((f"patterns.{name}", label, weight * value))
    scale = _overlap_scale({key: amount for key, _label, amount in rows}, policy)
    raw = 0.0
    for key, label, amount in rows:
        f = scale.get(key, 1.0)
        raw += amount * f
        label = label if f == 1.0 else f"{label}, counted {f:.0%} (overlap)"
        parts.append(Contribution(label=label, amount=amount * f))
    if scale:
        action, _browsing = _overlap_groups(policy)
        acts = " and ".join(_plural(g, 1) for g in sorted(action))
        scaled_action = next(iter(scale)) in action
        text = f"browsing outweighs {acts}" if scaled_action else f"{acts} stand for the browsing before them"
        parts.append(Contribution(label=f"overlap: {text}", amount=0.0))
    parts.sort(key=lambda c: (-abs(c.amount), c.label))
    return raw, parts, view


def evaluate(state: SignalState, now: datetime | float, policy: Policy) -> Signal:
    """The signal at ``now`` (evaluating before the last update is treated as at the last update)."""
    t = now.astimezone(UTC).timestamp() if isinstance(now, datetime) else float(now)
    t = max(t, state.updated)
    raw, parts, view = score_parts(state, t, policy)
    score = 1.0 - math.exp(-max(raw, 0.0) / policy.gestures.score_scale)
    score = min(max(score, 0.0), 1.0)
    stage = policy.stage_rules[0].id
    stage_rule = policy.stage_rules[0]
    for rule in reversed(policy.stage_rules):
        if score >= rule.min_score and (
            not rule.requires_any or any(_holds(c, view, state, t, policy) for c in rule.requires_any)
        ):
            stage, stage_rule = rule.id, rule
            break
    evidence = sum(v for k, v in view.counts.items() if (r := policy.gesture_rules.get(k)) and r.weight > 0)
    confidence = (1.0 - math.exp(-evidence / 6.0)) * (0.6 + 0.4 * (1.0 - math.exp(-view.visit_days / 2.0)))
    if _declared_active(state, t, policy, need_timeframe=False) or _declared_active(
        state, t, policy, need_timeframe=True
    ):
        confidence = max(confidence, 0.8)
    explanation = [f"stage {stage}: {stage_rule.description}" if stage_rule.description else f"stage {stage}"]
    explanation += [f"{c.label}: {c.amount:+.2f}" if c.amount else c.label for c in parts]
    if state.declared is not None:
        explanation.append(_declared_text(state.declared))
    for _contribution, ts, gtype, label in state.top[:3]:
        day = datetime.fromtimestamp(float(ts), UTC).date().isoformat()
        explanation.append(f"strongest: {str(gtype).replace('_', ' ')} '{label}' on {day}")
    return Signal(
        price_band=_price_band(state),
        brands=[b for b, _ in sorted(state.brands.items(), key=lambda kv: (-kv[1], kv[0]))[:3]],
        declared_intent=_declared_view(state, t, policy),
        category=state.category,
        score=round(score, 6),
        stage=stage,
        confidence=round(min(max(confidence, 0.0), 1.0), 6),
        last_seen=datetime.fromtimestamp(state.last_seen, UTC) if state.last_seen is not None else None,
        explanation=explanation,
        contributions=parts,
        policy_hash=policy.hash,
    )


def _price_band(state: SignalState) -> PriceBand | None:
    if not state.prices:
        return None
    by_currency: dict[str, list[float]] = {}
    for _ts, price, currency in state.prices:
        by_currency.setdefault(str(currency), []).append(float(price))
    currency, prices = max(by_currency.items(), key=lambda kv: (len(kv[1]), kv[0]))
    prices.sort()
    mid = len(prices) // 2
    median = prices[mid] if len(prices) % 2 else (prices[mid - 1] + prices[mid]) / 2
    return PriceBand(low=prices[0], high=prices[-1], median=median, currency=currency)


def _declared_view(state: SignalState, now: float, policy: Policy) -> DeclaredIntentView | None:
    d = state.declared
    if d is None:
        return None
    timeframe = d.get("timeframe_days")
    return DeclaredIntentView(
        declared_at=datetime.fromtimestamp(float(d["ts"]), UTC),
        timeframe_days=int(timeframe) if timeframe is not None else None,
        budget_min=d.get("budget_min"),
        budget_max=d.get("budget_max"),
        currency=d.get("currency"),
        active=_declared_active(state, now, policy, need_timeframe=False)
        or _declared_active(state, now, policy, need_timeframe=True),
    )


def _declared_text(d: Mapping[str, Any]) -> str:
    out = "declared intent"
    if d.get("timeframe_days"):
        out += f": within {d['timeframe_days']} days"
    if d.get("budget_max") is not None:
        out += f", budget up to {d['budget_max']:g} {d.get('currency') or ''}".rstrip()
    return out


def new_state(category: str) -> SignalState:
    """An empty state for ``category``."""
    return SignalState(category=category)
