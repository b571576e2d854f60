"""query.history.buckets on the real engine: long clean series bucketed from the rollup, short
and re-logged ones from the points, both giving each bucket's exact last point, min, max and
count, and nothing of a run the caller may not see."""

from __future__ import annotations

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client

from query.history import buckets
from tests.query.integration.callers import ALICE, STRANGER
from tests.query.integration.world import LOSS_STEPS, RELOGGED_SPIKE, loss_value

pytestmark = pytest.mark.integration


def _check_against_the_points(found_steps: np.ndarray, found: dict[str, np.ndarray]) -> None:
    """Every step 0..LOSS_STEPS-1 was logged, so bucket i holds exactly the steps after bucket
    i-1's last step up to its own last step: min, max and count follow from the series."""
    truth = np.array([loss_value(s) for s in range(LOSS_STEPS)])
    previous = -1
    for i, last in enumerate(found_steps.tolist()):
        window = truth[previous + 1 : last + 1]
        assert found["count"][i] == len(window)
        assert found["min"][i] == pytest.approx(window.min())
        assert found["max"][i] == pytest.approx(window.max())
        assert found["value"][i] == pytest.approx(truth[last])
        previous = last
    assert previous == LOSS_STEPS - 1


@pytest.mark.parametrize("samples", [1, 3, 10, 77, 2_000, 10_000])
def test_buckets_hold_the_exact_last_min_max_and_count(client: Client, samples: int) -> None:
    found = buckets(client, ALICE, ["r-churn-1"], ["loss"], samples)
    assert [(run, key) for run, key, _, _ in found.series] == [("r-churn-1", "loss")]
    assert 1 <= len(found) <= samples
    assert np.all(np.diff(found.step) > 0)
    columns = {"count": found.count, "min": found.min, "max": found.max, "value": found.value}
    _check_against_the_points(found.step, columns)
    assert found.max.max() == 100.0  # the spike
    assert found.min.min() == -50.0  # and the dip
    assert np.all(found.timestamp_ns > 0)


def test_a_long_clean_series_is_bucketed_in_whole_rollup_blocks(client: Client) -> None:
    """5,000 steps in 10 buckets: 500 steps each from the points, 512 (8 blocks of 64) from the
    rollup, which is what a clean series this long must use."""
    found = buckets(client, ALICE, ["r-churn-1"], ["loss"], 10)
    assert found.step.tolist() == [511, 1023, 1535, 2047, 2559, 3071, 3583, 4095, 4607, 4999]
    assert found.count.tolist() == [512] * 9 + [392]


def test_a_relogged_series_shows_only_its_latest_values(client: Client) -> None:
    found = buckets(client, ALICE, ["r-churn-1"], ["resumed", "loss"], 10)
    names = [(run, key) for run, key, _, _ in found.series]
    assert names == [("r-churn-1", "loss"), ("r-churn-1", "resumed")]
    _, _, start, end = found.series[1]
    assert RELOGGED_SPIKE not in found.max[start:end]
    assert found.max[start:end].max() == 2.0
    assert int(found.count[start:end].sum()) == LOSS_STEPS  # each step once


def test_every_key_when_none_is_named_and_nothing_for_a_stranger(client: Client) -> None:
    every = buckets(client, ALICE, ["r-churn-1"], [], 5)
    assert {"loss", "resumed"} <= {key for _, key, _, _ in every.series}
    assert len(buckets(client, STRANGER, ["r-churn-1"], [], 5)) == 0
