"""Rich Authorization Requests (RFC 9396) of type ``intent_signals``: parsing and validation (§2, §5: unknown
types or bad values are ``invalid_authorization_details``), narrowing by the consumer, and shaping signals to
exactly what a grant allows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from vault_server.context import VaultContext
from vault_server.oauth.errors import OAuthError
from vault_server.policy.loader import Policy, default_policy_dir, load_policy
from vault_server.policy.models import STAGES

TYPE = "intent_signals"
MAX_DETAILS = 5
MAX_CATEGORIES = 50
DEFAULT_MIN_STAGE = "awareness"
DEFAULT_FREQUENCY = "daily"
_COMMON_KEYS = {"locations", "actions", "datatypes", "identifier", "privileges"}  # RFC 9396 §2.2, accepted, unused
#: set by the vault on granted details (the IEEE 7012 agreement in force, docs/TERMS.md); accepted when a grant's
#: own details are sent back (narrowing) but never taken from the request: the vault attaches it itself
VAULT_KEYS = {"agreement"}
_KEYS = {"type", "categories", "min_stage", "fields", "purpose", "retention_days", "frequency"}

FIELD_LABELS = {
    "stage": "how far along you are, from just looking to ready to buy",
    "score": "how strong your interest is",
    "price_band": "the price range you are looking at",
    "brand": "brands you looked at",
    "declared_intent": "intents you declared yourself",
    "last_seen": "when you last showed interest",
}
STAGE_LABELS = {
    "awareness": "just noticed",
    "interest": "interested",
    "motivation": "comparing options",
    "action": "ready to buy",
    "relationship": "already a customer",
}


class InvalidDetails(OAuthError):
    def __init__(self, description: str):
        super().__init__("invalid_authorization_details", description)


@lru_cache(maxsize=8)
def _load(directory: str) -> Policy:
    return load_policy(directory)


def policy_for(ctx: VaultContext) -> Policy:
    """The validated policy the vault runs with (the context's, else loaded once per directory)."""
    loaded = getattr(ctx, "policy", None)
    if isinstance(loaded, Policy):
        return loaded
    return _load(str(default_policy_dir(ctx.settings.policy_dir)))


def leaves_under(policy: Policy, categories: Iterable[str]) -> set[str]:
    """The leaf categories at or below any of ``categories`` (signals are kept per leaf)."""
    wanted = set(categories)
    return {leaf for leaf in policy.leaves if wanted & set(policy.ancestors(leaf))}


def parse(raw: str | list[Any] | None, policy: Policy) -> list[dict[str, Any]]:
    """Returns the validated, normalised ``authorization_details`` list (empty when none was sent)."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidDetails("authorization_details is not valid JSON") from None
    if not isinstance(raw, list) or not raw:
        raise InvalidDetails("authorization_details must be a non-empty JSON array")
    if len(raw) > MAX_DETAILS:
        raise InvalidDetails(f"at most {MAX_DETAILS} authorization_details entries")
    return [_one(item, policy) for item in raw]


def _detail_type(policy: Policy) -> Any:
    for entry in policy.scopes.authorization_details:
        if entry.type == TYPE:
            return entry
    raise InvalidDetails(f"this vault does not offer authorization_details of type {TYPE}")


def _one(item: Any, policy: Policy) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidDetails("each authorization_details entry must be a JSON object")
    if item.get("type") != TYPE:
        raise InvalidDetails(f"unknown authorization_details type {item.get('type')!r}; supported: {TYPE}")
    unknown = sorted(set(item) - _KEYS - _COMMON_KEYS - VAULT_KEYS)
    if unknown:
        raise InvalidDetails(f"unknown member(s) in {TYPE}: {', '.join(unknown)}")
    spec = _detail_type(policy)
    categories = item.get("categories")
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories):
        raise InvalidDetails("categories must be a non-empty array of taxonomy ids")
    if len(categories) > MAX_CATEGORIES:
        raise InvalidDetails(f"at most {MAX_CATEGORIES} categories per entry")
    unknown_cats = [c for c in categories if c not in policy.nodes]
    if unknown_cats:
        raise InvalidDetails(f"unknown categor{'y' if len(unknown_cats) == 1 else 'ies'}: {', '.join(unknown_cats)}")
    fields = item.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise InvalidDetails(f"fields must be a non-empty array of: {', '.join(spec.fields)}")
    bad_fields = [f for f in fields if f not in spec.fields]
    if bad_fields:
        raise InvalidDetails(f"unknown field(s): {', '.join(bad_fields)}; allowed: {', '.join(spec.fields)}")
    min_stage = item.get("min_stage", DEFAULT_MIN_STAGE)
    if min_stage not in spec.min_stage:
        raise InvalidDetails(f"min_stage must be one of: {', '.join(spec.min_stage)}")
    purpose = item.get("purpose")
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > 300:
        raise InvalidDetails("purpose is required: say in a sentence (max 300 characters) why you ask")
    retention = item.get("retention_days")
    if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= spec.max_retention_days:
        raise InvalidDetails(f"retention_days must be an integer from 1 to {spec.max_retention_days}")
    frequency = item.get("frequency", DEFAULT_FREQUENCY)
    if frequency not in spec.frequencies:
        raise InvalidDetails(f"frequency must be one of: {', '.join(spec.frequencies)}")
    return {
        "type": TYPE,
        "categories": _unique(categories),
        "min_stage": min_stage,
        "fields": [f for f in spec.fields if f in set(fields)],
        "purpose": purpose.strip(),
        "retention_days": retention,
        "frequency": frequency,
    }


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def stage_rank(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else -1


def narrow(
    requested: Sequence[dict[str, Any]],
    *,
    categories: dict[int, set[str]],
    fields: dict[int, set[str]],
    min_stage: dict[int, str],
) -> list[dict[str, Any]]:
    """The consumer's choice applied to what was asked: never wider than ``requested``. Entries left with no
    category or no field are dropped."""
    out: list[dict[str, Any]] = []
    for i, detail in enumerate(requested):
        cats = [c for c in detail["categories"] if c in categories.get(i, set())]
        flds = [f for f in detail["fields"] if f in fields.get(i, set())]
        stage = min_stage.get(i, detail["min_stage"])
        if stage_rank(stage) < stage_rank(detail["min_stage"]):
            stage = detail["min_stage"]
        if cats and flds:
            out.append({**detail, "categories": cats, "fields": flds, "min_stage": stage})
    return out


def is_within(narrower: Sequence[dict[str, Any]], wider: Sequence[dict[str, Any]]) -> bool:
    """True when every entry of ``narrower`` is covered by one entry of ``wider`` (same or fewer categories,
    fields, a same-or-higher min_stage, same-or-shorter retention, same purpose and frequency)."""
    return all(any(_covers(w, n) for w in wider) for n in narrower)


def _covers(wide: dict[str, Any], narrow_: dict[str, Any]) -> bool:
    return (
        narrow_.get("type") == wide.get("type")
        and set(narrow_["categories"]) <= set(wide["categories"])
        and set(narrow_["fields"]) <= set(wide["fields"])
        and stage_rank(narrow_["min_stage"]) >= stage_rank(wide["min_stage"])
        and int(narrow_["retention_days"]) <= int(wide["retention_days"])
        and narrow_.get("purpose") == wide.get("purpose")
        and narrow_.get("frequency") == wide.get("frequency")
    )


def covering_category(policy: Policy, signal_category: str, granted: Iterable[str]) -> str | None:
    """The granted category that covers a signal's category (itself or an ancestor), or None.

    A sensitive category is covered only by a granted category that is itself sensitive: granting "finance"
    never shares "finance.insurance.health".
    """
    ancestors = policy.ancestors(signal_category)
    sensitive = policy.is_sensitive(signal_category)
    granted_set = set(granted)
    for a in ancestors:
        if a in granted_set and (not sensitive or policy.is_sensitive(a)):
            return a
    return None


def shape(signals: Sequence[dict[str, Any]], details: Sequence[dict[str, Any]], policy: Policy) -> list[dict[str, Any]]:
    """Only what the grant allows: signals in granted categories at or above ``min_stage``, with the granted
    fields. ``category`` and ``category_name`` are always included (they are what was granted)."""
    out: list[dict[str, Any]] = []
    for sig in signals:
        allowed: set[str] = set()
        for detail in details:
            if detail.get("type") != TYPE:
                continue
            if covering_category(policy, str(sig.get("category", "")), detail["categories"]) is None:
                continue
            if stage_rank(str(sig.get("stage", ""))) < stage_rank(detail["min_stage"]):
                continue
            allowed |= set(detail["fields"])
        if not allowed:
            continue
        item: dict[str, Any] = {"category": sig["category"], "category_name": sig.get("category_name", "")}
        if "stage" in allowed:
            item["stage"] = sig.get("stage")
        if "score" in allowed:
            item["score"] = round(float(sig.get("score", 0.0)), 3)
        if "price_band" in allowed:
            item["price_band"] = sig.get("price_band")
        if "brand" in allowed:
            item["brands"] = list(sig.get("brands") or [])
        if "declared_intent" in allowed and sig.get("declared_intent") is not None:
            item["declared_intent"] = sig.get("declared_intent")
        if "last_seen" in allowed:
            seen = sig.get("last_seen")
            item["last_seen"] = seen.isoformat() if isinstance(seen, datetime) else seen
        out.append(item)
    return out


def categories_of(details: Sequence[dict[str, Any]]) -> set[str]:
    return {c for d in details for c in d.get("categories", [])}
