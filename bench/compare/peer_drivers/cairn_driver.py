"""Benchmark driver for Cairn; runs in Cairn's own ``.venv`` (stdlib, numpy, ``cairn`` SDK and,
for the query side, Cairn's ``query`` package and clickhouse-connect).

Config (``--config`` JSON): ``ingest_url``, ``api_key``, ``team`` (from the local stack the
harness started), ``spool_dir`` (a temporary SDK directory) and ``clickhouse_url`` (the stack's
admin URL, for the workload-4 bulk load and the reads).

Logging goes through the public SDK exactly as a training script uses it: ``cairn.init`` (with
automatic capture off, like the peers' system tracking), ``run.log``, ``run.finish``. The SDK's
acknowledgement means "durable in Kafka", not "queryable", so :meth:`CairnAdapter.committed`
returns None and the harness watches the store instead (``watch``): a point is queryable when the
processors have written it to ClickHouse, where ``metric_summary`` (fed by the same insert as
``metric_points``) counts it.

Workload 4's queries go through the query layer (``query.runs.search_runs``,
``query.series.metric_series``, ``query.compare.compare_runs``) as the portal calls them, for a
caller in the stack's team; where a function is missing (an older checkout) they fall back to SQL
on the documented views (docs/schema.md). Each result says which (``via``).
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

import _driver_core as core  # type: ignore[import-not-found]
from clickhouse_connect.driver.client import Client

import cairn
from query.client import connect
from query.ddl import SINGLE_NODE
from query.series_schema import rollup_backfill

DB = "cairn"
_PROJECT_RUNS = (
    f"SELECT run_id FROM {DB}.run_fields WHERE field = 'project' AND value = {{p:String}}"
)


class CairnAdapter:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = connect(self.config["clickhouse_url"])
        return self._client

    def versions(self) -> dict[str, str]:
        return {"cairn-sdk": cairn.__version__, "numpy": metadata.version("numpy")}

    # -- logging ---------------------------------------------------------------------------------

    def start_run(self, project: str, name: str, params: dict[str, Any]) -> cairn.Run:
        return cairn.init(
            project=project,
            name=name,
            config=params,
            team=self.config["team"],
            ingest_url=self.config["ingest_url"],
            api_key=self.config["api_key"],
            dir=self.config["spool_dir"],
            capture=False,
        )

    def run_id(self, handle: cairn.Run) -> str:
        return handle.id

    def log(self, handle: cairn.Run, metrics: dict[str, float], step: int) -> None:
        handle.log(metrics, step=step)

    def committed(self, handle: cairn.Run) -> None:
        return None

    def finish(self, handle: cairn.Run) -> None:
        handle.finish()

    # -- store-side observation ------------------------------------------------------------------

    def op(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, f"op_{name}")(args)  # type: ignore[no-any-return]

    def _per_run(self, project: str) -> list[tuple[str, int, int]]:
        """(run id, queryable points, log time in ns of its newest queryable point) per run."""
        rows = self.client.query(
            f"SELECT run_id, sum(count), toUnixTimestamp64Nano(max(last_timestamp))"
            f" FROM {DB}.metric_summary WHERE run_id IN ({_PROJECT_RUNS}) GROUP BY run_id",
            parameters={"p": project},
        ).result_rows
        return [(str(r), int(c), int(t)) for r, c, t in rows]

    def op_count(self, args: dict[str, Any]) -> dict[str, Any]:
        """Queryable points of the project's runs, and the log time of each run's newest one."""
        rows = self._per_run(args["project"])
        return {
            "points": sum(points for _, points, _ in rows),
            "runs": len(rows),
            "newest_ns": [newest for _, _, newest in rows],
        }

    def op_sweep_status(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs of the project the ``runs`` view shows finished, and their queryable points."""
        finished = self.client.query(
            f"SELECT countIf(status = 'finished') FROM {DB}.runs WHERE project = {{p:String}}",
            parameters={"p": args["project"]},
        ).result_rows[0][0]
        points = sum(points for _, points, _ in self._per_run(args["project"]))
        return {"runs_finished": int(finished), "points": points}

    def op_verify(self, args: dict[str, Any]) -> dict[str, Any]:
        count = self.client.query(
            f"SELECT count() FROM {DB}.metric_points"
            " WHERE run_id IN {ids:Array(String)} AND key IN {keys:Array(String)}",
            parameters={"ids": args["run_ids"], "keys": args["keys"]},
        ).result_rows[0][0]
        return {"points": int(count)}

    # -- workload 4 --------------------------------------------------------------------------------

    def op_load_store(self, args: dict[str, Any]) -> dict[str, Any]:
        """Workload 4's store, written straight into the projection tables with
        ``INSERT ... SELECT FROM numbers()`` (the shape a restore from a backup has); the
        ``metric_summaries`` materialized view is fed by the same inserts, the rollups afterwards."""
        started = time.perf_counter()
        prefix = run_id_prefix(args["project_index"])
        rid = f"concat('{prefix}', leftPad(lower(hex(i)), 12, '0'))"
        common = {
            "start": args["start"],
            "count": args["stop"] - args["start"],
            "team": self.config["team"],
            "p": args["project"],
            "t0": time.time_ns(),
        }
        self.client.command(
            f"INSERT INTO {DB}.run_fields (run_id, field, value, sequence, occurred_at, event_id)"
            f" SELECT run_id, f.1, f.2, 1, now64(9), concat(run_id, '-', f.1) FROM ("
            f" SELECT {rid} AS run_id, arrayJoin(["
            " ('team', {team:String}), ('project', {p:String}),"
            " ('name', concat('run-', leftPad(toString(i), 5, '0'))), ('owner', 'bench'),"
            " ('status', 'finished'), ('created_at', toString({t0:Int64})),"
            " ('started_at', toString({t0:Int64})),"
            " ('finished_at', toString({t0:Int64} + 1000000000))]) AS f"
            " FROM (SELECT number AS i FROM numbers({start:UInt64}, {count:UInt64})))",
            parameters=common,
        )
        self.client.command(
            f"INSERT INTO {DB}.params (run_id, key, value_type, value, value_number, sequence,"
            " occurred_at, event_id)"
            " SELECT run_id, q.1, q.2, q.3, q.4, 1, now64(9), concat(run_id, '-', q.1) FROM ("
            f" SELECT {rid} AS run_id, arrayJoin(arrayConcat(["
            " ('optimizer', 'string', ['adam', 'sgd', 'adamw', 'lion'][i % 4 + 1], nan),"
            " ('lr', 'float', toString(lr), lr),"
            " ('batch_size', 'int', toString(bs), toFloat64(bs))],"
            " arrayMap(j -> (concat('p', leftPad(toString(j), 2, '0')), 'string',"
            " concat('v', toString((i * 7 + j) % 10)), nan), range(3, {params:UInt64})))) AS q"
            " FROM (SELECT number AS i,"
            " [0.0001, 0.0003, 0.001, 0.003][intDiv(i, 4) % 4 + 1] AS lr,"
            " [32, 64, 128, 256][intDiv(i, 16) % 4 + 1] AS bs"
            " FROM numbers({start:UInt64}, {count:UInt64})))",
            parameters={**common, "params": args["params"]},
        )
        self.client.command(
            f"INSERT INTO {DB}.metrics (run_id, key, step, timestamp, value, sequence)"
            f" SELECT {rid}, concat('m', toString(j)), 0, now64(9),"
            " ((i * 2654435761 + j * 40503) % 1000003) / 1000003, 1"
            " FROM (SELECT number AS i FROM numbers({start:UInt64}, {count:UInt64}))"
            " ARRAY JOIN range({metrics:UInt64}) AS j",
            parameters={**common, "metrics": args["metrics"]},
        )
        history_runs = max(0, min(args["stop"], args["history_runs"]) - args["start"])
        steps = args["history_steps"]
        if history_runs:
            self.client.command(
                f"INSERT INTO {DB}.metrics (run_id, key, step, timestamp, value, sequence)"
                f" SELECT {rid}, 'loss', s, now64(9), 1 / (1 + s * 0.001) + (i % 7) * 0.01, 1"
                " FROM (SELECT {start:UInt64} + intDiv(number, {steps:UInt64}) AS i,"
                " number % {steps:UInt64} AS s FROM numbers({n:UInt64}))",
                parameters={**common, "steps": steps, "n": history_runs * steps},
            )
        # The processors write the rollups with the points; this store skips them, so fill them
        # for this chunk's runs (their ids sort in index order: fixed-width hex).
        first, last = f"{prefix}{args['start']:012x}", f"{prefix}{args['stop'] - 1:012x}"
        for statement in rollup_backfill(f"run_id >= '{first}' AND run_id <= '{last}'"):
            for sql in statement.render(DB, SINGLE_NODE):
                self.client.command(sql)
        return {
            "seconds": time.perf_counter() - started,
            "method": "INSERT ... SELECT FROM numbers() into the projection tables",
            "rows": history_runs * steps,
        }

    def op_store_ids(self, args: dict[str, Any]) -> dict[str, Any]:
        prefix = run_id_prefix(args["project_index"])
        return {"ids": [f"{prefix}{i:012x}" for i in args["indices"]]}

    def _caller(self) -> Any:
        from query.access import Caller

        return Caller(user_id="bench", teams=frozenset({self.config["team"]}))

    def op_search(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs of the project with ``optimizer`` = X and last ``m0`` > Y, with every param and
        last metric value: ``query.runs.search_runs`` (the portal's search), or the ``runs`` view
        where the query layer has no such function."""
        started = time.perf_counter()
        try:
            from query.runs import MAX_LIMIT, search_runs
        except ImportError:
            rows = self.client.query(
                f"SELECT run_id, name, params, metrics_last FROM {DB}.runs"
                " WHERE project = {p:String} AND params['optimizer'] = {o:String}"
                " AND metrics_last['m0'] > {v:Float64}",
                parameters={"p": args["project"], "o": args["optimizer"], "v": args["m0_above"]},
            ).result_rows
            return {"seconds": time.perf_counter() - started, "matches": len(rows), "via": "sql"}
        keys = list(core.store_params(0, args.get("params", 10)))
        columns = ["run_id", "name", *(f"params.{k}" for k in keys)]
        columns += [f"metrics.m{j}" for j in range(args.get("metrics", 5))]
        frame = search_runs(
            self.client,
            self._caller(),
            f"project = '{args['project']}' and params.optimizer = '{args['optimizer']}'"
            f" and metrics.m0 > {args['m0_above']}",
            limit=MAX_LIMIT,
            columns=columns,
        )
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "matches": len(frame), "via": "query.runs.search_runs"}

    def op_histories(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every point of one metric of the given runs: ``query.series.metric_series`` with
        ``max_points`` at least the series' length (it then returns every point), or
        ``metric_points`` directly where the query layer has no such function."""
        started = time.perf_counter()
        try:
            from query.series import MAX_POINTS, metric_series
        except ImportError:
            frame = self.client.query_df(
                f"SELECT run_id, step, value FROM {DB}.metric_points"
                " WHERE run_id IN {ids:Array(String)} AND key = {k:String} ORDER BY run_id, step",
                parameters={"ids": args["ids"], "k": args["key"]},
            )
            return {"seconds": time.perf_counter() - started, "points": len(frame), "via": "sql"}
        wanted = min(MAX_POINTS, 2 * args["steps"] + 1)  # > 2x the steps: one point per bucket
        frame = metric_series(self.client, self._caller(), args["ids"], [args["key"]], wanted)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "points": len(frame), "via": "query.series.metric_series"}

    def op_chart(self, args: dict[str, Any]) -> dict[str, Any]:
        """The chart of one metric over the given runs as the portal draws it: at most
        ``max_points`` per series, downsampled inside ClickHouse."""
        from query.series import metric_series

        started = time.perf_counter()
        frame = metric_series(
            self.client, self._caller(), args["ids"], [args["key"]], args["max_points"]
        )
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "points": len(frame), "via": "query.series.metric_series"}

    def op_compare(self, args: dict[str, Any]) -> dict[str, Any]:
        """The given runs side by side: ``query.compare.compare_runs`` (params split into
        differing and common, metrics, tags, code, environment and datasets), or the ``runs``
        view where the query layer has no such function."""
        started = time.perf_counter()
        try:
            from query.compare import compare_runs
        except ImportError:
            rows = self.client.query(
                f"SELECT run_id, params, metrics_last FROM {DB}.runs"
                " WHERE run_id IN {ids:Array(String)}",
                parameters={"ids": args["ids"]},
            ).result_rows
            keys = {k for _, params, _ in rows for k in params}
            differing = [k for k in keys if len({params.get(k) for _, params, _ in rows}) > 1]
            seconds = time.perf_counter() - started
            return {
                "seconds": seconds,
                "runs": len(rows),
                "differing_params": len(differing),
                "via": "sql",
            }
        comparison = compare_runs(self.client, self._caller(), args["ids"])
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "runs": len(comparison.runs),
            "differing_params": len(comparison.params_differing),
            "via": "query.compare.compare_runs",
        }


def run_id_prefix(project_index: int) -> str:
    """Store run ids look like the SDK's UUIDs: ``xxxxxxxx-0000-7000-8000-<index as 12 hex>``."""
    return f"{project_index:08x}-0000-7000-8000-"


if __name__ == "__main__":
    core.serve(CairnAdapter)
