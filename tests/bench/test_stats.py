"""The numeric helpers of the comparison (bench/compare/stats.py)."""

from __future__ import annotations

import math

import pytest

from bench.compare import stats


def test_median_of_odd_and_even_counts_ignores_nan() -> None:
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert stats.median([math.nan, 5.0]) == 5.0
    assert math.isnan(stats.median([]))


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert stats.percentile(values, 0.5) == 50
    assert stats.percentile(values, 0.99) == 99
    assert stats.percentile(values, 1.0) == 100
    assert math.isnan(stats.percentile([], 0.5))


def test_spread_and_relative_spread() -> None:
    assert stats.spread([2.0, 5.0, 3.0]) == (2.0, 5.0)
    assert stats.relative_spread([2.0, 4.0, 3.0]) == pytest.approx(2 / 3)
    assert math.isnan(stats.relative_spread([0.0, 0.0]))


def test_ratio_is_cairn_over_peer_and_nan_when_undefined() -> None:
    assert stats.ratio(1.0, 4.0) == 0.25
    assert math.isnan(stats.ratio(1.0, 0.0))
    assert math.isnan(stats.ratio(math.nan, 1.0))


def test_value_at_interpolates_and_holds_outside_the_samples() -> None:
    series = [(10.0, 0.0), (12.0, 100.0), (14.0, 100.0)]
    assert stats.value_at(series, 11.0) == 50.0
    assert stats.value_at(series, 5.0) == 0.0
    assert stats.value_at(series, 20.0) == 100.0
    assert math.isnan(stats.value_at([], 1.0))


def test_rate_between_two_times() -> None:
    series = [(0.0, 0.0), (10.0, 1000.0)]
    assert stats.rate(series, 2.0, 4.0) == pytest.approx(100.0)
    assert math.isnan(stats.rate(series, 4.0, 4.0))


def test_first_time_reaching_a_target() -> None:
    series = [(3.0, 10.0), (1.0, 0.0), (2.0, 5.0)]
    assert stats.first_time_reaching(series, 5.0) == 2.0
    assert math.isnan(stats.first_time_reaching(series, 11.0))
