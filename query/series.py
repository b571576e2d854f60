"""Metric series for charts, downsampled inside ClickHouse so any number of points stays cheap.

:func:`metric_series` returns, per run and metric key, at most ``max_points`` points that keep
the series' shape: the x range (steps, or time) is cut into at most ``B = (max_points - 1) // 2``
equal buckets, and each bucket contributes its lowest and its highest point (so spikes and dips
survive, unlike averaging or taking every n-th point); the series' last point (highest step) is
always included, because "where did it end" is what people read first. That is at most
``2 * B + 1 <= max_points`` points; a series with few points comes back whole.

After the caller's shares are read, the range of every requested series the caller may see
comes from ``metric_bounds`` (one small row per series, :mod:`query.series_schema`). Then each
series takes one of two paths, both grouping by two integers (series number, bucket), never by
strings:

- **rollup**, for long series by step that were never re-logged: buckets are whole blocks of
  ``metric_rollup`` (64 steps each), so the query reads 64 times fewer rows; the last point
  comes from ``metric_bounds``;
- **points**, for everything else (time axis, short series, re-logged or redelivered steps):
  one pass over ``metric_points`` (each point once), bucketing each series with its own origin
  and width looked up in bound arrays, keeping the min and max point per bucket and the point
  at the last step.

Both paths return exact points of the series. Only about ``max_points`` rows per series cross
the network. Smoothing (an exponential moving average, debiased like TensorBoard's) is applied
in Python to the downsampled points, as chart smoothing is a display choice: the raw ``value``
is returned beside the ``smoothed`` one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from domain.metric_rollups import BLOCK as ROLLUP_BLOCK
from query import _execute
from query.access import Caller, Visibility

MAX_RUNS = 1_000
MAX_KEYS = 100
MAX_POINTS = 100_000
COLUMNS = ("run_id", "key", "step", "timestamp", "value")
_POINT_COLUMNS = ["series", "step", "time", "value"]

_BOUNDS_SQL = """
SELECT run_id, key, min(min_step) AS lo_step, max(max_step) AS hi_step,
    toUnixTimestamp64Nano(min(min_time)) AS lo_time,
    toUnixTimestamp64Nano(max(max_time)) AS hi_time,
    sum(rows) AS row_count, groupBitmapMerge(steps) AS step_count,
    argMaxMerge(last_value) AS end_value, toUnixTimestamp64Nano(argMaxMerge(last_time)) AS end_time
FROM {bounds}
WHERE run_id IN ({visible}) AND key IN {{keys:Array(String)}}
GROUP BY run_id, key
"""

_SERIES = """transform(run_id, {runs:Array(String)}, {run_index:Array(UInt32)}, 0)
            * {key_count:UInt32}
            + transform(key, {keys:Array(String)}, {key_index:Array(UInt32)}, 0) + 1"""

# Templates: ClickHouse placeholders ({name:Type}) are written as is; SERIES, AXIS, TABLE and
# BLOCK are filled in by ``_sql`` with text the query layer chose.
_POINTS_SQL = """
SELECT series, bucket,
    argMin(step, value) AS low_step, argMin(time, value) AS low_time, min(value) AS low_value,
    argMax(step, value) AS high_step, argMax(time, value) AS high_time, max(value) AS high_value,
    countIf(is_last) > 0 AS has_last, anyIf(time, is_last) AS last_time,
    anyIf(value, is_last) AS last_value
FROM (
    SELECT SERIES AS series, step, toUnixTimestamp64Nano(timestamp) AS time, value,
        intDiv(AXIS - {origins:Array(Int64)}[series], {widths:Array(Int64)}[series]) AS bucket,
        step = {last_steps:Array(Int64)}[series] AS is_last
    FROM TABLE
    WHERE run_id IN {runs:Array(String)} AND key IN {keys:Array(String)}
)
WHERE {widths:Array(Int64)}[series] > 0
GROUP BY series, bucket
"""

_ROLLUP_SQL = """
SELECT series, low.2 AS low_step, low.3 AS low_time, low.1 AS low_value,
    high.2 AS high_step, high.3 AS high_time, high.1 AS high_value
