"""``run.log_histogram`` as a user calls it, offline: what each call records (bins, step, time)
and the exact error each misuse raises at the call site, before anything is spooled."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn
from cairn.errors import FailedPreconditionError, ValidationError
from cairn.run import Run
from cairn.v1 import metrics_pb2
from tests.sdk.helpers import offline_settings, payloads, points, spooled_events


@pytest.fixture
def run(tmp_path: Path) -> Any:
    with cairn.init(name="histograms", settings=offline_settings(tmp_path)) as started:
        yield started


def histograms_of(run: Run) -> list[metrics_pb2.Histogram]:
    assert run.flush(10)
    assert run.spool_dir is not None
    return [
        h
        for batch in payloads(spooled_events(run.spool_dir), "histograms")
        for h in batch.histograms
    ]


def test_values_are_binned_like_numpy_and_every_finite_value_is_counted(run: Run) -> None:
    values = np.random.default_rng(7).normal(size=(40, 25))
    before = time.time_ns()
    run.log_histogram("fc1/weights", values, step=5, bins=16)
    (found,) = histograms_of(run)
    counts, edges = np.histogram(values, bins=16)
    assert (found.key, found.step) == ("fc1/weights", 5)
    assert list(found.edges) == edges.tolist()
    assert list(found.counts) == counts.astype(float).tolist()
    assert sum(found.counts) == 1000
    assert before <= found.timestamp_ns <= time.time_ns()


def test_given_edges_bin_values_and_values_outside_them_are_not_counted(run: Run) -> None:
    run.log_histogram("scores", [0.1, 0.2, 0.7, 1.0, 3.0, -1.0], edges=[0.0, 0.5, 1.0], step=0)
    (found,) = histograms_of(run)
    assert list(found.edges) == [0.0, 0.5, 1.0]
    assert list(found.counts) == [2.0, 2.0]  # 1.0 is in the last bin, numpy's convention


def test_precomputed_bins_are_recorded_as_given_weights_included(run: Run) -> None:
    run.log_histogram("attention", edges=np.array([0, 0.25, 1.0]), counts=[0.5, 2.25], step=3)
    (found,) = histograms_of(run)
    assert (list(found.edges), list(found.counts)) == ([0.0, 0.25, 1.0], [0.5, 2.25])


def test_the_step_is_the_latest_logged_and_is_not_advanced(run: Run) -> None:
    run.log_histogram("w", [1.0, 2.0])  # before any log: step 0
    run.log({"loss": 1.0})
    run.log({"loss": 0.5})
    run.log_histogram("w", [1.0, 2.0])  # with the step just logged
    run.log({"loss": 0.25})  # the counter did not move
    run.log_histogram("w", [1.0, 2.0], step=np.int64(40))
    assert [h.step for h in histograms_of(run)] == [0, 1, 40]
    assert run.spool_dir is not None
    assert points(spooled_events(run.spool_dir))["loss"] == [(0, 1.0), (1, 0.5), (2, 0.25)]


def test_nan_and_infinities_are_left_out_with_one_warning_per_key(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cairn"):
        run.log_histogram("grad", [1.0, math.nan, 2.0, math.inf, -math.inf], step=1)
        run.log_histogram("grad", [math.nan, 3.0], step=2)
    first, second = histograms_of(run)
    assert (sum(first.counts), sum(second.counts)) == (2.0, 1.0)
    warnings = [r.getMessage() for r in caplog.records if "NaN or infinite" in r.getMessage()]
    assert warnings == [
        "cairn: 3 NaN or infinite values of histogram 'grad' at step 1 were left out "
        "(said once per key)"
    ]


def test_only_nan_values_still_record_an_empty_histogram(run: Run) -> None:
    run.log_histogram("grad", [math.nan, math.nan], step=0, bins=4)
    (found,) = histograms_of(run)
    assert (len(found.counts), sum(found.counts)) == (4, 0.0)


def test_a_torch_tensor_goes_in_as_a_numpy_array(run: Run) -> None:
    import torch

    weights = torch.linspace(-1.0, 1.0, 101, requires_grad=True)
    run.log_histogram("w", weights.detach().cpu().numpy(), step=0, bins=4)
    assert sum(histograms_of(run)[0].counts) == 101
    with pytest.raises(ValidationError, match=r"pass tensor\.detach\(\)\.cpu\(\)\.numpy\(\)"):
        run.log_histogram("w", weights, step=1)


MISUSE: list[tuple[dict[str, Any], str]] = [
    ({"key": "bad key", "values": [1.0]}, "key: 'bad key' is not valid: use dot-separated segments of letters, digits and _ - / : (rule key_format)"),
    ({"key": "w"}, "values: give values, or edges and counts (rule required)"),
    ({"key": "w", "edges": [0, 1]}, "values: give values, or edges and counts (rule required)"),
    ({"key": "w", "values": [1.0], "counts": [1]}, "counts: give values (and edges, optionally) or counts, not both (rule one_source)"),
    ({"key": "w", "values": []}, "values: must not be empty (rule required)"),
    ({"key": "w", "values": "1,2"}, "values: must be numbers, got str (rule numeric_value)"),
    ({"key": "w", "values": [1.0], "bins": 513}, "bins: must be between 1 and 512, got 513 (rule max_bins_per_histogram)"),
    ({"key": "w", "values": [1.0], "bins": 2.5}, "bins: must be an integer, got float (rule type)"),
    ({"key": "w", "values": [1.0], "edges": [1.0]}, "edges: has 1 items: a histogram needs at least two edges (rule bin_edges)"),
    ({"key": "w", "values": [1.0], "edges": [0.0, 2.0, 1.0]}, "edges[2]: 1.0 does not follow 2.0: edges must increase strictly (rule increasing_edges)"),
    ({"key": "w", "edges": [0, 1, 2], "counts": [1]}, "edges: has 3 items but counts has 1: a histogram has one more edge than counts (rule bin_edges)"),
    ({"key": "w", "edges": [0, math.inf], "counts": [1]}, "edges[1]: edges must be finite, got inf (rule finite_edges)"),
    ({"key": "w", "edges": [0, 1], "counts": [-2]}, "counts[0]: counts must be finite and >= 0, got -2.0 (rule non_negative_count)"),
    ({"key": "w", "edges": [0, 1], "counts": ["3"]}, "counts[0]: must be a number, got str '3' (rule numeric_value)"),
    ({"key": "w", "edges": list(range(514)), "counts": [1] * 513}, "counts: 513 bins, at most 512 allowed (rule max_bins_per_histogram)"),
    ({"key": "w", "values": [1.0], "step": -1}, "step: step must be >= 0, got -1 (rule non_negative_step)"),
]  # fmt: skip


@pytest.mark.parametrize(("arguments", "message"), MISUSE)
def test_misuse_raises_a_clear_error_and_records_nothing(
    run: Run, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        run.log_histogram(**arguments)
    assert str(caught.value) == message
    assert histograms_of(run) == []


def test_log_histogram_after_finish_raises_failed_precondition(tmp_path: Path) -> None:
    run = cairn.init(settings=offline_settings(tmp_path))
    run.finish()
    with pytest.raises(FailedPreconditionError, match="log_histogram after finish"):
        run.log_histogram("w", [1.0])


@pytest.mark.parametrize("values", [[-1e308, 1e308], [0.0, 5e-324]])
def test_values_numpy_cannot_bin_are_refused_by_name(run: Run, values: list[float]) -> None:
    with pytest.raises(
        ValidationError, match=r"^values: cannot be binned: .* \(rule histogram_range\)$"
    ):
        run.log_histogram("w", values, step=0, bins=512)
