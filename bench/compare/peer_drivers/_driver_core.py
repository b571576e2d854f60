"""The part of every benchmark driver that does not depend on the system being measured.

A driver is a long-lived process that runs *inside one system's own virtualenv* (Cairn's
``.venv``, or a peer's venv under ``~/.cache/cairn/bench-peers``) and does whatever a workload
needs from that system's client: log, finish runs, load a store, run queries. It imports only the
standard library, numpy (a dependency of every system measured) and its own system's package, so
nothing of Cairn leaks into a peer's measurement and nothing of a peer into Cairn's.

Protocol (JSON lines; the harness side is ``bench/compare/drivers.py``):

- started as ``python <system>_driver.py --config '<json>'``;
- first line on stdout: ``{"event": "ready", "pid": ..., "versions": {...}}``;
- then, for every request line ``{"id": n, "op": "...", "args": {...}}`` read from stdin, exactly
  one reply line ``{"id": n, "ok": true, "result": {...}}`` or
  ``{"id": n, "ok": false, "error": "Type: message", "traceback": "..."}``;
- anything a library prints goes to stderr: file descriptor 1 is redirected to 2 at start-up and
  replies are written to a private duplicate of the original stdout.

The workloads themselves (the logging loop, the concurrent jobs, the sweep) are written once,
here, against a small :class:`Adapter` interface, so every system runs byte-for-byte the same
client-side work; each ``<system>_driver.py`` only implements the adapter.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

METRIC_NAMES_20 = tuple(f"m{i:02d}" for i in range(20))
OPTIMIZERS = ("adam", "sgd", "adamw", "lion")
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3)
BATCH_SIZES = (32, 64, 128, 256)


class Adapter(Protocol):
    """What a driver implements for its system. Handles are opaque to the core."""

    def versions(self) -> dict[str, str]: ...

    def start_run(self, project: str, name: str, params: dict[str, Any]) -> Any: ...

    def run_id(self, handle: Any) -> str: ...

    def log(self, handle: Any, metrics: dict[str, float], step: int) -> None: ...

    def finish(self, handle: Any) -> None:
        """End the run and return only once everything logged is delivered to the server."""

    def committed(self, handle: Any) -> int | None:
        """Points of this run the client knows are committed (queryable), or None if only the
        server side can tell (then the harness watches the server instead)."""

    def op(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """System-specific operations: counting, loading a store, the queries of workload 4."""


# -- deterministic data, identical in every driver ------------------------------------------------


def unit_value(i: int, j: int) -> float:
    """A reproducible value in [0, 1) for run ``i`` and column ``j``: integer arithmetic and one
    correctly rounded division, so Python and ClickHouse SQL compute bit-identical values and
    every system's filters match the same runs."""
    return ((i * 2654435761 + j * 40503) % 1000003) / 1000003