FROM (
    SELECT series, bucket, min(low) AS low, max(high) AS high
    FROM (
        SELECT SERIES AS series, low, high,
            intDiv(block * BLOCK - {origins:Array(Int64)}[series], {widths:Array(Int64)}[series])
                AS bucket
        FROM TABLE
        WHERE run_id IN {runs:Array(String)} AND key IN {keys:Array(String)}
    )
    WHERE {widths:Array(Int64)}[series] > 0
    GROUP BY series, bucket
)
"""


def _sql(template: str, table: str, axis: str = "step") -> str:
    return (
        template.replace("SERIES", _SERIES)
        .replace("AXIS", axis)
        .replace("TABLE", table)
        .replace("BLOCK", str(ROLLUP_BLOCK))
    )


def _check(run_ids: Sequence[str], keys: Sequence[str], max_points: int, x: str) -> None:
    if isinstance(run_ids, str) or isinstance(keys, str):
        raise ValidationError("run_ids and keys must be lists of strings", field="run_ids")
    if len(run_ids) > MAX_RUNS:
        raise ValidationError(f"at most {MAX_RUNS} runs at once", field="run_ids", rule="max")
    if len(keys) > MAX_KEYS:
        raise ValidationError(f"at most {MAX_KEYS} metric keys at once", field="keys", rule="max")
    if not 3 <= max_points <= MAX_POINTS:
        raise ValidationError(
            f"max_points must be between 3 and {MAX_POINTS}, got {max_points}",
            field="max_points",
            rule="range",
        )
    if x not in ("step", "time"):
        raise ValidationError(f"x must be 'step' or 'time', got {x!r}", field="x", rule="enum")


def ema(
    values: np.ndarray[Any, np.dtype[np.float64]], weight: float
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Debiased exponential moving average; NaN points are skipped and stay NaN."""
    out = [math.nan] * len(values)
    last = 0.0
    correction = 1.0
    for i, value in enumerate(values.tolist()):  # plain floats: ~30x faster than numpy scalars
        if not math.isfinite(value):
            continue
        last = last * weight + (1 - weight) * value
        correction *= weight
        out[i] = last / (1 - correction)
    return np.array(out, dtype=np.float64)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class _Plan:
    """The series numbered from 1 (run-major), and each path's origin and width per series
    (width 0: the series is not on that path)."""

    runs: list[str]
    keys: list[str]
    size: int
    points: dict[str, list[int]] = field(default_factory=dict)
    rollup: dict[str, list[int]] = field(default_factory=dict)
    ends: list[tuple[int, int, int, float]] = field(default_factory=list)  # series, step, ns, v

    def __post_init__(self) -> None:
        for path in (self.points, self.rollup):
            path.update(origins=[0] * self.size, widths=[0] * self.size)
        self.points["last_steps"] = [0] * self.size

    def parameters(self, path: dict[str, list[int]]) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "run_index": list(range(len(self.runs))),
            "keys": self.keys,
            "key_index": list(range(len(self.keys))),
            "key_count": len(self.keys),
            **path,
        }

    def name(self, series: int) -> tuple[str, str]:
        run, key = divmod(series - 1, len(self.keys))
        return self.runs[run], self.keys[key]


