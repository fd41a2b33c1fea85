"""How far can anything get on these gestures? Cross-validated learned models on per-session features.

    .venv/bin/python bench/signals/ceiling.py --events ../shared/sessions/events.jsonl.gz \\
        --labels ../shared/sessions/labels.csv

Counts per session what the gestures say (product views, dwell minutes, account and information pages,
return visits, a cart and its value) and reports the 5-fold cross-validated ROC AUC of a logistic regression
(log features; also with every feature crossed with "has a cart") and of a gradient-boosted model, for both
questions (browse only, with cart), next to the policy's own figure from ``real.py``. It also splits the
with-cart question into the sessions with a cart and those without: where the policy loses against the
models is visible there. The split is real.py's: the same held-out fifth (never used to fit) and the
same folds of the rest, so the figures sit beside the policy's. Needs the ``analysis`` extra (numpy,
scikit-learn).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

HOLDOUT_SALT = "issue15-holdout:"  # as in real.py


def fold_of(subject: str, folds: int, salt: str = "") -> int:
    """real.py's fold of a subject (a hash of its id)."""
    return int.from_bytes(hashlib.sha256((salt + subject).encode()).digest()[:8], "big") % folds


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


class Split:
    """real.py's split: ``dev`` in folds by subject, ``hold`` the held-out fifth."""

    def __init__(self, subjects: list[str], folds: int = 5) -> None:
        self.hold = np.array([fold_of(s, 5, HOLDOUT_SALT) == 0 for s in subjects])
        self.fold = np.array([fold_of(s, folds) for s in subjects])
        self.folds = folds


def cv_auc(model: object, x: np.ndarray, y: np.ndarray, split: Split, mask: np.ndarray) -> tuple[float, float]:
    """Mean ROC AUC over the held-out folds of the rest, and on the held-out fifth (fitted on the rest)."""
    dev = ~split.hold & mask
    per = []
    for k in range(split.folds):
        train, test = dev & (split.fold != k), dev & (split.fold == k)
        model.fit(x[train], y[train])  # type: ignore[attr-defined]
        per.append(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))  # type: ignore[attr-defined]
    model.fit(x[dev], y[dev])  # type: ignore[attr-defined]
    hold = split.hold & mask
    return float(np.mean(per)), float(roc_auc_score(y[hold], model.predict_proba(x[hold])[:, 1]))  # type: ignore[attr-defined]


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
    split = Split(subjects)
    y = np.array([labels[s] for s in subjects])
    raw = np.array([[feats[s][k] if s in feats else 0.0 for k in FEATURES] for s in subjects])
    cart = raw[:, FEATURES.index("carts")] > 0
    every = np.ones(len(y), dtype=bool)
    print(f"{len(subjects):,} sessions ({int(y.sum())} bought), {int(cart.sum())} with a cart; "
          f"ROC AUC: mean of the {split.folds} folds of the rest / held-out fifth")  # fmt: skip
    print("| question | logistic (log features) | logistic + cart interactions | gradient boosting |")
    print("|---|---:|---:|---:|")
    for name, cols in (("browse only", FEATURES[:5]), ("with cart", FEATURES)):
        x = np.log1p(raw[:, [FEATURES.index(c) for c in cols]])
        crossed = np.column_stack([x, x * cart[:, None]]) if name == "with cart" else x
        cells = [
            cv_auc(LogisticRegression(max_iter=5000), x, y, split, every),
            cv_auc(LogisticRegression(max_iter=5000), crossed, y, split, every),
            cv_auc(HistGradientBoostingClassifier(max_iter=150, max_depth=3, learning_rate=0.05), x, y, split, every),
        ]
        print(f"| {name} | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in cells) + " |")
    x = np.log1p(raw)
    for part, mask in (("sessions with a cart", cart), ("sessions without", ~cart)):
        a, b = cv_auc(LogisticRegression(max_iter=5000), x, y, split, mask)
        print(f"with cart, {part}: logistic {a:.3f} / {b:.3f}")


if __name__ == "__main__":
    main()
