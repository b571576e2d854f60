"""Workloads 2 and 5: how fast each system absorbs concurrent jobs logging as fast as they can,
and what its server processes use meanwhile.

One *cell* is one system with N jobs. The jobs are threads spread over the system's worker
driver processes; each creates its run first (not measured), then all start together and log
20 metrics per step as fast as the client lets them, until the N jobs have logged
``ingest_points`` between them (each its share of steps) or ``log_cap_s`` passed, then finish.

The result is the *absorption rate*: points that became queryable per second, from the start of
logging until the moment everything logged is queryable (or ``cell_cap_s`` after the start,
counting what was queryable by then). A fixed amount of work instead of a fixed time makes this
robust to pipelines that write in batches and to clients that queue: a client that only queues
gets no credit until the server has made the points readable. How "queryable" is observed:

- Cairn and Aim (both modes): the control driver asks the store through the query side every
  0.5 s (``watch``/``count``): Cairn's store is written by its processors, Aim's runs appear in
  queries once ``aim up`` has indexed them. For Cairn each sample during logging also gives the
  freshness lag per run (sample time minus the log time of the run's newest queryable point),
  as p50/p99;
- MLflow: the client knows when a point is committed (its ``log_batch`` request returned; the
  server wrote it to SQLite, where the REST API reads), so the workers sample their jobs'
  committed counts.

A cell that did not get everything queryable in time is reported with what was missing, and the
system's workers are killed so no backlog runs into the next cell. The first repetition of each
cell also reads one run back through the query API to check the counts above.

Workload 5 samples the system's server process trees (and, separately, its client processes)
during each cell, from the start of logging until the end of the cell.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from bench.compare import stats
from bench.compare.context import Bench
from bench.compare.drivers import DriverError, gather
from bench.compare.resources import TreeSampler
from bench.compare.results import Better
from bench.compare.systems import System, Visibility

WORKLOAD = "2. Ingest throughput"
RESOURCES = "5. Resource use during workload 2"
SYSTEMS = ("cairn", "mlflow", "aim", "aim-remote")
WATCH_INTERVAL_S = 0.5


def _names(n: int) -> dict[str, tuple[str, str, Better]]:
    return {
        "rate": (f"N = {n}: queryable points/s", "points/s", Better.HIGHER),
        "drain": (f"N = {n}: drain after logging stopped", "s", Better.LOWER),
        "lag50": (f"N = {n}: freshness lag p50", "s", Better.LOWER),
        "lag99": (f"N = {n}: freshness lag p99", "s", Better.LOWER),
        "rss": (f"N = {n}: server peak RSS", "MiB", Better.LOWER),
        "cpu": (f"N = {n}: server CPU", "s", Better.LOWER),
        "cpu_per_m": (f"N = {n}: server CPU per million points", "s", Better.LOWER),
        "client_cpu": (f"N = {n}: client CPU (all jobs)", "s", Better.LOWER),
    }


def _add(bench: Bench, n: int, what: str, key: str, value: float) -> None:
    name, unit, better = _names(n)[what]
    workload = WORKLOAD if what in ("rate", "drain", "lag50", "lag99") else RESOURCES
    if math.isfinite(value):
        bench.results.add(workload, name, unit, better, key, value)


def _fail(bench: Bench, n: int, key: str, error: str, whats: tuple[str, ...]) -> None:
    for what in whats:
        name, unit, better = _names(n)[what]
        workload = WORKLOAD if what in ("rate", "drain", "lag50", "lag99") else RESOURCES
        bench.results.fail(workload, name, unit, better, key, error)


def run(bench: Bench) -> None:
    keys = bench.present(SYSTEMS)
    for n in bench.sizes.job_counts:
        bench.mark_unavailable(
            WORKLOAD, [v for k, v in _names(n).items() if k in ("rate", "drain")], SYSTEMS
        )
        failed: set[str] = set()  # a cell that failed is not repeated: it fails the same way
        for repetition in range(bench.sizes.repetitions):
            for key in bench.rotation([k for k in keys if k not in failed], repetition):
                try:
                    _cell(bench, bench.systems[key], n, repetition)
                except DriverError as exc:
                    failed.add(key)
                    bench.systems[key].kill_workers()
                    _fail(bench, n, key, str(exc), ("rate", "drain", "rss", "cpu"))
                    bench.log(f"    {key} N={n}: failed: {exc}")
    sizes = bench.sizes
    bench.results.note(
        WORKLOAD,
        f"Each job is one run logging {sizes.metrics_per_step} metrics per step in a tight "
        f"loop; together the N jobs log {sizes.ingest_points:,} points (or stop after "
        f"{sizes.log_cap_s:g} s). Rate = points queryable / seconds from the start of logging "
        f"until all were queryable (or {sizes.cell_cap_s:g} s). Jobs are threads spread over "
        f"{sizes.workers} client processes per system, on the same cores as the servers.",
    )
    bench.results.note(
        RESOURCES,
        "Server = every process of the system's server side (Cairn: Kafka, ClickHouse endpoint, "
        "ingest, processors, portal; MLflow: `mlflow server` and its workers; Aim: `aim up`, "
        "plus `aim server` in remote mode). Aim's local mode writes from the client process, so "
        "its writing cost shows under client CPU. CPU seconds cover the whole cell.",
    )


def _split(total: int, parts: int) -> list[int]:
    """``total`` jobs over at most ``parts`` processes, as evenly as possible, none empty."""
    shares = [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
    return [share for share in shares if share]


def _cell(bench: Bench, system: System, n: int, repetition: int) -> None:
    sizes = bench.sizes
    project, _ = bench.project(f"ingest-n{n}")
    shares = _split(n, sizes.workers)
    workers = system.workers(len(shares))
    first = 0
    prepares = []
    for worker, count in zip(workers, shares, strict=True):
        args = {
            "project": project,
            "jobs": count,
            "first_index": first,
            "metrics": sizes.metrics_per_step,
            "timeout_s": 240,
        }
        prepares.append((worker, worker.send("jobs_prepare", args)))
        first += count
    for prepared in gather(prepares, timeout=300):
        if isinstance(prepared, DriverError):
            raise prepared
        if prepared["errors"] or prepared["not_ready"]:
            raise DriverError(f"runs could not be created: {prepared['errors'] or prepared}")
    start_at = time.time() + 1.0
    stop_at = start_at + sizes.log_cap_s
    cap_at = start_at + sizes.cell_cap_s
    steps = max(1, sizes.ingest_points // (n * sizes.metrics_per_step))
    error_before = system.server.diagnose()
    roots = list(system.server.process_roots().values())
    sampler = TreeSampler({"server": roots, "client": system.driver_pids()}).start()
    runs = [
        (
            w,
            w.send(
                "jobs_run",
                {
                    "start_at": start_at,
                    "stop_at": stop_at,
                    "max_steps": steps,
                    "finish_deadline": cap_at,
                },
            ),
        )
        for w in workers
    ]
    watch = None
    if system.visibility is Visibility.SERVER:
        planned = n * steps * sizes.metrics_per_step
        watch = system.control().send(
            "watch",
            {"project": project, "until": stop_at, "target": planned, "interval": WATCH_INTERVAL_S},
        )
    outcomes = gather(runs, timeout=cap_at - time.time() + 60)
    failures = [o for o in outcomes if isinstance(o, DriverError)]
    if failures:
        sampler.stop()
        raise failures[0]
    done: list[dict[str, Any]] = [o for o in outcomes if not isinstance(o, DriverError)]
    jobs = [job for part in done for job in part["jobs"]]
    logged = sum(job["points"] for job in jobs)
    errors = [job["error"] for job in jobs if job["error"]]
    unfinished = sum(1 for job in jobs if not job["finished"])
    logging_done = max((job["logging_done_at"] for job in jobs), default=math.nan)

    lags: list[float] = []
    if watch is not None:
        watched = system.control().result(watch, timeout=60)
        lags = watched["lags"]
        complete_at = stats.first_time_reaching(watched["series"], logged)
        if math.isfinite(complete_at):
            queryable = logged
        else:
            complete_at, queryable = _drain(system, project, logged, cap_at)
    else:
        complete_at, queryable = _committed(done, cap_at)
    usage = sampler.stop()
    end = complete_at if math.isfinite(complete_at) else cap_at
    rate = queryable / (end - start_at)

    _add(bench, n, "rate", system.key, rate)
    if math.isfinite(complete_at) and not unfinished:
        _add(bench, n, "drain", system.key, max(0.0, complete_at - logging_done))
    else:
        server_error = system.server.diagnose()
        new_error = f"; the server logged: {server_error}" if server_error != error_before else ""
        _fail(
            bench,
            n,
            system.key,
            (
                f"not drained: {logged - queryable:,} of {logged:,} points not queryable after "
                f"{sizes.cell_cap_s:g} s; {unfinished} of {len(jobs)} runs unfinished"
                + (f"; {errors[0]}" if errors else "")
                + new_error
            ),
            ("drain",),
        )
    if lags:
        _add(bench, n, "lag50", system.key, stats.percentile(lags, 0.5))
        _add(bench, n, "lag99", system.key, stats.percentile(lags, 0.99))
    server, client = usage["server"], usage["client"]
    _add(bench, n, "rss", system.key, server.peak_rss_mib)
    _add(bench, n, "cpu", system.key, server.cpu_s)
    if queryable > 0:
        _add(bench, n, "cpu_per_m", system.key, server.cpu_s / queryable * 1e6)
    _add(bench, n, "client_cpu", system.key, client.cpu_s)
    plot = bench.results.plot.setdefault("throughput", {}).setdefault(system.key, {})
    plot.setdefault(str(n), []).append(rate)
    if repetition == 0:
        _verify(bench, system, jobs, n)
    if unfinished or not math.isfinite(complete_at):
        system.kill_workers()
    lag = f", lag p50 {stats.percentile(lags, 0.5):.2f} s" if lags else ""
    bench.log(
        f"    {system.key} N={n}: {rate:,.0f} points/s ({queryable:,} of {logged:,} "
        f"queryable after {end - start_at:.1f} s){lag}"
    )


def _committed(done: list[dict[str, Any]], cap_at: float) -> tuple[float, int]:
    """From the workers' committed series: when every worker had committed all it logged (NaN
    if one never did) and how many points were committed by then (or by ``cap_at``)."""
    complete_at = 0.0
    queryable = 0
    for part in done:
        logged = sum(job["points"] for job in part["jobs"])
        series = part["committed_series"]
        reached = stats.first_time_reaching(series, logged) if logged else series[0][0]
        if math.isfinite(reached) and reached <= cap_at:
            complete_at = max(complete_at, reached)
            queryable += logged
        else:
            complete_at = math.nan
            queryable += int(stats.value_at(series, cap_at))
    return complete_at, queryable


def _drain(system: System, project: str, logged: int, deadline: float) -> tuple[float, int]:
    """Poll the query side until ``logged`` points are queryable or ``deadline`` passes;
    return (when they were, or NaN) and the last count seen."""
    control = system.control()
    while True:
        now = time.time()
        points = int(control.call("count", {"project": project}, timeout=60)["points"])
        if points >= logged:
            return now, points
        if now > deadline:
            return math.nan, points
        time.sleep(WATCH_INTERVAL_S)


def _verify(bench: Bench, system: System, jobs: list[dict[str, Any]], n: int) -> None:
    finished = [job for job in jobs if job["finished"] and job["run_id"]]
    if not finished:
        return
    job = random.Random(n).choice(finished)
    names = [f"m{i:02d}" for i in range(bench.sizes.metrics_per_step)]
    try:
        read = system.control().call(
            "verify", {"run_ids": [job["run_id"]], "keys": names}, timeout=300
        )
    except DriverError as exc:
        bench.results.note(WORKLOAD, f"{system.key}, N = {n}: reading a run back failed: {exc}")
        return
    if read["points"] != job["points"]:
        bench.results.note(
            WORKLOAD,
            f"{system.key}, N = {n}: a run logged {job['points']:,} points but its query API "
            f"returned {read['points']:,} at the end of the cell.",
        )