def _plan(
    client: Client, vis: Visibility, runs: list[str], keys: list[str], buckets: int, x: str
) -> _Plan | None:
    """Each visible series' path, origin and width; None if no series is visible."""
    sql = _BOUNDS_SQL.format(
        bounds=vis.table("metric_bounds_current"),
        visible=vis.visible_runs("run_id IN {runs:Array(String)}"),
    )
    found = _execute.rows(client, sql, {"runs": runs, "keys": keys, **vis.parameters})
    if not found:
        return None
    run_list = sorted({row["run_id"] for row in found})
    run_index = {run: i for i, run in enumerate(run_list)}
    key_index = {key: i for i, key in enumerate(keys)}
    plan = _Plan(run_list, keys, len(run_list) * len(keys))
    for row in found:
        i = run_index[row["run_id"]] * len(keys) + key_index[row["key"]]
        lo, hi = (
            (row["lo_step"], row["hi_step"]) if x == "step" else (row["lo_time"], row["hi_time"])
        )
        lo, hi = int(lo), int(hi)
        width = max(1, _ceil_div(hi - lo + 1, buckets))
        exact = int(row["row_count"]) == int(row["step_count"])  # never re-logged nor redelivered
        if x == "step" and exact and width >= ROLLUP_BLOCK:
            origin = lo - lo % ROLLUP_BLOCK
            width = _ceil_div(width, ROLLUP_BLOCK) * ROLLUP_BLOCK
            while (hi - origin) // width + 1 > buckets:  # aligning may add a bucket
                width += ROLLUP_BLOCK
            plan.rollup["origins"][i], plan.rollup["widths"][i] = origin, width
            end = (i + 1, int(row["hi_step"]), int(row["end_time"]), float(row["end_value"]))
            plan.ends.append(end)
        else:
            plan.points["origins"][i], plan.points["widths"][i] = lo, width
            plan.points["last_steps"][i] = int(row["hi_step"])
    return plan


def _query_points(client: Client, vis: Visibility, plan: _Plan, x: str) -> list[pd.DataFrame]:
    sql = _sql(_POINTS_SQL, vis.table("metric_points"), x)
    raw = _execute.frame(client, sql, plan.parameters(plan.points))
    if raw.shape[0] == 0:
        return []
    ends = raw[raw["has_last"].astype(bool)]
    last_steps = np.asarray(plan.points["last_steps"], dtype=np.int64)
    last = pd.DataFrame(
        {
            "series": ends["series"],
            "step": last_steps[ends["series"].to_numpy(dtype=np.int64) - 1],
            "time": ends["last_time"],
            "value": ends["last_value"],
        }
    )
    return [*_low_high(raw), last]


def _query_rollup(client: Client, vis: Visibility, plan: _Plan) -> list[pd.DataFrame]:
    sql = _sql(_ROLLUP_SQL, vis.table("metric_rollup"))
    raw = _execute.frame(client, sql, plan.parameters(plan.rollup))
    ends = pd.DataFrame(plan.ends, columns=_POINT_COLUMNS)
    return [*_low_high(raw), ends] if raw.shape[0] else [ends]


def _low_high(raw: pd.DataFrame) -> list[pd.DataFrame]:
    return [
        raw[["series", f"{side}_step", f"{side}_time", f"{side}_value"]].set_axis(
            _POINT_COLUMNS, axis=1
        )
        for side in ("low", "high")
    ]


def _assemble(frames: list[pd.DataFrame], plan: _Plan, x: str, buckets: bool) -> pd.DataFrame:
    """One row per distinct point, in series then x order (with its bucket if asked)."""
    points = pd.concat([f for f in frames if len(f)], ignore_index=True)
    points = points.drop_duplicates(["series", "step"])
    order = ["series", "step"] if x == "step" else ["series", "time", "step"]
    points = points.sort_values(order, kind="stable", ignore_index=True)
    names = [plan.name(i) for i in range(1, plan.size + 1)]
    index = points["series"].to_numpy(dtype=np.int64) - 1
    out = pd.DataFrame(
        {
            "run_id": np.array([n[0] for n in names], dtype=object)[index],
            "key": np.array([n[1] for n in names], dtype=object)[index],
            "step": points["step"].to_numpy(dtype=np.int64),
            "timestamp": pd.to_datetime(
                points["time"].to_numpy(dtype=np.int64), unit="ns", utc=True
            ),
            "value": points["value"].to_numpy(dtype=np.float64),
        }
    )
    if buckets:
        on_points = np.asarray(plan.points["widths"], dtype=np.int64) > 0
        origins = np.where(on_points, plan.points["origins"], plan.rollup["origins"])[index]
        widths = np.where(on_points, plan.points["widths"], plan.rollup["widths"])[index]
        axis = points["step" if x == "step" else "time"].to_numpy(dtype=np.int64)
        widths = np.maximum(widths, 1)
        out["bucket"] = (axis - origins) // widths
    return out


