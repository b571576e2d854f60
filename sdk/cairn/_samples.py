"""Sample predictions as a table: what the Keras and Transformers callbacks log per evaluation.

A user who hands a callback a few validation examples gets, at every evaluation, one table under
one key with a row per example: ``example`` (its index), the ``input`` (an image when the
example is one, else its decoded text when the framework can decode it), the ``label``, the
``prediction``, its ``confidence`` and whether it is ``correct``. Logged with ``run.log_table``,
the rows land in ``cairn_reporting.table_rows``, so "which examples does every run get wrong?"
is one SQL query across runs (docs/media.md), and the Run page's Media tab shows the table per
step.

How predictions become rows (no framework imported here; arrays arrive as NumPy):

- one score per class (``n x k``, ``k >= 2``): the prediction is the arg-max class, the
  confidence its softmax probability (logits) or the score itself when rows already sum to 1;
- one score (``n`` or ``n x 1``) with labels that are all 0 or 1: binary, prediction
  ``score >= 0.5`` (after a sigmoid when a score is outside 0..1, i.e. a logit), confidence the
  chosen side's probability;
- otherwise (one score, no labels or other labels) regression: the prediction is the value, no
  confidence and no ``correct``.

Class indexes become names through ``class_names`` (a list, or a ``{index: name}`` mapping such as
a Transformers ``config.id2label``) when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cairn import _checks as checks
from cairn._media_payloads import MAX_TABLE_ROWS

MAX_SAMPLES = MAX_TABLE_ROWS  # a table's row limit, defined once in the contract's limits
DEFAULT_KEY = "samples/predictions"


def check_every(value: object, field: str) -> int:
    """A positive evaluation interval, or a clear error naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        checks.fail(field, "positive_integer", f"must be an integer >= 1, got {value!r}")
    return value


def check_count(count: int, field: str) -> None:
    if count == 0:
        checks.fail(field, "required", "needs at least one example")
    if count > MAX_SAMPLES:
        checks.fail(field, "max_items", f"{count} examples, at most {MAX_SAMPLES} allowed")


def looks_like_image(example: Any) -> bool:
    """``H x W`` or ``H x W x C`` (C in 1, 3, 4) of at least 8 x 8: drawn as an image cell."""
    shape = np.shape(example)
    if len(shape) == 3 and shape[-1] not in (1, 3, 4):
        return False
    return len(shape) in (2, 3) and shape[0] >= 8 and shape[1] >= 8


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _is_probability(scores: np.ndarray) -> bool:
    return bool(
        np.all(scores >= 0)
        and np.all(scores <= 1)
        and np.allclose(scores.sum(axis=1), 1, atol=1e-3)
    )


def _name(value: Any, class_names: Sequence[str] | Mapping[int, str] | None) -> Any:
    if class_names is None:
        return value
    index = int(value)
    if isinstance(class_names, Mapping):
        return str(class_names.get(index, index))
    return str(class_names[index]) if 0 <= index < len(class_names) else index


def _label(value: Any) -> Any:
    array = np.asarray(value)
    if array.size == 1:
        item = array.reshape(()).item()
        return int(item) if isinstance(item, float) and item.is_integer() else item
    return None  # one-hot or sequence labels: see ``prediction_rows``


def prediction_rows(
    predictions: Any,
    labels: Any = None,
    class_names: Sequence[str] | Mapping[int, str] | None = None,
    inputs: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per example: ``example``, ``input`` (``inputs[i]`` when given and not None: an
    image reference or a text), ``label`` (when given), ``prediction``, ``confidence`` and
    ``correct`` (classification), following the module's rules."""
    rows = _prediction_rows(predictions, labels, class_names)
    if inputs is None:
        return rows
    return [
        {"example": row.pop("example"), "input": shown, **row} if shown is not None else row
        for row, shown in zip(rows, inputs, strict=False)
    ]


def _prediction_rows(
    predictions: Any,
    labels: Any,
    class_names: Sequence[str] | Mapping[int, str] | None,
) -> list[dict[str, Any]]:
    scores = np.asarray(predictions, dtype=np.float64)
    count = scores.shape[0] if scores.ndim else 1
    scores = scores.reshape(count, -1)
    truth: list[Any] = [None] * count
    if labels is not None:
        given = np.asarray(labels)
        if given.ndim == 2 and given.shape[1] == scores.shape[1] > 1:
            given = given.argmax(axis=1)  # one-hot labels
        truth = [_label(value) for value in given.reshape(count, -1)]
    rows: list[dict[str, Any]] = []
    if scores.shape[1] >= 2:
        probabilities = scores if _is_probability(scores) else _softmax(scores)
        chosen = probabilities.argmax(axis=1)
        for index in range(count):
            rows.append(_row(index, truth[index], int(chosen[index]),
                             float(probabilities[index, chosen[index]]), class_names))  # fmt: skip
        return rows
    single = scores[:, 0]
    if labels is not None and all(t in (0, 1) for t in truth):
        probability = single if np.all((single >= 0) & (single <= 1)) else 1 / (1 + np.exp(-single))
        for index in range(count):
            positive = bool(probability[index] >= 0.5)
            confidence = float(probability[index] if positive else 1 - probability[index])
            rows.append(_row(index, truth[index], int(positive), confidence, class_names))
        return rows
    for index in range(count):
        row: dict[str, Any] = {"example": index}
        if labels is not None:
            row["label"] = truth[index]
        row["prediction"] = float(single[index])
        rows.append(row)
    return rows


def _row(
    index: int,
    label: Any,
    predicted: int,
    confidence: float,
    class_names: Sequence[str] | Mapping[int, str] | None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"example": index}
    if label is not None:
        row["label"] = _name(label, class_names)
    row["prediction"] = _name(predicted, class_names)
    row["confidence"] = round(confidence, 6)
    if label is not None:
        row["correct"] = _same_class(label, predicted)
    return row


def _same_class(label: Any, predicted: int) -> bool | None:
    try:
        return int(label) == predicted
    except (TypeError, ValueError):  # a label that is not a class index: nothing to compare
        return None
