"""Cross-validated ROC AUC of signal policies on labelled sessions (real or synthetic), in place.

    python bench/signals/real.py --events ../shared/sessions/events.jsonl.gz \\
        --labels ../shared/sessions/labels.csv [--policy policies] [--baseline DIR] [--folds 5]

Reads the gestures where they are (``.gz`` too; nothing is copied) and answers two questions: browse
only (``cart_add`` lines dropped) and with cart. For each it prints:

- the policy as shipped: ROC AUC per fold of subjects (5 folds by a hash of the subject), mean and
  range. The policy was not fitted to any one fold, so a spread this small says it is not fitted to
  the file; ``--baseline`` scores another policy directory the same way (e.g. the previous one);
- a nested choice: for each fold, the variant of the policy (the grid below, around the shipped
  numbers) that scores best on the other folds is scored on the held-out fold. The mean of those is
  what choosing the numbers on data is worth on sessions it did not see;
- refitting weights only (``calibrate``'s non-negative logistic regression on each subject's
  features) fitted on the other folds and scored on the held-out one.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import itertools
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from vault_server.policy.loader import Policy, load_policy
from vault_server.signals.engine import feature_vector
from vault_server.signals.metrics import roc_auc
from vault_server.signals.replay import read_labels, replay

# Variants tried in the nested choice, per question: (gesture or pattern, field path, values).
Grid = dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]]
VISIT: Grid = {"return_visit.visit.factor": ("return_visit", ("visit", "factor"), (1.0, 0.5, 0.3, 0.2))}
GRID: dict[bool, Grid] = {  # browse_only -> grid
    True: VISIT | {"patterns.dwell_minutes.weight": ("dwell_minutes", ("weight",), (0.5, 1.0, 2.0))},
    False: VISIT | {"cart_add.value.max_bonus": ("cart_add", ("value", "max_bonus"), (0.0, 2.5, 5.0))},
}


def lines(path: Path, *, browse_only: bool) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if browse_only and '"cart_add"' in line:
                continue
            yield line


def fold_of(subject: str, folds: int) -> int:
    return int.from_bytes(hashlib.sha256(subject.encode()).digest()[:8], "big") % folds


def scores(policy: Policy, events: Path, *, browse_only: bool) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Per subject: the highest score over categories, and the features of that category."""
    best: dict[str, float] = {}
    feats: dict[str, dict[str, float]] = {}
    for res in replay(lines(events, browse_only=browse_only), policy, grouped=False):
        best[res.subject] = res.max_score
        if res.signals:
            top = max(res.signals, key=lambda s: (s.score, s.category))
            feats[res.subject] = feature_vector(res.states[top.category], res.at, policy)
    return best, feats


def auc(labels: dict[str, int], score: dict[str, float], subjects: list[str]) -> float:
    value = roc_auc([labels[s] for s in subjects], [score.get(s, 0.0) for s in subjects])
    return float("nan") if value is None else value


def variant(base: Path, grid: Grid, changes: dict[str, float], tmp: Path) -> Policy:
    doc = yaml.safe_load((base / "gestures.yaml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        name, fields, _ = grid[key]
        node: Any = (
            doc["patterns"].get(name)
            if name in doc["patterns"]
            else next(g for g in doc["gestures"] if g["type"] == name)
        )
        for f in fields[:-1]:
            empty = {"hours": 4, "factor": 1.0} if f == "visit" else {"reference": 20, "max_bonus": 0}
            node = node.setdefault(f, empty)
        node[fields[-1]] = value
    out = tmp / "-".join(f"{k}={v:g}" for k, v in changes.items())
    out.mkdir(parents=True, exist_ok=True)
    for f in base.iterdir():
        if f.suffix == ".yaml":
            (out / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (out / "gestures.yaml").write_text(yaml.safe_dump(copy.deepcopy(doc), sort_keys=False), encoding="utf-8")
    return load_policy(out)


def refit(labels: dict[str, int], feats: dict[str, dict[str, float]], train: list[str]) -> Callable[[str], float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from vault_server.signals.calibrate import _fit_non_negative

    names = sorted({k for f in feats.values() for k in f})
    zero = dict.fromkeys(names, 0.0)
    x = np.array([[feats.get(s, zero).get(k, 0.0) for k in names] for s in train])
    coef = _fit_non_negative(np, LogisticRegression, x, np.array([labels[s] for s in train]))
    return lambda s: float(sum(c * feats.get(s, zero).get(k, 0.0) for c, k in zip(coef, names, strict=True)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--policy", type=Path, default=Path("policies"))
    ap.add_argument("--baseline", type=Path, default=None, help="another policy directory scored the same way")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-grid", action="store_true", help="skip the nested choice over GRID")
    args = ap.parse_args()
    labels = read_labels(args.labels)
    subjects = sorted(labels)
    folds = [[s for s in subjects if fold_of(s, args.folds) == k] for k in range(args.folds)]
    print(f"{len(subjects):,} labelled subjects ({sum(labels.values()):,} bought), {args.folds} folds by subject")
    for browse_only in (True, False):
        title = "browse only (views and dwell)" if browse_only else "with cart"
        print(f"== {title}")
        policies = [("shipped", args.policy)] + ([("baseline", args.baseline)] if args.baseline else [])
        feats: dict[str, dict[str, float]] = {}
        for name, directory in policies:
            score, f = scores(load_policy(directory), args.events, browse_only=browse_only)
            feats = f if name == "shipped" else feats
            per = [auc(labels, score, fold) for fold in folds]
            print(f"{name:9} ROC AUC per fold {' '.join(f'{a:.3f}' for a in per)}  mean {sum(per) / len(per):.3f}"
                  f"  (all {auc(labels, score, subjects):.3f})")  # fmt: skip
        tested = []
        for k, fold in enumerate(folds):
            train = [s for s in subjects if fold_of(s, args.folds) != k]
            tested.append(auc(labels, dict(zip(fold, map(refit(labels, feats, train), fold), strict=True)), fold))
        print(f"refit weights (calibrate) on the other folds: held-out mean {sum(tested) / len(tested):.3f}")
        if args.no_grid:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            grid = GRID[browse_only]
            keys = list(grid)
            results = []
            for values in itertools.product(*(grid[k][2] for k in keys)):
                changes = dict(zip(keys, values, strict=True))
                policy = variant(args.policy, grid, changes, Path(tmp))
                score, _ = scores(policy, args.events, browse_only=browse_only)
                results.append((changes, score))
            chosen = []
            for k, fold in enumerate(folds):
                train = [s for s in subjects if fold_of(s, args.folds) != k]
                changes, score = max(results, key=lambda r: auc(labels, r[1], train))
                chosen.append(auc(labels, score, fold))
                print(f"  fold {k}: chose {changes} on the other folds -> held-out {chosen[-1]:.3f}")
            print(f"nested choice over {len(results)} variants: held-out mean {sum(chosen) / len(chosen):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
