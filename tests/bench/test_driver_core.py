"""The system-independent driver core, driven through an in-memory adapter (no peers needed)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from bench.compare.peer_drivers import _driver_core as core


class MemoryAdapter:
    """Records what a driver would send; every point is committed when ``log`` returns."""

    def __init__(self) -> None:
        self.points: dict[str, int] = {}
        self.finished: set[str] = set()
        self.params: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.count = 0

    def versions(self) -> dict[str, str]:
        return {"memory": "1"}

    def start_run(self, project: str, name: str, params: dict[str, Any]) -> str:
        with self.lock:
            self.count += 1
            run_id = f"{project}/{name}/{self.count}"
            self.points[run_id] = 0
            self.params[run_id] = params
        return run_id

    def run_id(self, handle: str) -> str:
        return handle

    def log(self, handle: str, metrics: dict[str, float], step: int) -> None:
        assert all(math.isfinite(v) for v in metrics.values())
        self.points[handle] += len(metrics)

    def finish(self, handle: str) -> None:
        self.finished.add(handle)

    def committed(self, handle: str) -> int:
        return self.points[handle]

    def op(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"points": sum(self.points.values()), "newest_ns": [time.time_ns() - 10**8]}


def test_store_data_is_deterministic_and_search_expectation_matches_it() -> None:
    assert core.unit_value(7, 3) == core.unit_value(7, 3)
    assert all(0 <= core.unit_value(i, j) < 1 for i in range(50) for j in range(5))
    expected = sum(1 for i in range(1000) if i % 4 == 0 and core.unit_value(i, 0) > 0.5)
    assert core.expected_matches(1000, "adam", 0.5) == expected
    assert 0 < expected < 250


def test_store_params_have_the_requested_count_and_typed_leaders() -> None:
    params = core.store_params(17, 10)
    assert len(params) == 10
    assert params["optimizer"] == "sgd"
    assert isinstance(params["lr"], float)
    assert isinstance(params["batch_size"], int)


def test_compare_indices_spread_over_the_store() -> None:
    indices = core.compare_indices(10_000, 50)
    assert len(set(indices)) == 50
    assert indices[0] == 0
    assert indices[-1] == 9800


def test_mlp_step_yields_ten_finite_metrics_and_learns() -> None:
    mlp = core.Mlp(seed=1)
    first = mlp.step()
    for _ in range(40):
        last = mlp.step()
    assert len(first) == 10
    assert all(math.isfinite(v) for v in last.values())
    assert last["loss"] < first["loss"]


def test_logging_cost_reports_per_call_times_and_a_slowdown() -> None:
    adapter = MemoryAdapter()
    found = core.logging_cost(
        adapter,
        {
            "project": "p",
            "calls": 200,
            "max_seconds": 1.0,
            "train_steps": 40,
            "train_max_seconds": 1.0,
            "train_chunks": 4,
        },
    )
    assert found["calls"] == 200
    assert 0 < found["per_call_us_median"] <= found["per_call_us_p99"]
    assert 4 <= found["train_steps_logged"] <= 40  # chunks may stop early on a busy machine
    assert math.isfinite(found["slowdown_pct"])
    assert len(adapter.finished) == 1 + 4  # the calls run, then one run per logged chunk


def test_jobs_log_their_share_then_finish_and_report_committed_series() -> None:
    adapter = MemoryAdapter()
    ready = core.jobs_prepare(adapter, {"project": "p", "jobs": 3, "first_index": 0, "metrics": 20})
    assert ready == {"ready": 3, "errors": [], "not_ready": 0}
    now = time.time()
    result = core.jobs_run(
        adapter,
        {
            "start_at": now + 0.1,
            "stop_at": now + 5,
            "max_steps": 50,
            "finish_deadline": now + 10,
            "sample_s": 0.01,
        },
    )
    assert [job["points"] for job in result["jobs"]] == [1000, 1000, 1000]
    assert all(job["finished"] for job in result["jobs"])
    assert result["committed_series"][-1][1] == 3000
    assert len(adapter.finished) == 3


def test_sweep_runs_every_index_with_params_and_points() -> None:
    adapter = MemoryAdapter()
    result = core.sweep(
        adapter,
        {
            "project": "s",
            "indices": [0, 2, 4, 6],
            "threads": 2,
            "params": 10,
            "metrics": 5,
            "steps": 7,
        },
    )
    assert len(result["run_ids"]) == 4
    assert result["points"] == 4 * 5 * 7
    assert result["error_count"] == 0
    assert all(len(p) == 10 for p in adapter.params.values())


def test_watch_stops_at_the_target_and_collects_lags() -> None:
    adapter = MemoryAdapter()
    adapter.points["r"] = 100
    watched = core.watch(
        adapter, {"project": "p", "until": time.time() + 5, "target": 100, "interval": 0.01}
    )
    assert watched["series"][-1][1] == 100
    assert len(watched["series"]) == 1
    assert 0.05 < watched["lags"][0] < 5
