"""Workload 4: the UI's queries over a store of many runs.

Every system gets the same store (the data is defined once, in ``_driver_core``): ``store_runs``
runs with ``store_params`` parameters and ``store_metrics`` one-value metrics each, the first
``history_runs`` of them also with a ``loss`` history of ``history_steps`` steps. Each system is
loaded through its own fastest bulk path, named in the report: Cairn and MLflow by writing their
tables directly (a restore), Aim through ``Run``/``track`` in parallel processes (it has no bulk
import). Loading is not measured as a result, only reported.

Then, alternating systems, each repetition times three queries in the system's client:

- search: runs with ``optimizer = 'adam'`` and last ``m0`` > 0.5, with their params and metrics;
- histories: the full ``loss`` history of the ``history_runs`` runs (every point, as a chart
  of all of them needs);
- compare: ``compare_runs`` runs spread over the store, with params and last metric values, and
  which params differ.

One untimed round warms each system first. Every system must return the same number of runs and
points; a mismatch is reported next to the table.
"""

from __future__ import annotations

import time
from typing import Any

from bench.compare.context import Bench
from bench.compare.drivers import DriverError, gather
from bench.compare.peer_drivers import _driver_core as data
from bench.compare.results import Better

WORKLOAD = "4. Queries at scale"
SYSTEMS = ("cairn", "mlflow", "aim")
OPTIMIZER, M0_ABOVE = "adam", 0.5
QUERY_TIMEOUT_S = 600.0
STALL_S = 30.0  # waiting for loaded runs to become visible stops when none appear for this long

SEARCH = ("search: param + metric filter", "ms", Better.LOWER)
HISTORIES = ("metric histories of the history runs", "ms", Better.LOWER)
CHART = ("chart of the history runs, at most 1,000 points per run", "ms", Better.LOWER)
COMPARE = ("compare runs", "ms", Better.LOWER)
CHART_POINTS = 1000
LOAD = ("loading the store (not a result; method in notes)", "s", Better.LOWER)
QUERIES = (("search", SEARCH), ("histories", HISTORIES), ("chart", CHART), ("compare", COMPARE))


def run(bench: Bench) -> None:
    sizes = bench.sizes
    for name, unit, better in (LOAD, *(spec for _, spec in QUERIES)):
        bench.results.measure(WORKLOAD, name, unit, better)  # rows in this order
    bench.results.measure(WORKLOAD, *LOAD).ratio = False
    bench.mark_unavailable(WORKLOAD, [SEARCH, HISTORIES, CHART, COMPARE], SYSTEMS)
    ready: dict[str, dict[str, Any]] = {}
    for key in bench.present(SYSTEMS):
        try:
            ready[key] = _load(bench, key)
        except DriverError as exc:
            bench.systems[key].kill_workers()
            for name, unit, better in (SEARCH, HISTORIES, CHART, COMPARE):
                bench.results.fail(WORKLOAD, name, unit, better, key, f"store not loaded: {exc}")
            bench.log(f"    {key}: load failed: {exc}")
    expected = {
        "search": data.expected_matches(sizes.store_runs, OPTIMIZER, M0_ABOVE),
        "histories": sizes.history_runs * sizes.history_steps,
        "chart": sizes.history_runs * min(sizes.history_steps, CHART_POINTS),
        "compare": sizes.compare_runs,
    }
    for key, state in ready.items():  # warm-up round, untimed; also checks the answers
        for query, (name, unit, better) in QUERIES:
            try:
                answer = _query(bench, key, query, state)
            except DriverError as exc:
                bench.results.fail(WORKLOAD, name, unit, better, key, str(exc))
                continue
            if "unsupported" in answer:
                bench.results.fail(
                    WORKLOAD, name, unit, better, key, f"not available: {answer['unsupported']}"
                )
                continue
            if answer.get("via"):
                bench.results.note(WORKLOAD, f"{key} {query}: `{answer['via']}`.")
            size = int(answer.get("matches", answer.get("points", answer.get("runs", -1))))
            if query == "chart":
                if not 0 < size <= expected[query]:
                    bench.results.note(
                        WORKLOAD,
                        f"{key}: chart returned {size:,} points, "
                        f"expected 1 to {expected[query]:,}.",
                    )
            elif size != expected[query]:
                bench.results.note(
                    WORKLOAD, f"{key}: {query} returned {size:,}, expected {expected[query]:,}."
                )
    for repetition in range(sizes.repetitions):
        for key in bench.rotation(list(ready), repetition):
            for query, (name, unit, better) in QUERIES:
                cell = bench.results.measure(WORKLOAD, name, unit, better).cell(key)
                if cell.error:
                    continue
                try:
                    answer = _query(bench, key, query, ready[key])
                except DriverError as exc:
                    bench.results.fail(WORKLOAD, name, unit, better, key, str(exc))
                    continue
                bench.results.add(WORKLOAD, name, unit, better, key, answer["seconds"] * 1000)
                bench.results.plot.setdefault("queries", {}).setdefault(key, {}).setdefault(
                    query, []
                ).append(answer["seconds"] * 1000)
    bench.results.note(
        WORKLOAD,
        f"Store: {sizes.store_runs:,} runs x ({sizes.store_params} params, "
        f"{sizes.store_metrics} metrics); {sizes.history_runs} runs also have a "
        f"{sizes.history_steps:,}-step `loss` history. Search matches {expected['search']:,} "
        f"runs; histories return {expected['histories']:,} points; compare fetches "
        f"{sizes.compare_runs} runs.",
    )
    bench.results.note(
        WORKLOAD,
        "Aim's remote mode reads the same repository through the same query API, so it is not "
        "loaded separately.",
    )


