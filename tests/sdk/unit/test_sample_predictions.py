"""How the framework callbacks turn model outputs on sample examples into table rows
(``cairn._samples``): classes from logits or probabilities, binary scores, regression."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cairn._samples import check_count, check_every, looks_like_image, prediction_rows
from cairn.errors import ValidationError


def test_logits_become_the_arg_max_class_with_its_softmax_probability_and_names() -> None:
    rows = prediction_rows(np.array([[2.0, 0.0], [0.0, 3.0]]), [0, 0], {0: "NEG", 1: "POS"})
    assert [r["prediction"] for r in rows] == ["NEG", "POS"]
    assert [r["label"] for r in rows] == ["NEG", "NEG"]
    assert [r["correct"] for r in rows] == [True, False]
    assert rows[0]["confidence"] == pytest.approx(math.exp(2) / (math.exp(2) + 1), abs=1e-6)


def test_probabilities_are_kept_and_one_hot_labels_are_read_as_classes() -> None:
    rows = prediction_rows([[0.1, 0.7, 0.2]], [[0, 0, 1]], ["a", "b", "c"])
    assert rows == [
        {"example": 0, "label": "c", "prediction": "b", "confidence": 0.7, "correct": False}
    ]


def test_one_score_with_binary_labels_is_binary_and_logits_pass_a_sigmoid() -> None:
    probability = prediction_rows([[0.9], [0.2]], [1, 1])
    assert [(r["prediction"], r["confidence"], r["correct"]) for r in probability] == [
        (1, 0.9, True), (0, 0.8, False),
    ]  # fmt: skip
    logits = prediction_rows([3.0, -1.0], [1, 0])
    assert [r["prediction"] for r in logits] == [1, 0]
    assert logits[0]["confidence"] == pytest.approx(1 / (1 + math.exp(-3)), abs=1e-6)


def test_one_score_without_class_labels_is_a_regression_value() -> None:
    assert prediction_rows([[2.5], [0.5]], [3.0, 0.25]) == [
        {"example": 0, "label": 3, "prediction": 2.5},
        {"example": 1, "label": 0.25, "prediction": 0.5},
    ]
    assert prediction_rows([0.3]) == [{"example": 0, "prediction": 0.3}]


def test_inputs_come_second_and_missing_ones_are_left_out() -> None:
    rows = prediction_rows([[1.0, 0.0], [0.0, 1.0]], inputs=["first text", None])
    assert list(rows[0]) == ["example", "input", "prediction", "confidence"]
    assert rows[0]["input"] == "first text"
    assert "input" not in rows[1]


def test_a_label_that_is_no_class_index_leaves_correct_empty() -> None:
    (row,) = prediction_rows([[1.0, 0.0]], ["spam"])
    assert row["correct"] is None


def test_images_are_recognised_by_shape() -> None:
    assert looks_like_image(np.zeros((8, 8)))
    assert looks_like_image(np.zeros((28, 28, 3)))
    assert not looks_like_image(np.zeros((28, 28, 7)))  # 7 channels: not a picture
    assert not looks_like_image(np.zeros(16))  # features
    assert not looks_like_image(np.zeros((4, 4)))  # too small to look at


def test_counts_and_intervals_are_checked_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"samples.*at least one"):
        check_count(0, "samples")
    with pytest.raises(ValidationError, match=r"samples.*at most 10000"):
        check_count(10_001, "samples")
    with pytest.raises(ValidationError, match=r"eval_every.*integer >= 1"):
        check_every(True, "eval_every")
