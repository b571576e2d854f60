"""Evaluation summaries computed from labels and scores, logged as tables by the run's
``log_confusion_matrix``, ``log_pr_curve`` and ``log_roc_curve``.

Computed with numpy (imported only here, when called); tables rather than pictures, so the
values stay queryable in SQL (``cairn_reporting.table_rows``) and the portal draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cairn import _checks as checks

MAX_CURVE_POINTS = 500  # thresholds kept per curve (evenly thinned beyond)


def confusion_matrix(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None
) -> dict[str, list[Any]]:
    """Columns ``actual``, ``predicted``, ``count``: one row per pair of labels (zeros too),
    labels in the given order (else sorted as found)."""
    import numpy as np  # only here: ``import cairn`` stays free of numpy

    actual, predicted = np.asarray(y_true), np.asarray(y_pred)
    if actual.ndim != 1 or actual.shape != predicted.shape:
        detail = f"y_true and y_pred must be 1-d and of equal length, got {actual.shape} and {predicted.shape}"
        checks.fail("y_pred", "equal_lengths", detail)
    names = list(labels) if labels is not None else sorted({*actual.tolist(), *predicted.tolist()})
    index = {name: i for i, name in enumerate(names)}
    unknown = [v for v in (*actual.tolist(), *predicted.tolist()) if v not in index]
    if unknown:
        checks.fail("labels", "known_labels", f"{unknown[0]!r} is not among labels {names!r}")
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(
        counts, ([index[v] for v in actual.tolist()], [index[v] for v in predicted.tolist()]), 1
    )
    rows = [
        (str(a), str(p), int(counts[i, j]))
        for i, a in enumerate(names)
        for j, p in enumerate(names)
    ]
    return {
        "actual": [r[0] for r in rows],
        "predicted": [r[1] for r in rows],
        "count": [r[2] for r in rows],
    }


def pr_curve(y_true: Any, y_score: Any) -> dict[str, list[float]]:
    """Columns ``threshold``, ``precision``, ``recall`` for a binary classifier's scores
    (``y_true`` in {0, 1} or booleans; higher score = more positive)."""
    thresholds, tp, fp, positives, _ = _counts(y_true, y_score)
    precision = tp / (tp + fp)
    recall = tp / positives if positives else tp * 0.0
    return _thinned({"threshold": thresholds, "precision": precision, "recall": recall})


def roc_curve(y_true: Any, y_score: Any) -> dict[str, list[float]]:
    """Columns ``threshold``, ``fpr``, ``tpr`` for a binary classifier's scores."""
    thresholds, tp, fp, positives, negatives = _counts(y_true, y_score)
    tpr = tp / positives if positives else tp * 0.0
    fpr = fp / negatives if negatives else fp * 0.0
    return _thinned({"threshold": thresholds, "fpr": fpr, "tpr": tpr})


def _counts(y_true: Any, y_score: Any) -> tuple[Any, Any, Any, int, int]:
    """For each distinct score (descending): true and false positives at or above it."""
    import numpy as np

    truth, scores = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=np.float64)
    if truth.ndim != 1 or truth.shape != scores.shape or truth.size == 0:
        detail = f"y_true and y_score must be 1-d, non-empty and of equal length, got {truth.shape} and {scores.shape}"
        checks.fail("y_score", "equal_lengths", detail)
    if not np.isfinite(scores).all():
        checks.fail("y_score", "finite", "scores must be finite")
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]  # last index of each score
    tp = np.cumsum(truth)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    positives = int(truth.sum())
    return scores[last], tp, fp, positives, int(truth.size - positives)


def _thinned(columns: dict[str, Any]) -> dict[str, list[float]]:
    import numpy as np

    size = len(columns["threshold"])
    keep = np.unique(np.linspace(0, size - 1, min(size, MAX_CURVE_POINTS)).round().astype(int))
    return {name: [float(v) for v in np.asarray(values)[keep]] for name, values in columns.items()}
