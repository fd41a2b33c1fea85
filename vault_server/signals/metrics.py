"""Ranking metrics for replay against labels (pure Python: no numpy needed to replay)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass


def _tie_groups(order: Sequence[int], scores: Sequence[float]) -> Iterator[tuple[int, int]]:
    """(first, last) positions in ``order`` of each run of equal scores."""
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        yield i, j
        i = j + 1


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U, ties count half); None if only one class."""
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    for i, j in _tie_groups(order, scores):
        avg_rank = (i + j) / 2.0 + 1.0
        rank_sum += avg_rank * sum(1 for k in range(i, j + 1) if labels[order[k]])
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def average_precision(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the precision-recall curve as average precision (step-wise, like scikit-learn's
    ``average_precision_score``; tied scores form one threshold). None if there are no positives."""
    pos = sum(1 for y in labels if y)
    if pos == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    tp = fp = 0
    ap = 0.0
    prev_recall = 0.0
    for i, j in _tie_groups(order, scores):
        hits = sum(1 for k in range(i, j + 1) if labels[order[k]])
        tp += hits
        fp += j + 1 - i - hits
        recall = tp / pos
        ap += (recall - prev_recall) * (tp / (tp + fp))
        prev_recall = recall
    return ap


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def confusion(labels: Sequence[int], predicted: Sequence[bool]) -> Confusion:
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p)
    return Confusion(tp=tp, fp=fp, fn=fn, tn=len(labels) - tp - fp - fn)


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
