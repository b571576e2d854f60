"""Bulk export of runs for the query service's ``Export``: the runs matching a filter, with their
parameters, tags and every metric point, as Arrow record batches in four tables.

Tables (columns):

- ``runs``: ``run_id, name, project, team, status, owner, created_by, description, archived,
  created_at, started_at, finished_at`` (times as UTC timestamps);
- ``params``: ``run_id, key, value`` (text as recorded), ``value_type`` (float, int, bool, str,
  null);
- ``tags``: ``run_id, key, value``;
- ``metrics``: ``run_id, key, step, timestamp, value`` (:func:`query.history.point_batches`).

Runs are read a chunk of :data:`CHUNK_RUNS` at a time and points stream from ClickHouse, so
memory stays bounded by a chunk whatever the export's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from query import _execute, _records
from query._execute import LATEST
from query.access import Caller, Visibility
from query.history import POINT_SCHEMA, point_batches
from query.runs import MAX_LIMIT, search_runs

CHUNK_RUNS = 1_000
TABLES = ("runs", "params", "tags", "metrics")

_TIME = pa.timestamp("ns", tz="UTC")
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("name", pa.string()),
        ("project", pa.string()),
        ("team", pa.string()),
        ("status", pa.string()),
        ("owner", pa.string()),
        ("created_by", pa.string()),
        ("description", pa.string()),
        ("archived", pa.bool_()),
        ("created_at", _TIME),
        ("started_at", _TIME),
        ("finished_at", _TIME),
    ]
)
PARAMS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("key", pa.string()),
        ("value", pa.string()),
        ("value_type", pa.string()),
    ]
)
TAGS_SCHEMA = pa.schema([("run_id", pa.string()), ("key", pa.string()), ("value", pa.string())])


def matching_run_ids(
    client: Client, caller: Caller, filter: str | None, *, database: str | None = None
) -> list[str]:
    """Every visible run matching ``filter``, oldest first (no cap: paged internally)."""
    ids: list[str] = []
    offset = 0
    while True:
        page = search_runs(
            client,
            caller,
            filter,
            "created asc",
            limit=MAX_LIMIT,
            offset=offset,
            columns=["run_id"],
            database=database,
        )
        ids += [str(run_id) for run_id in page["run_id"]]
        if len(page) < MAX_LIMIT:
            return ids
        offset += MAX_LIMIT


def _runs_batch(client: Client, vis: Visibility, ids: Sequence[str]) -> pa.RecordBatch:
    found = _records.visible_runs(client, vis, ids)
    rows = [found[run_id] for run_id in ids if run_id in found]
    return pa.RecordBatch.from_pylist(
        [
            {
                "run_id": r.run_id,
                "name": r.name,
                "project": r.project,
                "team": r.team,
                "status": r.status,
                "owner": r.owner,
                "created_by": r.created_by,
                "description": r.description,
                "archived": r.archived,
                "created_at": r.created_at,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
            }
            for r in rows
        ],
        schema=RUNS_SCHEMA,
    )


def _params_batch(client: Client, vis: Visibility, ids: Sequence[str]) -> pa.RecordBatch:
    sql = (
        f"SELECT run_id, key, argMax(tuple(value, value_type), {LATEST}) AS latest"
        f" FROM {vis.table('params')} WHERE run_id IN {{ids:Array(String)}}"
        " GROUP BY run_id, key ORDER BY run_id, key"
    )
    rows = _execute.rows(client, sql, {"ids": list(ids)})
    return pa.RecordBatch.from_pylist(
        [
            {"run_id": r["run_id"], "key": r["key"], "value": r["latest"][0]}
            | {"value_type": r["latest"][1]}
            for r in rows
        ],
        schema=PARAMS_SCHEMA,
    )


def _tags_batch(client: Client, vis: Visibility, ids: Sequence[str]) -> pa.RecordBatch:
    tags = _records.tags(client, vis, ids)
    return pa.RecordBatch.from_pylist(
        [
            {"run_id": run_id, "key": key, "value": value}
            for run_id in ids
            for key, value in sorted(tags.get(run_id, {}).items())
        ],
        schema=TAGS_SCHEMA,
    )


def export_batches(
    client: Client, caller: Caller, ids: Sequence[str], *, database: str | None = None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """``(table, batch)`` pairs for the runs ``ids`` (from :func:`matching_run_ids`): each chunk
    of runs gives its ``runs``, ``params`` and ``tags`` batches, then its points as ``metrics``
    batches."""
    vis = Visibility.load(client, caller, database)
    points = 0
    for start in range(0, len(ids), CHUNK_RUNS):
        chunk = ids[start : start + CHUNK_RUNS]
        yield "runs", _runs_batch(client, vis, chunk)
        yield "params", _params_batch(client, vis, chunk)
        yield "tags", _tags_batch(client, vis, chunk)
        for batch in point_batches(client, caller, chunk, database=database):
            points += batch.num_rows
            yield "metrics", batch
    if not ids:  # every table appears once, so readers always find its schema
        yield "runs", _empty(RUNS_SCHEMA)
        yield "params", _empty(PARAMS_SCHEMA)
        yield "tags", _empty(TAGS_SCHEMA)
    if not points:
        yield "metrics", _empty(POINT_SCHEMA)


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)