def store_params(i: int, count: int) -> dict[str, Any]:
    """The parameters of run ``i`` of the workload-4 store: optimizer, lr, batch size, then
    filler parameters ``p03``... up to ``count`` in total."""
    params: dict[str, Any] = {
        "optimizer": OPTIMIZERS[i % 4],
        "lr": LEARNING_RATES[(i // 4) % 4],
        "batch_size": BATCH_SIZES[(i // 16) % 4],
    }
    for j in range(3, count):
        params[f"p{j:02d}"] = f"v{(i * 7 + j) % 10}"
    return params


def history_value(i: int, step: int) -> float:
    """The ``loss`` history of store run ``i``; SQL loaders compute the same expression."""
    return 1.0 / (1.0 + step * 0.001) + (i % 7) * 0.01


def expected_matches(runs: int, optimizer: str, m0_above: float) -> int:
    """How many store runs the workload-4 search must return in every system."""
    return sum(
        1 for i in range(runs) if OPTIMIZERS[i % 4] == optimizer and unit_value(i, 0) > m0_above
    )


def compare_indices(runs: int, count: int) -> list[int]:
    """Which store runs the compare query fetches: ``count`` runs spread over the store."""
    return [k * runs // count for k in range(count)]


# -- the fixed CPU training loop --------------------------------------------------------------------


class Mlp:
    """A two-layer numpy MLP trained with SGD on fixed random batches: a deterministic CPU
    workload of roughly a millisecond per step that yields ten metrics per step."""

    def __init__(self, seed: int, inputs: int = 256, hidden: int = 256, classes: int = 10) -> None:
        rng = np.random.default_rng(seed)
        self.batches = [
            (
                rng.standard_normal((64, inputs)).astype(np.float32),
                rng.integers(0, classes, 64),
            )
            for _ in range(8)
        ]
        self.w1 = (rng.standard_normal((inputs, hidden)) * 0.05).astype(np.float32)
        self.w2 = (rng.standard_normal((hidden, classes)) * 0.05).astype(np.float32)
        self.step_count = 0

    def step(self, lr: float = 0.05) -> dict[str, float]:
        started = time.perf_counter()
        x, y = self.batches[self.step_count % len(self.batches)]
        h = np.maximum(x @ self.w1, 0.0)
        logits = h @ self.w2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        n = len(y)
        loss = float(-np.log(p[np.arange(n), y] + 1e-9).mean())
        accuracy = float((p.argmax(axis=1) == y).mean())
        p[np.arange(n), y] -= 1.0
        p /= n
        g2 = h.T @ p
        dh = (p @ self.w2.T) * (h > 0)
        g1 = x.T @ dh
        self.w1 -= lr * g1
        self.w2 -= lr * g2
        self.step_count += 1
        elapsed = time.perf_counter() - started
        return {
            "loss": loss,
            "accuracy": accuracy,
            "lr": lr,
            "grad_norm_w1": float(np.linalg.norm(g1)),
            "grad_norm_w2": float(np.linalg.norm(g2)),
            "weight_norm_w1": float(np.linalg.norm(self.w1)),
            "weight_norm_w2": float(np.linalg.norm(self.w2)),
            "step_ms": elapsed * 1000.0,
            "examples_per_s": n / elapsed if elapsed > 0 else 0.0,
            "epoch": float(self.step_count // 100),
        }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _timed_loop(
    mlp: Mlp, steps: int, max_seconds: float, log: Callable[[dict[str, float], int], None] | None
) -> tuple[int, float]:
    """Train up to ``steps`` steps (stopping early after ``max_seconds``); return steps, seconds."""
    started = time.perf_counter()
    deadline = started + max_seconds
    done = 0
    for step in range(steps):
        metrics = mlp.step()
        if log is not None:
            log(metrics, step)
        done += 1
        if time.perf_counter() > deadline:
            break
    return done, time.perf_counter() - started


def logging_cost(adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
    """Workload 1 on one system: the cost of one ``log`` call of a 10-metric dict, and the
    slowdown of the MLP loop when every step is logged.

    Phase 1 times ``calls`` individual calls (at most ``max_seconds``) on one run, then its
    finish. Phase 2 trains in ``train_chunks`` pairs of chunks, one without logging and one
    logging every step to a fresh run, alternating, so drift of a shared machine hits both
    alike; each chunk stops early when its share of ``train_max_seconds`` is used. Each logged
    chunk's run is finished (timed apart, as ``train_finish_s``) before the next unlogged chunk,
    so a client's deferred background work is not charged to the unlogged loop. The slowdown
    compares the median time per step of the logged chunks with that of the unlogged ones.
    """
    project = args["project"]
    rng = np.random.default_rng(args.get("seed", 0))
    names = [f"metric_{k}" for k in range(10)]
    payloads = [dict(zip(names, map(float, rng.random(10)), strict=True)) for _ in range(64)]

    started = time.perf_counter()
    handle = adapter.start_run(project, "logging-cost", {"phase": "calls"})
    start_run_s = time.perf_counter() - started
    warmup = args.get("warmup_calls", 50)
    for step in range(warmup):
        adapter.log(handle, payloads[step % 64], step)
    times: list[float] = []
    deadline = time.perf_counter() + args["max_seconds"]
    clock = time.perf_counter
    for k in range(args["calls"]):
        payload = payloads[k % 64]
        t0 = clock()
        adapter.log(handle, payload, warmup + k)
        times.append(clock() - t0)
        if t0 > deadline:
            break
    started = time.perf_counter()
    adapter.finish(handle)
    finish_s = time.perf_counter() - started
    times.sort()

    mlp = Mlp(seed=args.get("seed", 0))
    _timed_loop(mlp, 20, 10.0, None)  # warm caches and BLAS before timing
    chunks = args.get("train_chunks", 4)
    chunk_steps = max(1, args["train_steps"] // chunks)
    chunk_cap = args["train_max_seconds"] / (2 * chunks)
    base: list[float] = []
    logged: list[float] = []
    logged_steps = 0
    train_finish_s = 0.0
    for chunk in range(chunks):
        done, seconds = _timed_loop(mlp, chunk_steps, chunk_cap, None)
        base.append(seconds / done)
        run = adapter.start_run(project, f"training-loop-{chunk}", {"phase": "training"})
        done, seconds = _timed_loop(
            mlp, chunk_steps, chunk_cap, functools.partial(adapter.log, run)
        )
        logged.append(seconds / done)
        logged_steps += done
        started = time.perf_counter()
        adapter.finish(run)  # drains the run's background work before the next unlogged chunk
        train_finish_s += time.perf_counter() - started
    base_per_step, logged_per_step = (
        _percentile(sorted(base), 0.5),
        _percentile(sorted(logged), 0.5),
    )
    return {
        "calls": len(times),
        "per_call_us_median": _percentile(times, 0.5) * 1e6,
        "per_call_us_p99": _percentile(times, 0.99) * 1e6,
        "per_call_us_mean": sum(times) / len(times) * 1e6 if times else float("nan"),
        "start_run_s": start_run_s,
        "finish_s": finish_s,
        "train_steps_logged": logged_steps,
        "train_base_ms_per_step": base_per_step * 1000,
        "train_logged_ms_per_step": logged_per_step * 1000,
        "slowdown_pct": (logged_per_step / base_per_step - 1) * 100,
        "train_finish_s": train_finish_s,
    }


# -- workload 2: concurrent jobs logging as fast as they can ----------------------------------------


class _Job(threading.Thread):
    """One simulated training job: a run that logs ``metrics`` values per step, as fast as the
    client lets it, from ``start_at`` (epoch seconds) for ``max_steps`` steps or until
    ``stop_at``, whichever comes first, then finishes. The run is created when the thread
    starts; logging waits for :attr:`go`."""

    def __init__(self, adapter: Adapter, project: str, index: int, metrics: int) -> None:
        super().__init__(name=f"job-{index}", daemon=True)
        self.adapter = adapter
        self.project = project
        self.index = index
        self.names = METRIC_NAMES_20[:metrics]
        self.handle: Any = None
        self.points = 0
        self.steps = 0
        self.error = ""
        self.start_at = 0.0
        self.stop_at = 0.0
        self.max_steps = 0
        self.logging_done_at = 0.0
        self.finished_at = 0.0
        self.ready = threading.Event()
        self.go = threading.Event()

    def run(self) -> None:
        try:
            width = len(self.names)
            self.handle = self.adapter.start_run(
                self.project, f"job-{self.index:03d}", {"job": self.index, "metrics": width}
            )
            self.ready.set()
            self.go.wait()
            _sleep_until(self.start_at)
            log, handle, now, names = self.adapter.log, self.handle, time.time, self.names
            stop_at, max_steps = self.stop_at, self.max_steps
            base = float(self.index)
            step = 0
            while step < max_steps and now() < stop_at:
                log(handle, dict.fromkeys(names, base + (step % 1000) * 0.001), step)
                step += 1
                self.points += width
            self.steps = step
            self.logging_done_at = time.time()
            self.adapter.finish(handle)
            self.finished_at = time.time()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.ready.set()


def _sleep_until(epoch_s: float) -> None:
    while (left := epoch_s - time.time()) > 0:
        time.sleep(min(left, 0.05))


_prepared: list[_Job] = []


def jobs_prepare(adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
    """Workload 2, this process's share, step 1: start ``jobs`` threads, each creating its run;
    reply once every run exists (or failed), so creating runs is never inside the measurement."""
    _prepared[:] = [
        _Job(adapter, args["project"], args["first_index"] + k, args["metrics"])
        for k in range(args["jobs"])
    ]
    for job in _prepared:
        job.start()
    deadline = time.time() + args.get("timeout_s", 120.0)
    for job in _prepared:
        job.ready.wait(timeout=max(0.1, deadline - time.time()))
    errors = [job.error for job in _prepared if job.error]
    not_ready = sum(1 for job in _prepared if not job.ready.is_set())
    return {
        "ready": len(_prepared) - len(errors) - not_ready,
        "errors": errors[:3],
        "not_ready": not_ready,
    }


def jobs_run(adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
    """Step 2: log from ``start_at`` (at most ``max_steps`` steps per job, and not after
    ``stop_at``), then finish. Every ``sample_s`` the
    committed points of all jobs are sampled (for systems whose client knows when a point is
    committed) along with the points logged. Jobs still finishing at ``finish_deadline``
    (epoch) are reported unfinished; the harness then kills this driver and its backlog."""
    jobs = list(_prepared)
    for job in jobs:
        job.start_at, job.stop_at, job.max_steps = (
            args["start_at"],
            args["stop_at"],
            args["max_steps"],
        )
        job.go.set()
    series: list[tuple[float, int]] = []
    logged: list[tuple[float, int]] = []
    _sleep_until(args["start_at"])
    cpu_start = time.process_time()
    cpu_at_stop: float | None = None

    def sample() -> None:
        now = time.time()
        counts = [adapter.committed(job.handle) if job.handle is not None else 0 for job in jobs]
        if all(c is not None for c in counts):
            series.append((now, sum(c or 0 for c in counts)))
        logged.append((now, sum(job.points for job in jobs)))

    while any(job.is_alive() for job in jobs) and time.time() < args["finish_deadline"]:
        if cpu_at_stop is None and all(job.logging_done_at or job.error for job in jobs):
            cpu_at_stop = time.process_time()
        sample()
        time.sleep(args.get("sample_s", 0.25))
    sample()
    _prepared.clear()
    return {
        "jobs": [
            {
                "run_id": adapter.run_id(job.handle) if job.handle is not None else "",
                "points": job.points,
                "steps": job.steps,
                "logging_done_at": job.logging_done_at,
                "finished_at": job.finished_at,
                "finished": job.finished_at > 0,
                "error": job.error,
            }
            for job in jobs
        ],
        "committed_series": series,
        "logged_series": logged,
        "cpu_s_window": (cpu_at_stop or time.process_time()) - cpu_start,
        "cpu_s_total": time.process_time() - cpu_start,
    }


def watch(adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
    """Sample the project's queryable points every ``interval`` s until ``until`` (epoch s) or
    until ``target`` points are queryable, through the system's query side (``count``). Where
    the system reports the log time of each run's newest queryable point, a freshness-lag sample
    (sample time minus that log time) is kept per run from ``lags_from`` on."""
    series: list[tuple[float, int]] = []
    lags: list[float] = []
    errors: list[str] = []
    while time.time() < args["until"]:
        started = time.time()
        try:
            counted = adapter.op("count", {"project": args["project"]})
        except Exception as exc:  # a store busy with the load must not end the measurement
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            series.append((started, counted["points"]))
            if started >= args.get("lags_from", 0.0):
                lags.extend(started - ns / 1e9 for ns in counted.get("newest_ns", []) if ns > 0)
            if counted["points"] >= args.get("target", math.inf):
                break
        time.sleep(max(0.0, args["interval"] - (time.time() - started)))
    return {"series": series, "lags": lags, "errors": errors[:3], "error_count": len(errors)}


# -- workload 3: a sweep of short runs --------------------------------------------------------------


def sweep(adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
    """Workload 3, this process's share: runs ``indices`` with ``threads`` concurrent runs; each
    run records ``params`` parameters and ``metrics`` metrics for ``steps`` steps, then
    finishes. Returns the run ids, points logged and when the last run finished (epoch)."""
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in args["indices"]:
        work.put(index)
    names = [f"metric_{k}" for k in range(args["metrics"])]
    ids: list[str] = []
    errors: list[str] = []
    points = [0]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                index = work.get_nowait()
            except queue.Empty:
                return
            try:
                handle = adapter.start_run(
                    args["project"], f"trial-{index:04d}", store_params(index, args["params"])
                )
                for step in range(args["steps"]):
                    value = unit_value(index, step)
                    adapter.log(handle, dict.fromkeys(names, value), step)
                adapter.finish(handle)
                with lock:
                    ids.append(adapter.run_id(handle))
                    points[0] += args["steps"] * len(names)
            except Exception as exc:
                with lock:
                    errors.append(f"trial {index}: {type(exc).__name__}: {exc}")

    _sleep_until(args.get("start_at", 0.0))
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args["threads"])]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "run_ids": ids,
        "points": points[0],
        "done_at": time.time(),
        "errors": errors[:5],
        "error_count": len(errors),
        "cpu_s": time.process_time() - cpu,
    }


# -- the request loop ---------------------------------------------------------------------------


def _requests(stream: Any) -> Iterator[dict[str, Any]]:
    for line in stream:
        line = line.strip()
        if line:
            yield json.loads(line)


def serve(make_adapter: Callable[[dict[str, Any]], Adapter]) -> None:
    """Run a driver: parse ``--config``, build the adapter, answer requests until EOF or
    ``shutdown``. Never raises for a failing request: the error goes back to the harness."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True, help="JSON object of driver settings")
    config = json.loads(parser.parse_args().config)
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints must never corrupt the protocol
    sys.stdout = sys.stderr
    adapter = make_adapter(config)
    replies.write(
        json.dumps({"event": "ready", "pid": os.getpid(), "versions": adapter.versions()}) + "\n"
    )
    common: dict[str, Callable[[Adapter, dict[str, Any]], dict[str, Any]]] = {
        "logging_cost": logging_cost,
        "jobs_prepare": jobs_prepare,
        "jobs_run": jobs_run,
        "sweep": sweep,
        "watch": watch,
    }
    for request in _requests(sys.stdin):
        op, args, rid = request["op"], request.get("args", {}), request.get("id")
        try:
            if op == "shutdown":
                replies.write(json.dumps({"id": rid, "ok": True, "result": {}}) + "\n")
                break
            if op == "ping":
                result: dict[str, Any] = {"pid": os.getpid()}
            elif op in common:
                result = common[op](adapter, args)
            else:
                result = adapter.op(op, args)
            reply = {"id": rid, "ok": True, "result": result}
        except Exception as exc:
            reply = {
                "id": rid,
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=8),
            }
        replies.write(json.dumps(reply, default=str) + "\n")
    replies.flush()
    os._exit(0)  # skip atexit hooks of clients that would otherwise block on unsent data
