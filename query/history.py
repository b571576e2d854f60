"""Metric histories for the query service: every point, or N buckets per series with the
bucket's min, max and last value, for many runs and keys in one call; and the bulk export of a
set of runs' points.

Both read ``metrics`` with ``FINAL``, so a step logged again (or redelivered) appears once with
its latest value. Every point streams out as Arrow record batches straight from ClickHouse
(:func:`point_batches`): the server holds one block at a time, never the whole result.

Buckets: the step range of each series (from ``metric_bounds``) is cut into ``samples`` equal
buckets; each bucket gives its highest step with that step's time and value (``value``, the
bucket's last), the lowest and highest value in it (``min``, ``max``) and how many points it
holds (``count``). A series with at most ``samples`` steps comes back with one bucket per point.
Visibility is applied once, to the run ids, before any point is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _execute
from query.access import Caller, Visibility

MAX_RUNS = 1_000
MAX_KEYS = 100
MAX_SAMPLES = 100_000
POINT_COLUMNS = ("run_id", "key", "step", "timestamp", "value")


@dataclass(frozen=True)
class Buckets:
    """Downsampled series, one row per bucket, sorted by run, key and step (parallel lists)."""

    run_id: list[str]
    key: list[str]
    step: list[int]
    timestamp_ns: list[int]
    value: list[float]
    min: list[float]
    max: list[float]
    count: list[int]


def check_request(run_ids: Sequence[str], keys: Sequence[str], samples: int) -> None:
    if isinstance(run_ids, str) or isinstance(keys, str):
        raise ValidationError("run_ids and keys must be lists of strings", field="run_ids")
    if not run_ids:
        raise ValidationError("name at least one run", field="run_ids", rule="empty")
    if len(run_ids) > MAX_RUNS:
        raise ValidationError(f"at most {MAX_RUNS} runs at once", field="run_ids", rule="max")
    if len(keys) > MAX_KEYS:
        raise ValidationError(f"at most {MAX_KEYS} metric keys at once", field="keys", rule="max")
    if not 0 <= samples <= MAX_SAMPLES:
        raise ValidationError(
            f"samples must be between 1 and {MAX_SAMPLES} (0: every point), got {samples}",
            field="samples",
            rule="range",
        )


def visible_run_ids(client: Client, vis: Visibility, run_ids: Sequence[str]) -> list[str]:
    """The ids among ``run_ids`` the caller may see, in the given order."""
    sql = vis.visible_runs("run_id IN {ids:Array(String)}")
    found = {
        r["run_id"] for r in _execute.rows(client, sql, {"ids": list(run_ids), **vis.parameters})
    }
    return [run_id for run_id in dict.fromkeys(run_ids) if run_id in found]


def _key_filter(keys: Sequence[str]) -> str:
    return " AND key IN {keys:Array(String)}" if keys else ""


def buckets(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    keys: Sequence[str],
    samples: int,
    *,
    database: str | None = None,
) -> Buckets:
    """At most ``samples`` buckets per (run, key) series; ``keys`` empty means every key."""
    check_request(run_ids, keys, samples)
    vis = Visibility.load(client, caller, database)
    ids = visible_run_ids(client, vis, run_ids)
    empty = Buckets([], [], [], [], [], [], [], [])
    if not ids:
        return empty
    params = {"ids": ids, "keys": list(keys), "samples": samples}
    sql = f"""
SELECT p.run_id AS run_id, p.key AS key,
    max(p.step) AS last_step, argMax(toUnixTimestamp64Nano(p.timestamp), p.step) AS last_time,
    argMax(p.value, p.step) AS last_value, min(p.value) AS low, max(p.value) AS high,
    count() AS points
FROM (SELECT run_id, key, step, timestamp, value FROM {vis.table("metrics")} FINAL
      WHERE run_id IN {{ids:Array(String)}}{_key_filter(keys)}) AS p
INNER JOIN (
    SELECT run_id, key, min(min_step) AS lo,
        greatest(1, intDiv(max(max_step) - min(min_step) + {{samples:Int64}},
                           {{samples:Int64}})) AS width
    FROM {vis.table("metric_bounds")}
    WHERE run_id IN {{ids:Array(String)}}{_key_filter(keys)}
    GROUP BY run_id, key
) AS b ON b.run_id = p.run_id AND b.key = p.key
GROUP BY run_id, key, intDiv(p.step - b.lo, b.width)
ORDER BY run_id, key, last_step
"""
    result = client.query(sql, parameters=params, settings={"session_id": ""})
    columns = result.result_columns
    if not result.row_count:
        return empty
    return Buckets(
        list(columns[0]),
        list(columns[1]),
        [int(v) for v in columns[2]],
        [int(v) for v in columns[3]],
        [float(v) for v in columns[4]],
        [float(v) for v in columns[5]],
        [float(v) for v in columns[6]],
        [int(v) for v in columns[7]],
    )


def point_batches(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    keys: Sequence[str] = (),
    *,
    database: str | None = None,
    max_rows: int = 32_768,
) -> Iterator[pa.RecordBatch]:
    """Every point of the visible runs among ``run_ids`` (``keys`` empty: every key), ordered by
    run, key and step, as Arrow batches of at most ``max_rows`` rows (``POINT_COLUMNS``;
    ``timestamp`` in nanoseconds UTC). Streams: ClickHouse sends blocks as they are read."""
    if isinstance(run_ids, str):
        raise ValidationError("run_ids must be a list of strings", field="run_ids")
    vis = Visibility.load(client, caller, database)
    ids = visible_run_ids(client, vis, run_ids)
    if not ids:
        return
    sql = f"""
SELECT run_id, toString(key) AS key, step, timestamp, value
FROM {vis.table("metrics")} FINAL
WHERE run_id IN {{ids:Array(String)}}{_key_filter(keys)}
ORDER BY run_id, key, step
"""
    with _execute.translated():
        stream = client.query_arrow_stream(
            sql, parameters={"ids": ids, "keys": list(keys)}, settings={"session_id": ""}
        )
        with stream:
            for batch in stream:
                for offset in range(0, batch.num_rows, max_rows):
                    yield _normalised(batch.slice(offset, max_rows))


POINT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("key", pa.string()),
        ("step", pa.int64()),
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("value", pa.float64()),
    ]
)


def _normalised(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Plain string columns and a UTC nanosecond timestamp, whatever types the server chose."""
    arrays = []
    for name, field in zip(POINT_COLUMNS, POINT_SCHEMA, strict=True):
        column = batch.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            column = column.cast(pa.string())
        arrays.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=POINT_SCHEMA)
