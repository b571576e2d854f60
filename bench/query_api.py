"""``make bench-api``: the query service's speed through ``cairn.Api`` on a temporary local stack.

Starts a whole stack on free ports (``localstack.ephemeral``), logs ``CAIRN_BENCH_RUNS`` runs
(default 100) with params and 5 metric keys of ``CAIRN_BENCH_STEPS`` steps each (default 2,000),
then times, through the real gRPC service:

- search with a param + metric filter (``SearchRuns``, a page of 100), p50 of 20 calls;
- 5 keys of up to 100 runs downsampled to 1,000 buckets each (``MetricHistory``), p50 of 5;
- compare 50 runs (``CompareRuns``), p50 of 10;
- export of the project to Parquet (``Export``), points per second.

Prints a Markdown table for docs/benchmarks.md. The machine it runs on matters: say which.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cairn
from cairn.config import Capture, resolve_settings
from localstack.ephemeral import temporary_stack

KEYS = ("loss", "acc", "lr_now", "grad_norm", "val_loss")
PROJECT = "bench-api"


def _p50(action: Callable[[], object], repeat: int) -> float:
    action()  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    runs = int(os.environ.get("CAIRN_BENCH_RUNS", "100"))
    steps = int(os.environ.get("CAIRN_BENCH_STEPS", "2000"))
    with (
        tempfile.TemporaryDirectory(prefix="cairn-bench-api-") as tmp,
        temporary_stack(Path(tmp) / "stack") as stack,
    ):
        stack_file = Path(stack.env["CAIRN_LOCAL_STACK_FILE"])
        settings = replace(
            resolve_settings({}, env={}, stack_file=stack_file),
            dir=Path(tmp) / "sdk",
            project=PROJECT,
            capture=Capture.nothing(),
        )
        started = time.perf_counter()
        for i in range(runs):
            with cairn.init(
                name=f"run-{i}", config={"lr": (i + 1) / runs}, settings=settings
            ) as run:
                for step in range(steps):
                    run.log({k: (i + 1) / (step + 1) + j for j, k in enumerate(KEYS)}, step=step)
        logged = time.perf_counter() - started
        api = cairn.Api(settings=settings)
        while len(api.runs(project=PROJECT, filter="status = 'finished'")) < runs:
            time.sleep(1)
        ids = api.runs(project=PROJECT)["run_id"].tolist()
        total_points = runs * steps * len(KEYS)
        while len(api.histories(ids[:1], KEYS)) < steps * len(KEYS):
            time.sleep(1)
        search = _p50(
            lambda: api.runs(
                project=PROJECT, filter="params.lr < 0.5 and metrics.loss < 1", limit=100
            ),
            20,
        )
        history = _p50(lambda: api.histories(ids[:100], KEYS, samples=1000), 5)
        compare = _p50(lambda: api.compare(ids[:50]), 10)
        started = time.perf_counter()
        counts = api.export(Path(tmp) / "export", project=PROJECT)
        export_s = time.perf_counter() - started
        assert counts["metrics"] == total_points, counts
    print(f"store: {runs} runs x {len(KEYS)} keys x {steps} steps = {total_points:,} points")
    print(f"(logged in {logged:.0f} s; load average {os.getloadavg()[0]:.1f})")
    print("| measurement | result |")
    print("|---|---|")
    print(f"| search, param + metric filter, page of 100 (p50) | {search:.0f} ms |")
    print(
        f"| {min(runs, 100)} runs x 5 keys downsampled to 1,000 buckets (p50) | {history:.0f} ms |"
    )
    print(f"| compare {min(runs, 50)} runs (p50) | {compare:.0f} ms |")
    print(f"| export to Parquet | {total_points / export_s:,.0f} points/s ({export_s:.1f} s) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
