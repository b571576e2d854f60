"""Benchmark driver for MLflow; runs inside the MLflow virtualenv (stdlib, numpy, mlflow only).

Config (``--config`` JSON): ``tracking_uri`` (the server started by the harness), ``db_path`` (its
SQLite file, for the workload-4 bulk load only) and ``mode``:

- ``sync``: ``MlflowClient.log_batch`` per call; it returns once the server committed the batch;
- ``async``: ``log_batch(..., synchronous=False)`` with MLflow's defaults (one request per call,
  sent by MLflow's background thread pool);
- ``async-buffered``: the same, with ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`` (set by the
  harness in the environment) so MLflow merges queued calls into requests of up to 1,000 values.

A point counts as committed when the ``log_batch`` call (or its async operation) that carried it
completed: the server has written it to SQLite, so the REST API returns it from then on.
"""

from __future__ import annotations

import collections
import json
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
from importlib import metadata
from typing import Any

import _driver_core as core  # type: ignore[import-not-found]
from mlflow import MlflowClient  # type: ignore[import-not-found]
from mlflow.entities import Metric, Param, RunStatus  # type: ignore[import-not-found]
from mlflow.exceptions import MlflowException  # type: ignore[import-not-found]

MAX_RESULTS = 1000  # MLflow's default page size for search_runs


class Handle:
    __slots__ = ("committed", "lock", "pending", "run_id")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.committed = 0
        self.pending: collections.deque[tuple[Any, int]] = collections.deque()
        self.lock = threading.Lock()


