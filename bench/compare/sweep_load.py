"""Workload 3: a sweep of short runs, and how long until all of them are queryable.

Per system and repetition: ``sweep_runs`` runs, each with ``sweep_params`` parameters and
``sweep_metrics`` metrics logged per step for ``sweep_steps`` steps, then finished, with
``sweep_concurrency`` runs in flight at a time (threads over the worker processes, as a sweep
agent on one machine would run them). The clock starts when the first run starts; it stops at
the first poll (every 0.5 s, after the last run finished) where the system's query side shows
every run finished and, where the store can count them cheaply (Cairn), every point. MLflow and
Aim terminate a run only after its values were committed, so "finished" implies "queryable" for
them; the first repetition reads two runs back in full to check that.
"""

from __future__ import annotations

import math
import time

from bench.compare.context import Bench
from bench.compare.drivers import DriverError, gather
from bench.compare.results import Better

WORKLOAD = "3. Sweep load"
SYSTEMS = ("cairn", "mlflow", "aim")
POLL_S = 0.5

QUERYABLE = ("all runs queryable", "s", Better.LOWER)
CLIENTS = ("all runs finished by their clients", "s", Better.LOWER)
RUN_RATE = ("runs per second (until queryable)", "runs/s", Better.HIGHER)


def run(bench: Bench) -> None:
    sizes = bench.sizes
    keys = bench.present(SYSTEMS)
    bench.mark_unavailable(WORKLOAD, [QUERYABLE, CLIENTS, RUN_RATE], SYSTEMS)
    failed: set[str] = set()  # a system that failed is not repeated: it fails the same way
    for repetition in range(sizes.repetitions):
        for key in bench.rotation([k for k in keys if k not in failed], repetition):
            try:
                _cell(bench, key, repetition)
            except DriverError as exc:
                failed.add(key)
                bench.systems[key].kill_workers()
                for name, unit, better in (QUERYABLE, CLIENTS, RUN_RATE):
                    bench.results.fail(WORKLOAD, name, unit, better, key, str(exc))
                bench.log(f"    {key}: failed: {exc}")
    points = sizes.sweep_runs * sizes.sweep_metrics * sizes.sweep_steps
    bench.results.note(
        WORKLOAD,
        f"{sizes.sweep_runs:,} runs x ({sizes.sweep_params} params, {sizes.sweep_metrics} "
        f"metrics x {sizes.sweep_steps:,} steps) = {points:,} points per repetition, "
        f"{sizes.sweep_concurrency} runs at a time over {sizes.workers} client processes.",
    )
    bench.results.note(
        WORKLOAD,
        "Aim's remote mode is measured in workloads 1 and 2 only: it stores runs in the same "
        "repository format as the local mode, and at the rate it absorbs points here (see "
        "workload 2) the sweep would not fit the run's time budget.",
    )


def _cell(bench: Bench, key: str, repetition: int) -> None:
    sizes = bench.sizes
    system = bench.systems[key]
    project, _ = bench.project("sweep")
    workers = system.workers(sizes.workers)
    threads = max(1, sizes.sweep_concurrency // len(workers))
    start_at = time.time() + 1.0
    calls = []
    for k, worker in enumerate(workers):
        calls.append(
            (
                worker,
                worker.send(
                    "sweep",
                    {
                        "project": project,
                        "indices": list(range(k, sizes.sweep_runs, len(workers))),
                        "threads": threads,
                        "params": sizes.sweep_params,
                        "metrics": sizes.sweep_metrics,
                        "steps": sizes.sweep_steps,
                        "start_at": start_at,
                    },
                ),
            )
        )
    outcomes = gather(calls, timeout=sizes.sweep_cap_s + 30)
    failed = [o for o in outcomes if isinstance(o, DriverError)]
    if failed:
        raise failed[0]
    parts = [o for o in outcomes if not isinstance(o, DriverError)]
    errors = sum(p["error_count"] for p in parts)
    if errors:
        first = next(e for p in parts for e in p["errors"])
        raise DriverError(f"{errors} of {sizes.sweep_runs} runs failed, e.g. {first}")
    clients_done = max(p["done_at"] for p in parts)
    expected_points = sum(p["points"] for p in parts)
    control = system.control()
    deadline = start_at + sizes.sweep_cap_s
    queryable_at = math.nan
    status: dict[str, int | None] = {}
    while time.time() < deadline:
        polled = time.time()
        status = control.call("sweep_status", {"project": project}, timeout=120)
        runs_ok = status["runs_finished"] == sizes.sweep_runs
        points = status.get("points")
        if runs_ok and (points is None or points >= expected_points):
            queryable_at = polled
            break
        time.sleep(POLL_S)
    bench.results.add(WORKLOAD, *CLIENTS, key, clients_done - start_at)
    if math.isfinite(queryable_at):
        seconds = queryable_at - start_at
        bench.results.add(WORKLOAD, *QUERYABLE, key, seconds)
        bench.results.add(WORKLOAD, *RUN_RATE, key, sizes.sweep_runs / seconds)
        bench.log(
            f"    {key}: queryable after {seconds:.1f} s (clients done after "
            f"{clients_done - start_at:.1f} s)"
        )
    else:
        message = (
            f"not all queryable within {sizes.sweep_cap_s:g} s: last status {status}, "
            f"{expected_points:,} points logged"
        )
        bench.results.fail(WORKLOAD, *QUERYABLE, key, message)
        bench.results.fail(WORKLOAD, *RUN_RATE, key, message)
        bench.log(f"    {key}: {message}")
    if repetition == 0:
        ids = [run_id for p in parts for run_id in p["run_ids"]][:2]
        names = [f"metric_{k}" for k in range(sizes.sweep_metrics)]
        read = control.call("verify", {"run_ids": ids, "keys": names}, timeout=300)
        expected = len(ids) * sizes.sweep_metrics * sizes.sweep_steps
        if read["points"] != expected:
            bench.results.note(
                WORKLOAD,
                f"{key}: two finished runs read back {read['points']:,} "
                f"points through the query API, expected {expected:,}.",
            )
