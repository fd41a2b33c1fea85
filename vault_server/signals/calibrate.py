"""Fit gesture weights on labelled data and propose a gestures.yaml (needs the ``analysis`` extra).

Features per subject are those of the subject's strongest category under the current policy
(:func:`vault_server.signals.engine.feature_vector`), so ``raw = sum(weight * feature)`` holds
exactly. A logistic regression constrained to non-negative coefficients (active set: drop the most
negative feature and refit; a positive gesture must never lower a score) gives the new weights,
rescaled so the mean ``raw`` on the
training subjects stays the same (stage thresholds keep their meaning). Gestures with negative
weights damp evidence rather than add to it and are left as they are, and so are gestures that damp
their visit (``visit`` in gestures.yaml). The proposal is written by
editing the numbers in the original file (comments and layout survive, the diff is reviewable),
then checked with the policy loader. AUC before/after is reported on the training subjects and on a
holdout share chosen by a hash of the subject name.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vault_server.policy.loader import Policy, YamlDoc, check_policy, load_policy, read_document
from vault_server.policy.models import GesturesFile
from vault_server.signals.engine import feature_vector
from vault_server.signals.metrics import average_precision, fmt, roc_auc
from vault_server.signals.replay import SubjectResult

MAX_WEIGHT = 5.0


class CalibrationError(Exception):
    """Calibration cannot proceed (missing extra, one class only, nothing to fit)."""


def _require_sklearn() -> tuple[Any, Any]:
    try:
        import numpy as np
        from sklearn.linear_model import LogisticRegression
    except ImportError:  # pragma: no cover - depends on the environment
        raise CalibrationError("calibrate needs numpy and scikit-learn: pip install 'intent-vault[analysis]'") from None
    return np, LogisticRegression


def in_holdout(subject: str, share: float) -> bool:
    """Stable assignment of a subject to the holdout set (same answer on every run and machine)."""
    if share <= 0:
        return False
    digest = hashlib.sha256(subject.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _fit_non_negative(np: Any, logistic_regression: Any, x: Any, y: Any) -> Any:
    """Logistic regression with non-negative coefficients by active set: fit on standardised
    features, drop the most negative feature, refit, until none is negative. Returns coefficients on
    the original feature scale (0 for dropped or constant features)."""
    std = x.std(axis=0)
    usable = std > 1e-12
    coef = np.zeros(x.shape[1])
    active = [i for i in range(x.shape[1]) if usable[i]]
    while active:
        cols = np.array(active)
        model = logistic_regression(max_iter=5000, C=1.0)
        model.fit(x[:, cols] / std[cols], y)
        fitted = model.coef_[0]
        worst = int(np.argmin(fitted))
        if fitted[worst] >= 0:
            coef[cols] = fitted / std[cols]
            break
        active.pop(worst)
    return coef


def _collect(
    results: Iterator[SubjectResult], policy: Policy, names: list[str]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    feats: dict[str, dict[str, float]] = {}
    scores: dict[str, float] = {}
    for res in results:
        scores[res.subject] = res.max_score
        if res.signals:
            best = max(res.signals, key=lambda s: (s.score, s.category))
            feats[res.subject] = feature_vector(res.states[best.category], res.at, policy)
    zero = dict.fromkeys(names, 0.0)
    return {n: feats.get(n, zero) for n in feats}, scores


def _auc_pair(y: Sequence[int], s: Sequence[float]) -> tuple[float | None, float | None]:
    return roc_auc(y, s), average_precision(y, s)


def _replace_weights(doc: YamlDoc, text: str, new: dict[str, float], gestures: GesturesFile) -> str:
    lines = text.splitlines(keepends=True)
    targets: list[tuple[int, float]] = []
    for i, rule in enumerate(gestures.gestures):
        if rule.type in new:
            targets.append((doc.line(("gestures", i, "weight")), new[rule.type]))
    for name in ("visit_days", "origins", "dwell_minutes"):
        key = f"patterns.{name}"
        if key in new:
            targets.append((doc.line(("patterns", name, "weight")), new[key]))
    for line_no, value in targets:
        idx = line_no - 1
        lines[idx] = re.sub(r"(weight:\s*)(-?[0-9.eE+-]+)", rf"\g<1>{value:g}", lines[idx], count=1)
    return "".join(lines)


def calibrate(
    policy: Policy,
    labels: dict[str, int],
    results: Callable[[Policy], Iterator[SubjectResult]],
    *,
    output: Path,
    holdout: float = 0.3,
) -> list[str]:
    """Fit, write ``output`` and return the report lines (before/after table, AUCs, check result)."""
    np, logistic_regression = _require_sklearn()
    positive = [g for g, r in policy.gesture_rules.items() if r.weight >= 0 and r.visit is None]
    names = positive + [f"patterns.{p}" for p in ("visit_days", "origins", "dwell_minutes")]
    feats, before_scores = _collect(results(policy), policy, names)
    subjects = sorted(labels)
    train = [s for s in subjects if not in_holdout(s, holdout)]
    test = [s for s in subjects if in_holdout(s, holdout)]
    y_train = [labels[s] for s in train]
    if len(set(y_train)) < 2:
        raise CalibrationError("the training subjects need both labels (0 and 1) to fit weights")
    zero = dict.fromkeys(names, 0.0)
    x_train = np.array([[feats.get(s, zero)[k] for k in names] for s in train], dtype=float)
    coef = _fit_non_negative(np, logistic_regression, x_train, np.array(y_train))
    if not np.any(coef > 0):
        raise CalibrationError("no feature is positively associated with buying on this data; weights unchanged")
    old = np.array(
        [policy.gesture_rules[k].weight if k in policy.gesture_rules else
         getattr(policy.gestures.patterns, k.split(".", 1)[1]).weight for k in names]
    )  # fmt: skip
    raw_old = float((x_train @ old).mean())
    raw_new = float((x_train @ coef).mean())
    scale = raw_old / raw_new if raw_new > 0 else 1.0
    proposed = {k: round(float(min(MAX_WEIGHT, v * scale)), 3) for k, v in zip(names, coef, strict=True)}

    # The proposed policy, applied and scored again on the same events.
    src = policy.directory
    if src is None:
        raise CalibrationError("the policy was not loaded from a directory")
    text = (src / "gestures.yaml").read_text(encoding="utf-8")
    doc = read_document(src, "gestures.yaml")
    if doc is None:
        raise CalibrationError("cannot re-read gestures.yaml")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"# Proposed by `intent-vault signals calibrate` on {stamp} from {len(train)} labelled subjects\n"
        f"# (holdout {len(test)}); review the diff against policies/gestures.yaml before adopting it.\n"
    )
    new_text = header + _replace_weights(doc, text, proposed, policy.gestures)
    check_problems: list[str]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        for f in src.iterdir():
            if f.suffix == ".yaml":
                shutil.copy(f, tmp_dir / f.name)
        (tmp_dir / "gestures.yaml").write_text(new_text, encoding="utf-8")
        check_problems = [str(p) for p in check_policy(tmp_dir)]
        if check_problems:
            raise CalibrationError(
                "the proposed gestures.yaml does not pass policy check:\n" + "\n".join(check_problems)
            )
        new_policy = load_policy(tmp_dir)
        _, after_scores = _collect(results(new_policy), new_policy, names)
    output.write_text(new_text, encoding="utf-8")

    def metrics(group: list[str], scores: dict[str, float]) -> tuple[float | None, float | None]:
        return _auc_pair([labels[s] for s in group], [scores.get(s, 0.0) for s in group])

    lines = [f"{'weight':<28}{'before':>9}{'after':>9}"]
    for k in names:
        before = float(old[names.index(k)])
        lines.append(f"{k:<28}{before:>9.3f}{proposed[k]:>9.3f}")
    for g, r in policy.gesture_rules.items():
        if r.weight < 0 or r.visit is not None:
            lines.append(f"{g:<28}{r.weight:>9.3f}{r.weight:>9.3f}  (damping, not fitted)")
    for title, group in (("training", train), ("holdout", test)):
        if not group or len({labels[s] for s in group}) < 2:
            continue
        b_roc, b_pr = metrics(group, before_scores)
        a_roc, a_pr = metrics(group, after_scores)
        lines.append(
            f"{title} ({len(group)} subjects): ROC AUC {fmt(b_roc)} -> {fmt(a_roc)}   PR AUC {fmt(b_pr)} -> {fmt(a_pr)}"
        )
    lines.append(f"wrote {output} (policy check: OK)")
    return lines
