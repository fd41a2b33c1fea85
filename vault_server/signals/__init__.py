"""Signals: classify gestures, score intent per (consumer, category), replay and calibrate offline."""

from vault_server.signals.classify import TaxonomyIndex, classify, index_for
from vault_server.signals.engine import (
    Contribution,
    DeclaredIntentView,
    FoldResult,
    PriceBand,
    Signal,
    SignalState,
    UnknownGesture,
    apply,
    check_event,
    evaluate,
    fold,
    group_by_category,
    new_state,
)
from vault_server.signals.schema import GestureEvent, ProductInfo, gesture_json_schema

__all__ = [
    "Contribution",
    "DeclaredIntentView",
    "FoldResult",
    "GestureEvent",
    "PriceBand",
    "ProductInfo",
    "Signal",
    "SignalState",
    "TaxonomyIndex",
    "UnknownGesture",
    "apply",
    "check_event",
    "classify",
    "evaluate",
    "fold",
    "gesture_json_schema",
    "group_by_category",
    "index_for",
    "new_state",
]
