"""How far can anything get on these gestures? Cross-validated learned models on per-session features.

    .venv/bin/python bench/signals/ceiling.py --events ../shared/sessions/events.jsonl.gz \\
        --labels ../shared/sessions/labels.csv

Counts per session what the gestures say (product views, dwell minutes, account and information pages,
return visits, a cart and its value) and reports the 5-fold cross-validated ROC AUC of a logistic regression
(log features; also with every feature crossed with "has a cart") and of a gradient-boosted model, for both
questions (browse only, with cart), next to the policy's own figure from ``real.py``. It also splits the
with-cart question into the sessions with a cart and those without: where the policy loses against the
models is visible there. Needs the ``analysis`` extra (numpy, scikit-learn).
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

FEATURES = ("product_views", "dwell_minutes", "account_pages", "info_pages", "return_visits", "carts", "cart_value")


def session_features(events: Path) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FEATURES, 0.0))
    with gzip.open(events, "rt", encoding="utf-8") if events.suffix == ".gz" else events.open() as fh:
        for line in fh:
            e = json.loads(line)
            f = found[e["subject"]]
            kind = e["type"]
            if kind == "product_view":
                f["product_views"] += 1
                f["dwell_minutes"] += (e.get("dwell_ms") or 0) / 60000
            elif kind == "page_view":
                f["account_pages" if "account" in e.get("path", "") else "info_pages"] += 1
            elif kind == "return_visit":
                f["return_visits"] += 1
            elif kind == "cart_add":
                f["carts"] += 1
                f["cart_value"] += float(e.get("value") or 0)
    return found


def cv_auc(model: object, x: np.ndarray, y: np.ndarray) -> float:
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]  # type: ignore[arg-type]
    return float(roc_auc_score(y, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    args = parser.parse_args()
    labels = {}
    for row in args.labels.read_text().splitlines()[1:]:
        if row.strip():
            subject, label = row.split(",")[:2]
            labels[subject] = int(label)
    feats = session_features(args.events)
    subjects = sorted(labels)
    y = np.array([labels[s] for s in subjects])
    raw = np.array([[feats[s][k] if s in feats else 0.0 for k in FEATURES] for s in subjects])
    cart = raw[:, FEATURES.index("carts")] > 0
    print(f"{len(subjects):,} sessions ({int(y.sum())} bought), {int(cart.sum())} with a cart; 5-fold CV ROC AUC")
    print("| question | logistic (log features) | logistic + cart interactions | gradient boosting |")
    print("|---|---:|---:|---:|")
    for name, cols in (("browse only", FEATURES[:5]), ("with cart", FEATURES)):
        x = np.log1p(raw[:, [FEATURES.index(c) for c in cols]])
        crossed = np.column_stack([x, x * cart[:, None]]) if name == "with cart" else x
        logit = cv_auc(LogisticRegression(max_iter=5000), x, y)
        inter = cv_auc(LogisticRegression(max_iter=5000), crossed, y)
        gbm = cv_auc(HistGradientBoostingClassifier(max_iter=150, max_depth=3, learning_rate=0.05), x, y)
        print(f"| {name} | {logit:.3f} | {inter:.3f} | {gbm:.3f} |")
    x = np.log1p(raw)
    for part, mask in (("sessions with a cart", cart), ("sessions without", ~cart)):
        auc = cv_auc(LogisticRegression(max_iter=5000), x[mask], y[mask])
        print(f"with cart, {part}: logistic {auc:.3f}")


if __name__ == "__main__":
    main()