def metric_series(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    keys: Sequence[str],
    max_points: int = 1_000,
    x: Literal["step", "time"] = "step",
    smoothing: float | None = None,
    *,
    buckets: bool = False,
    database: str | None = None,
) -> pd.DataFrame:
    """Points of each (run, key) series, at most ``max_points`` per series, in x order.

    Columns: ``run_id, key, step, timestamp`` (UTC), ``value``, plus ``smoothed`` when
    ``smoothing`` (the EMA weight, in [0, 1)) is given, and with ``buckets`` the number of the
    x bucket each point stands for (a bucket's points span its min and max: a chart draws them
    as a band). Runs the caller may not see, and keys a run never logged, are simply absent.
    """
    _check(run_ids, keys, max_points, x)
    if smoothing is not None and not 0 <= smoothing < 1:
        raise ValidationError(
            f"smoothing must be in [0, 1), got {smoothing}", field="smoothing", rule="range"
        )
    columns = [*COLUMNS, *(["bucket"] if buckets else [])]
    columns += ["smoothed"] if smoothing is not None else []
    if not run_ids or not keys:
        return pd.DataFrame(columns=columns)
    vis = Visibility.load(client, caller, database)
    runs, wanted = list(dict.fromkeys(run_ids)), list(dict.fromkeys(keys))
    plan = _plan(client, vis, runs, wanted, (max_points - 1) // 2, x)
    if plan is None:
        return pd.DataFrame(columns=columns)
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = []
        if any(plan.points["widths"]):
            jobs.append(pool.submit(_query_points, client, vis, plan, x))
        if plan.ends:
            jobs.append(pool.submit(_query_rollup, client, vis, plan))
        frames = [frame for job in jobs for frame in job.result()]
    df = _assemble(frames, plan, x, buckets)
    if smoothing is not None:
        smoothed = np.empty(len(df))
        values = df["value"].to_numpy(dtype=np.float64)
        for index in df.groupby(["run_id", "key"], sort=False).indices.values():
            smoothed[index] = ema(values[index], smoothing)
        df["smoothed"] = smoothed
    return df


_AGAINST_SQL = """
SELECT run_id, key, bucket,
    argMin(step, value) AS low_step, argMin(x, value) AS low_x, min(value) AS low_value,
    argMax(step, value) AS high_step, argMax(x, value) AS high_x, max(value) AS high_value
FROM (
    SELECT y.run_id AS run_id, y.key AS key, y.step AS step, x.value AS x, y.value AS value,
        intDiv(y.step, intDiv(max(y.step) OVER (PARTITION BY y.run_id, y.key),
            {buckets:Int64}) + 1) AS bucket
    FROM (SELECT run_id, key, step, value FROM POINTS
          WHERE run_id IN (VISIBLE) AND key IN {keys:Array(String)}) AS y
    INNER JOIN (SELECT run_id, step, value FROM POINTS
          WHERE run_id IN (VISIBLE) AND key = {x_key:String}) AS x
    ON x.run_id = y.run_id AND x.step = y.step
)
GROUP BY run_id, key, bucket
"""
AGAINST_COLUMNS = ("run_id", "key", "step", "x", "value", "bucket")


def metric_against(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    keys: Sequence[str],
    x_key: str,
    max_points: int = 1_000,
    *,
    database: str | None = None,
) -> pd.DataFrame:
    """Each (run, key) series plotted against another metric of the same run (``epoch``,
    ``tokens``): the points of ``key`` joined with the point of ``x_key`` logged at the same
    step; steps where either is missing are left out.

    Downsampled like :func:`metric_series`: the steps are cut into at most ``(max_points - 1)
    // 2`` buckets per series, each keeping its lowest and highest point. Columns ``run_id,
    key, step, x`` (the ``x_key`` value), ``value, bucket``, in run, key, step order.
    """
    _check(run_ids, keys, max_points, "step")
    if not isinstance(x_key, str) or not x_key:
        raise ValidationError("x_key must name a metric", field="x_key", rule="required")
    if not run_ids or not keys:
        return pd.DataFrame(columns=list(AGAINST_COLUMNS))
    vis = Visibility.load(client, caller, database)
    visible = vis.visible_runs("run_id IN {runs:Array(String)}")
    sql = _AGAINST_SQL.replace("POINTS", vis.table("metric_points")).replace("VISIBLE", visible)
    parameters = {
        "runs": list(dict.fromkeys(run_ids)),
        "keys": list(dict.fromkeys(keys)),
        "x_key": x_key,
        "buckets": max(1, (max_points - 1) // 2),
        **vis.parameters,
    }
    raw = _execute.frame(client, sql, parameters)
    if raw.shape[0] == 0:
        return pd.DataFrame(columns=list(AGAINST_COLUMNS))
    sides = [
        raw[["run_id", "key", f"{side}_step", f"{side}_x", f"{side}_value", "bucket"]].set_axis(
            list(AGAINST_COLUMNS), axis=1
        )
        for side in ("low", "high")
    ]
    points = pd.concat(sides, ignore_index=True).drop_duplicates(["run_id", "key", "step"])
    points = points.astype({"step": np.int64, "x": np.float64, "value": np.float64})
    return points.sort_values(["run_id", "key", "step"], ignore_index=True)


# --- the portal's series reads: metric keys of runs, system metrics -------------------------


def metric_keys_of_runs(
    client: Client, caller: Caller, run_ids: Sequence[str], *, database: str | None = None
) -> tuple[str, ...]:
    """the metric keys any of these visible runs logged,
    sorted; cheap (the per-run summaries), so a chart can be requested before the comparison."""
    vis = Visibility.load(client, caller, database)
    sql = f"""
SELECT DISTINCT key FROM {vis.table("metric_summaries_current")}
WHERE run_id IN ({vis.visible_runs("run_id IN {runs:Array(String)}")})
ORDER BY key
"""
    rows = _execute.rows(client, sql, {"runs": list(run_ids), **vis.parameters})
    return tuple(row["key"] for row in rows)


def system_metric_series(
    client: Client,
    caller: Caller,
    run_id: str,
    *,
    max_points: int = 600,
    database: str | None = None,
) -> pd.DataFrame:
    """a visible run's system metrics (CPU, memory,
    GPU ...), averaged into at most ``max_points`` time buckets per metric and device.
    Columns: metric, device, timestamp, value."""
    vis = Visibility.load(client, caller, database)
    visible = vis.visible_runs("run_id = {run_id:String}")
    points = vis.table("system_metric_points")
    ms = "toUnixTimestamp64Milli(timestamp)"
    bound = f"FROM {points} WHERE run_id = {{run_id:String}}"
    sql = f"""
WITH (SELECT min({ms}) {bound}) AS lo, (SELECT max({ms}) {bound}) AS hi,
    greatest(toInt64(1), intDiv(hi - lo, {{buckets:UInt32}}) + 1) AS width
SELECT metric, device, fromUnixTimestamp64Milli(toInt64(min(at))) AS timestamp,
    avg(value) AS value
FROM (SELECT metric, device, {ms} AS at, value {bound} AND run_id IN ({visible}))
GROUP BY metric, device, intDiv(at - lo, width)
ORDER BY metric, device, timestamp
"""
    params = {"run_id": run_id, "buckets": max(2, max_points), **vis.parameters}
    return _execute.frame(client, sql, params)