class MlflowAdapter:
    def __init__(self, config: dict[str, Any]) -> None:
        self.uri = config["tracking_uri"]
        self.db_path = config.get("db_path", "")
        self.mode = config.get("mode", "sync")
        self.client = MlflowClient(self.uri)
        self.experiments: dict[str, str] = {}
        self.lock = threading.Lock()

    def versions(self) -> dict[str, str]:
        return {"mlflow": metadata.version("mlflow"), "numpy": metadata.version("numpy")}

    def experiment(self, project: str) -> str:
        with self.lock:
            if project not in self.experiments:
                found = self.client.get_experiment_by_name(project)
                if found is None:
                    try:
                        self.experiments[project] = self.client.create_experiment(project)
                    except MlflowException:  # another driver process created it first
                        found = self.client.get_experiment_by_name(project)
                if found is not None:
                    self.experiments[project] = found.experiment_id
            return self.experiments[project]

    # -- logging ---------------------------------------------------------------------------------

    def start_run(self, project: str, name: str, params: dict[str, Any]) -> Handle:
        run = self.client.create_run(self.experiment(project), run_name=name)
        handle = Handle(run.info.run_id)
        if params:
            self.client.log_batch(
                handle.run_id, params=[Param(k, str(v)) for k, v in params.items()]
            )
        return handle

    def run_id(self, handle: Handle) -> str:
        return handle.run_id

    def log(self, handle: Handle, metrics: dict[str, float], step: int) -> None:
        ts = int(time.time() * 1000)
        batch = [Metric(k, v, ts, step) for k, v in metrics.items()]
        if self.mode == "sync":
            self.client.log_batch(handle.run_id, metrics=batch)
            handle.committed += len(batch)
        else:
            ops = self.client.log_batch(handle.run_id, metrics=batch, synchronous=False)
            handle.pending.append((ops, len(batch)))

    def committed(self, handle: Handle) -> int:
        with handle.lock:
            pending = handle.pending
            while pending and all(f.done() for f in pending[0][0]._operation_futures):
                handle.committed += pending.popleft()[1]
            return handle.committed

    def finish(self, handle: Handle) -> None:
        for ops, _ in list(handle.pending):
            ops.wait()
        self.committed(handle)
        self.client.set_terminated(handle.run_id, RunStatus.to_string(RunStatus.FINISHED))

    # -- queries -----------------------------------------------------------------------------------

    def op(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, f"op_{name}")(args)  # type: ignore[no-any-return]

    def _search_all(self, experiment_id: str, filter_string: str) -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [experiment_id], filter_string, max_results=MAX_RESULTS, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def op_sweep_status(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs of the project the REST API reports FINISHED; their points are committed before
        the run is terminated (see ``finish``), so finished means fully queryable."""
        runs = self._search_all(self.experiment(args["project"]), "attributes.status = 'FINISHED'")
        return {"runs_finished": len(runs), "points": None}

    def op_verify(self, args: dict[str, Any]) -> dict[str, Any]:
        """Points of the given runs and keys as ``get_metric_history`` returns them."""
        total = 0
        for run_id in args["run_ids"]:
            for key in args["keys"]:
                total += len(self.client.get_metric_history(run_id, key))
        return {"points": total}

    def op_load_store(self, args: dict[str, Any]) -> dict[str, Any]:
        """Workload 4's store, written straight into the server's SQLite tables (MLflow's own
        schema, one transaction per table: the fastest bulk path MLflow has, as a restore would
        do). The experiment is created through the REST API first."""
        experiment_id = int(self.experiment(args["project"]))
        artifacts = self.client.get_experiment(str(experiment_id)).artifact_location
        started = time.perf_counter()
        now = int(time.time() * 1000)
        runs, params, metrics, latest, tags = [], [], [], [], []
        for i in range(args["start"], args["stop"]):
            run_id = store_run_id(args["project_index"], i)
            name = f"run-{i:05d}"
            runs.append(
                (
                    run_id,
                    name,
                    "LOCAL",
                    "",
                    "",
                    "bench",
                    "FINISHED",
                    now,
                    now + 1000,
                    "",
                    "active",
                    f"{artifacts}/{run_id}/artifacts",
                    experiment_id,
                )
            )
            tags.append(("mlflow.runName", name, run_id))
            for key, value in core.store_params(i, args["params"]).items():
                params.append((key, str(value), run_id))
            for j in range(args["metrics"]):
                value = core.unit_value(i, j)
                metrics.append((f"m{j}", value, now, run_id, 0, 0))
                latest.append((f"m{j}", value, now, 0, 0, run_id))
            if i < args["history_runs"]:
                steps = args["history_steps"]
                metrics.extend(
                    ("loss", core.history_value(i, s), now + s, run_id, s, 0) for s in range(steps)
                )
                latest.append(
                    (
                        "loss",
                        core.history_value(i, steps - 1),
                        now + steps - 1,
                        steps - 1,
                        0,
                        run_id,
                    )
                )
        db = sqlite3.connect(self.db_path, timeout=60)
        try:
            with db:
                db.executemany(
                    "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,"
                    " user_id, status, start_time, end_time, source_version, lifecycle_stage,"
                    " artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    runs,
                )
                db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
                db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
                db.executemany(
                    "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                    " VALUES (?,?,?,?,?,?)",
                    metrics,
                )
                db.executemany(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                    " VALUES (?,?,?,?,?,?)",
                    latest,
                )
        finally:
            db.close()
        return {
            "seconds": time.perf_counter() - started,
            "method": "sqlite3 executemany into the server's MLflow tables",
            "rows": len(metrics),
        }

    def op_store_ids(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ids": [store_run_id(args["project_index"], i) for i in args["indices"]]}

    def op_search(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every run with ``optimizer`` = X and last ``m0`` > Y, with params and metrics, page
        by page, as ``search_runs`` returns them."""
        experiment_id = self.experiment(args["project"])
        filter_string = (
            f"params.optimizer = '{args['optimizer']}' and metrics.m0 > {args['m0_above']}"
        )
        started = time.perf_counter()
        runs = self._search_all(experiment_id, filter_string)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "matches": len(runs)}

    def op_histories(self, args: dict[str, Any]) -> dict[str, Any]:
        """The full ``loss`` history of each given run, one ``get_metric_history`` per run (the
        client pages through long histories itself)."""
        started = time.perf_counter()
        points = 0
        for run_id in args["ids"]:
            points += len(self.client.get_metric_history(run_id, args["key"]))
        return {"seconds": time.perf_counter() - started, "points": points}

    def op_chart(self, args: dict[str, Any]) -> dict[str, Any]:
        """The chart of one metric over the given runs as MLflow's UI loads it: the UI's
        ``get-history-bulk-interval`` endpoint (sampled server-side to ``max_results`` points
        per run), 100 runs per request."""
        started = time.perf_counter()
        points = 0
        ids = args["ids"]
        for first in range(0, len(ids), 100):
            query = urllib.parse.urlencode(
                [("run_ids", run_id) for run_id in ids[first : first + 100]]
                + [("metric_key", args["key"]), ("max_results", str(args["max_points"]))]
            )
            url = f"{self.uri}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{query}"
            with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 (loopback)
                points += len(json.load(response).get("metrics", []))
        return {"seconds": time.perf_counter() - started, "points": points}

    def op_compare(self, args: dict[str, Any]) -> dict[str, Any]:
        """The given runs with their params and latest metrics in one ``search_runs`` (run id IN
        filter), then the params that differ between them."""
        experiment_id = self.experiment(args["project"])
        quoted = ", ".join(f"'{run_id}'" for run_id in args["ids"])
        started = time.perf_counter()
        runs = self._search_all(experiment_id, f"attributes.run_id IN ({quoted})")
        keys = {k for run in runs for k in run.data.params}
        differing = [k for k in keys if len({run.data.params.get(k) for run in runs}) > 1]
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "runs": len(runs), "differing_params": len(differing)}


def store_run_id(project_index: int, i: int) -> str:
    """MLflow run ids are 32 hex characters; the store's are derived from the run index."""
    return f"{project_index:08x}{i:024x}"


if __name__ == "__main__":
    core.serve(MlflowAdapter)
