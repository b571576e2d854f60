"""Profiles, results bookkeeping and the small harness helpers."""

from __future__ import annotations

import json
import math

import pytest

from bench.compare import ingest_throughput, plan
from bench.compare.context import Bench
from bench.compare.results import Better, Results


def test_full_profile_keeps_five_repetitions_and_the_issue_job_counts() -> None:
    assert plan.FULL.repetitions >= 5
    assert plan.FULL.job_counts == (1, 8, 64)
    assert plan.FULL.store_runs >= 1_000
    assert plan.FULL.sweep_params == 10
    assert plan.FULL.sweep_metrics == 5


def test_scaling_notes_name_every_scaled_workload() -> None:
    notes = " ".join(plan.FULL.scaling_notes())
    assert "workload 2" in notes
    assert "workload 4" in notes


def test_sizes_for_quick_and_repetition_override() -> None:
    assert plan.sizes_for(True) == plan.QUICK
    assert plan.sizes_for(False, repetitions=7).repetitions == 7


def test_results_keep_values_first_error_and_serialise() -> None:
    results = Results(mode="quick", started_at="now")
    results.add("w", "m", "s", Better.LOWER, "cairn", 1.0)
    results.add("w", "m", "s", Better.LOWER, "cairn", 3.0)
    results.fail("w", "m", "s", Better.LOWER, "aim", "first")
    results.fail("w", "m", "s", Better.LOWER, "aim", "second")
    measure = results.measure("w", "m", "s", Better.LOWER)
    assert measure.cells["cairn"].median == 2.0
    assert measure.cells["aim"].error == "first"
    assert math.isnan(measure.cells["aim"].median)
    assert json.loads(results.to_json())["measures"][0]["better"] == "lower"


def test_rotation_changes_who_goes_first() -> None:
    keys = ["a", "b", "c"]
    assert Bench.rotation(keys, 0) == ["a", "b", "c"]
    assert Bench.rotation(keys, 1) == ["b", "c", "a"]
    assert Bench.rotation(keys, 5) == ["c", "a", "b"]


def test_jobs_are_split_evenly_over_processes() -> None:
    assert ingest_throughput._split(1, 2) == [1]
    assert ingest_throughput._split(8, 2) == [4, 4]
    assert ingest_throughput._split(65, 2) == [33, 32]


def test_committed_series_give_completion_time_and_count() -> None:
    done = [
        {"jobs": [{"points": 100}], "committed_series": [(0.0, 0), (1.0, 50), (2.0, 100)]},
        {"jobs": [{"points": 40}], "committed_series": [(0.0, 0), (3.0, 40)]},
    ]
    assert ingest_throughput._committed(done, cap_at=10.0) == (3.0, 140)
    complete_at, queryable = ingest_throughput._committed(done, cap_at=2.5)
    assert math.isnan(complete_at)
    assert queryable == 100 + int(40 * 2.5 / 3)


def test_size_overrides_parse_numbers_and_tuples_and_reject_unknown_names() -> None:
    sizes = plan.sizes_for(False, overrides=["store_runs=10000", "job_counts=1,8", "log_cap_s=2.5"])
    assert sizes.store_runs == 10_000
    assert sizes.job_counts == (1, 8)
    assert sizes.log_cap_s == 2.5
    with pytest.raises(ValueError, match="unknown size"):
        plan.sizes_for(True, overrides=["nope=1"])
