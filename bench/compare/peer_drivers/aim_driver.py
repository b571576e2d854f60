"""Benchmark driver for Aim; runs inside the Aim virtualenv (stdlib, numpy, aim only).

Config (``--config`` JSON): ``repo`` — a local repository path, or ``aim://host:port`` for Aim's
remote tracking server — and ``query_repo``, where queries read (the local path: Aim's query API
reads the repository, whose run index ``aim up`` keeps current).

Runs are created with system-resource tracking, system params and terminal capture off, like
Cairn's automatic capture (``capture=False``) in its driver. ``Run.track`` writes the values
into the run's own storage before it returns (locally; remote: it hands them to the client's
sender), but a run appears in queries only once ``aim up``'s indexer has picked it up, so the
harness counts queryable points through the query API (``count``) for both modes.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

import _driver_core as core  # type: ignore[import-not-found]
from aim import Repo, Run  # type: ignore[import-not-found]
from aim.storage.context import Context  # type: ignore[import-not-found]


class Handle:
    __slots__ = ("committed", "run")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.committed = 0


class AimAdapter:
    def __init__(self, config: dict[str, Any]) -> None:
        self.repo_uri = config["repo"]
        self.query_uri = config.get("query_repo", self.repo_uri)
        self.remote = self.repo_uri.startswith("aim://")
        self._repo: Repo | None = None
        self._names: dict[str, dict[str, str]] = {}

    @property
    def repo(self) -> Repo:
        if self._repo is None:
            self._repo = Repo.from_path(self.query_uri)
        return self._repo

    def versions(self) -> dict[str, str]:
        return {"aim": metadata.version("aim"), "numpy": metadata.version("numpy")}

    # -- logging ---------------------------------------------------------------------------------

    def start_run(self, project: str, name: str, params: dict[str, Any]) -> Handle:
        run = Run(
            repo=self.repo_uri,
            experiment=project,
            system_tracking_interval=None,
            log_system_params=False,
            capture_terminal_logs=False,
        )
        run.name = name
        if params:
            run["hparams"] = params
        return Handle(run)

    def run_id(self, handle: Handle) -> str:
        return str(handle.run.hash)

    def log(self, handle: Handle, metrics: dict[str, float], step: int) -> None:
        handle.run.track(metrics, step=step)
        handle.committed += len(metrics)

    def committed(self, handle: Handle) -> int | None:
        return None  # written is not yet queryable: the run must be indexed first

    def finish(self, handle: Handle) -> None:
        handle.run.close()

    # -- queries -----------------------------------------------------------------------------------

    def op(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, f"op_{name}")(args)  # type: ignore[no-any-return]

    def _runs(self, query: str) -> list[Any]:
        return [view.run for view in self.repo.query_runs(query, report_mode=0).iter_runs()]

    def op_sweep_status(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs of the project that queries return as ended (closed). Their values were written
        before ``close`` returned, so an ended run is fully queryable."""
        runs = self._runs(f"run.experiment == '{args['project']}'")
        return {"runs_finished": sum(1 for run in runs if run.end_time), "points": None}

    def op_count(self, args: dict[str, Any]) -> dict[str, Any]:
        """Values of the project's runs that queries read back (runs must be indexed first)."""
        points = 0
        runs = self._runs(f"run.experiment == '{args['project']}'")
        for run in runs:
            for name, context, _ in run.iter_metrics_info():
                metric = run.get_metric(name, context)
                if metric is not None:
                    points += len(metric.values.sparse_numpy()[0])
        return {"points": points, "runs": len(runs)}

    def op_verify(self, args: dict[str, Any]) -> dict[str, Any]:
        total = 0
        for run_hash in args["run_ids"]:
            run = Run(run_hash, repo=self.query_uri, read_only=True)
            for key in args["keys"]:
                metric = run.get_metric(key, Context({}))
                if metric is not None:
                    total += len(metric.values.sparse_numpy()[0])
        return {"points": total}

    def op_load_store(self, args: dict[str, Any]) -> dict[str, Any]:
        """Workload 4's store through Aim's only write path, ``Run`` and ``track`` (Aim has no
        bulk import); the harness splits the runs over several drivers to load in parallel."""
        started = time.perf_counter()
        points = 0
        for i in range(args["start"], args["stop"]):
            handle = self.start_run(
                args["project"], f"run-{i:05d}", core.store_params(i, args["params"])
            )
            run = handle.run
            run.track({f"m{j}": core.unit_value(i, j) for j in range(args["metrics"])}, step=0)
            if i < args["history_runs"]:
                for s in range(args["history_steps"]):
                    run.track(core.history_value(i, s), name="loss", step=s)
                points += args["history_steps"]
            run.close()
        return {
            "seconds": time.perf_counter() - started,
            "method": "aim.Run + track per value (Aim has no bulk import)",
            "rows": points,
        }

    def op_store_ids(self, args: dict[str, Any]) -> dict[str, Any]:
        project = args["project"]
        if project not in self._names:
            runs = self._runs(f"run.experiment == '{project}'")
            self._names[project] = {run.name: run.hash for run in runs}
        names = self._names[project]
        return {"ids": [names.get(f"run-{i:05d}", "") for i in args["indices"]]}

    def op_search(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs with ``optimizer`` = X and last ``m0`` > Y, with their params."""
        query = (
            f"run.experiment == '{args['project']}' and "
            f"run.hparams.optimizer == '{args['optimizer']}' and "
            f"run.metrics['m0'].last > {args['m0_above']}"
        )
        started = time.perf_counter()
        runs = self._runs(query)
        rows = [(run.hash, run["hparams"]) for run in runs]
        return {"seconds": time.perf_counter() - started, "matches": len(rows)}

    def op_histories(self, args: dict[str, Any]) -> dict[str, Any]:
        """The full ``loss`` history of each given run (every step, no sampling)."""
        started = time.perf_counter()
        points = 0
        for run_hash in args["ids"]:
            run = Run(run_hash, repo=self.query_uri, read_only=True)
            metric = run.get_metric(args["key"], Context({}))
            if metric is not None:
                _, values = metric.values.sparse_numpy()
                points += len(values)
        return {"seconds": time.perf_counter() - started, "points": points}

    def op_chart(self, args: dict[str, Any]) -> dict[str, Any]:
        """Aim samples chart data in its web server's streaming API, which its Python SDK does
        not expose; there is no downsampled read to time through the SDK."""
        return {
            "unsupported": "Aim's SDK has no downsampled read (its UI samples in the web "
            "server's streaming search API)"
        }

    def op_compare(self, args: dict[str, Any]) -> dict[str, Any]:
        """The given runs with params and the last value of each metric, then the params that
        differ between them."""
        hashes = ", ".join(f"'{h}'" for h in args["ids"])
        started = time.perf_counter()
        runs = self._runs(f"run.hash in [{hashes}]")
        rows = []
        for run in runs:
            last = {}
            for j in range(args["metrics"]):
                metric = run.get_metric(f"m{j}", Context({}))
                if metric is not None:
                    last[f"m{j}"] = metric.values.sparse_numpy()[1][-1]
            rows.append((run["hparams"], last))
        keys = {k for params, _ in rows for k in params}
        differing = [k for k in keys if len({str(p.get(k)) for p, _ in rows}) > 1]
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "runs": len(rows), "differing_params": len(differing)}


if __name__ == "__main__":
    core.serve(AimAdapter)
