"""Workload 1: what logging costs inside the training loop.

Per system and repetition, one driver call (``logging_cost`` in ``_driver_core``) times single
``log`` calls of a 10-metric dict, then trains the fixed numpy MLP with and without per-step
logging. MLflow is measured in each client mode: synchronous ``log_batch``, asynchronous
(``synchronous=False``, MLflow's defaults) and asynchronous with MLflow's buffering.
"""

from __future__ import annotations

from bench.compare import stats
from bench.compare.context import Bench
from bench.compare.drivers import DriverError
from bench.compare.results import Better

WORKLOAD = "1. Logging cost in the training loop"
SYSTEMS = ("cairn", "mlflow-sync", "mlflow-async", "mlflow-async-buffered", "aim", "aim-remote")
CALL_TIMEOUT_S = 240.0

# (result key from the driver, row label, unit, better)
MEASURES = (
    ("per_call_us_median", "log call, 10 metrics: median", "µs", Better.LOWER),
    ("per_call_us_p99", "log call, 10 metrics: p99", "µs", Better.LOWER),
    ("train_logged_ms_per_step", "MLP step with per-step logging", "ms", Better.LOWER),
    ("slowdown_pct", "training-loop slowdown from logging", "%", Better.LOWER),
    ("train_finish_s", "finish() of the logged loop's runs (sum)", "s", Better.LOWER),
)


def run(bench: Bench) -> None:
    sizes = bench.sizes
    keys = bench.present(SYSTEMS)
    bench.mark_unavailable(WORKLOAD, [(n, u, b) for _, n, u, b in MEASURES], SYSTEMS)
    base_ms: list[float] = []
    failed: set[str] = set()  # a system that failed is not repeated: it fails the same way
    for repetition in range(sizes.repetitions):
        for key in bench.rotation([k for k in keys if k not in failed], repetition):
            project, _ = bench.project("logging-cost")
            args = {
                "project": project,
                "calls": sizes.log_calls,
                "max_seconds": sizes.log_max_seconds,
                "train_steps": sizes.train_steps,
                "train_max_seconds": sizes.train_max_seconds,
                "seed": repetition,
            }
            try:
                found = bench.systems[key].control().call("logging_cost", args, CALL_TIMEOUT_S)
            except DriverError as exc:
                failed.add(key)
                for _, name, unit, better in MEASURES:
                    bench.results.fail(WORKLOAD, name, unit, better, key, str(exc))
                bench.log(f"    {key}: failed: {exc}")
                continue
            for field, name, unit, better in MEASURES:
                bench.results.add(WORKLOAD, name, unit, better, key, found[field])
            base_ms.append(found["train_base_ms_per_step"])
            bench.log(
                f"    {key}: {found['per_call_us_median']:.1f} µs/call, "
                f"slowdown {found['slowdown_pct']:.1f} %"
            )
    bench.results.note(
        WORKLOAD,
        f"The MLP step without logging takes {stats.median(base_ms):.2f} ms (median over all "
        "runs of the loop); each step logs 10 metrics. A loop runs at most "
        f"{sizes.train_steps} steps or {sizes.train_max_seconds:g} s, in 4 pairs of chunks "
        "(unlogged, then logged to a fresh run that is finished before the next pair); the "
        "slowdown compares the median time per step of the logged chunks with that of the "
        "unlogged ones. Single calls: "
        f"{sizes.log_calls:,} calls or {sizes.log_max_seconds:g} s, whichever ends first.",
    )
