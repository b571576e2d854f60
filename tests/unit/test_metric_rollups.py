"""Rollup partials computed from a series' arrays (domain/metric_rollups.py): one row per block of
64 steps with the lowest, highest and last point and the count; NaN never wins while a number is
in the block; steps in any order. The same rows as the engine's SQL for numbers:
tests/query/integration/test_metric_rollups.py."""

from __future__ import annotations

import math

import numpy as np

from domain.columns import ColumnBuffer
from domain.metric_rollups import METRIC_ROLLUP, METRIC_ROLLUP_ENDS, add_event, add_series


def _rollups(steps: list[int], values: list[float]) -> tuple[list[tuple], list[tuple]]:
    rollup, ends = ColumnBuffer(METRIC_ROLLUP), ColumnBuffer(METRIC_ROLLUP_ENDS)
    s = np.array(steps, dtype=np.int64)
    add_series(rollup, ends, "r", "loss", s, s * 10, np.array(values, dtype=np.float64))
    return list(zip(*rollup.columns(), strict=True)), list(zip(*ends.columns(), strict=True))


def test_one_row_per_block_with_lowest_highest_last_and_count() -> None:
    rollup, ends = _rollups([130, 0, 2, 63, 64], [5.0, 1.0, -2.0, 7.0, 3.0])
    assert [(r[2], r[3], r[4]) for r in rollup] == [
        (0, (-2.0, 2, 20), (7.0, 63, 630)),
        (1, (3.0, 64, 640), (3.0, 64, 640)),
        (2, (5.0, 130, 1300), (5.0, 130, 1300)),
    ]
    assert [(e[2], e[3], e[4]) for e in ends] == [
        (0, (63, 630, 7.0), 3),
        (1, (64, 640, 3.0), 1),
        (2, (130, 1300, 5.0), 1),
    ]


def test_ties_on_value_go_to_the_lowest_step_for_low_and_the_highest_for_high() -> None:
    rollup, _ = _rollups([5, 1, 9], [0.0, 0.0, 0.0])
    assert rollup[0][3] == (0.0, 1, 10)
    assert rollup[0][4] == (0.0, 9, 90)


def test_nan_never_wins_while_a_number_is_in_the_block() -> None:
    rollup, ends = _rollups([0, 1, 2, 64, 65], [math.nan, 4.0, math.nan, math.nan, math.nan])
    assert rollup[0][3] == (4.0, 1, 10)
    assert rollup[0][4] == (4.0, 1, 10)
    assert math.isnan(rollup[1][3][0])
    assert math.isnan(rollup[1][4][0])
    assert ends[0][3][:2] == (2, 20)
    assert math.isnan(ends[0][3][2])
    assert ends[0][4] == 3


def test_infinities_are_numbers() -> None:
    rollup, _ = _rollups([0, 1, 2], [math.inf, -math.inf, 1.0])
    assert rollup[0][3] == (-math.inf, 1, 10)
    assert rollup[0][4] == (math.inf, 0, 0)


def test_an_empty_series_adds_nothing() -> None:
    assert _rollups([], []) == ([], [])


def test_an_event_in_one_pass_equals_its_series_one_by_one() -> None:
    rng = np.random.default_rng(7)
    keys = ["loss", "acc", "lr"]
    steps = [np.arange(0, 300, dtype=np.int64), np.arange(50, 51, dtype=np.int64), np.arange(0)]
    steps[2] = np.arange(10, 700, 7, dtype=np.int64)
    values = [np.round(rng.normal(size=len(s)), 1) for s in steps]  # rounded: ties on value
    times = [s * 10 for s in steps]
    together = ColumnBuffer(METRIC_ROLLUP), ColumnBuffer(METRIC_ROLLUP_ENDS)
    add_event(*together, "r", keys, steps, times, values)
    apart = ColumnBuffer(METRIC_ROLLUP), ColumnBuffer(METRIC_ROLLUP_ENDS)
    for key, s, t, v in zip(keys, steps, times, values, strict=True):
        add_series(*apart, "r", key, s, t, v)
    for mine, theirs in zip(together, apart, strict=True):
        assert list(zip(*mine.columns(), strict=True)) == list(zip(*theirs.columns(), strict=True))