def _load(bench: Bench, key: str) -> dict[str, Any]:
    """Load the store into one system, wait until its query side sees every run, and resolve
    the run ids the queries use (outside the timings, as a UI would already have them)."""
    sizes = bench.sizes
    system = bench.systems[key]
    project, index = bench.project("store")
    spec = {
        "project": project,
        "project_index": index,
        "params": sizes.store_params,
        "metrics": sizes.store_metrics,
        "history_runs": sizes.history_runs,
        "history_steps": sizes.history_steps,
    }
    drivers = (
        [system.control()]
        if system.load_parallelism == 1
        else system.workers(min(system.load_parallelism, sizes.workers))
    )
    step = -(-sizes.store_runs // len(drivers))
    started = time.perf_counter()
    calls = [
        (
            d,
            d.send(
                "load_store",
                {**spec, "start": k * step, "stop": min(sizes.store_runs, (k + 1) * step)},
            ),
        )
        for k, d in enumerate(drivers)
    ]
    outcomes = gather(calls, timeout=sizes.load_cap_s)
    failed = [o for o in outcomes if isinstance(o, DriverError)]
    if failed:
        raise failed[0]
    method = str(next(o for o in outcomes if not isinstance(o, DriverError))["method"])
    loaded_s = time.perf_counter() - started
    control = system.control()
    deadline = time.monotonic() + max(30.0, sizes.load_cap_s - (time.perf_counter() - started))
    seen, progress_at = -1, time.monotonic()
    while True:
        status = control.call("sweep_status", {"project": project}, timeout=300)
        visible = int(status["runs_finished"])
        if visible >= sizes.store_runs:
            break
        if visible > seen:
            seen, progress_at = visible, time.monotonic()
        stalled = time.monotonic() - progress_at > STALL_S
        if stalled or time.monotonic() > deadline:
            server_error = system.server.diagnose()
            raise DriverError(
                f"only {visible:,} of {sizes.store_runs:,} loaded runs became queryable"
                + (f" (no progress for {STALL_S:g} s)" if stalled else " in time")
                + (f"; the server logged: {server_error}" if server_error else "")
            )
        time.sleep(1.0)
    seconds = time.perf_counter() - started
    bench.results.add(WORKLOAD, *LOAD, key, seconds)
    bench.results.note(
        WORKLOAD,
        f"{key}: store loaded by {method} in {loaded_s:.0f} s; its query side saw every run "
        f"after {seconds:.0f} s.",
    )
    bench.log(f"    {key}: store loaded in {loaded_s:.0f} s, queryable after {seconds:.0f} s")
    history = control.call(
        "store_ids",
        {"project": project, "project_index": index, "indices": list(range(sizes.history_runs))},
    )["ids"]
    compare = control.call(
        "store_ids",
        {
            "project": project,
            "project_index": index,
            "indices": data.compare_indices(sizes.store_runs, sizes.compare_runs),
        },
    )["ids"]
    return {"project": project, "history": history, "compare": compare}


def _query(bench: Bench, key: str, query: str, state: dict[str, Any]) -> dict[str, Any]:
    control = bench.systems[key].control()
    sizes = bench.sizes
    if query == "search":
        args = {
            "project": state["project"],
            "optimizer": OPTIMIZER,
            "m0_above": M0_ABOVE,
            "params": sizes.store_params,
            "metrics": sizes.store_metrics,
        }
    elif query == "histories":
        args = {
            "project": state["project"],
            "ids": state["history"],
            "key": "loss",
            "steps": sizes.history_steps,
        }
    elif query == "chart":
        args = {
            "project": state["project"],
            "ids": state["history"],
            "key": "loss",
            "max_points": CHART_POINTS,
        }
    else:
        args = {
            "project": state["project"],
            "ids": state["compare"],
            "metrics": bench.sizes.store_metrics,
        }
    return control.call(query, args, timeout=QUERY_TIMEOUT_S)
