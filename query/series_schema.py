"""Tables that make downsampling cheap: series ranges and a 64-step rollup, kept current on insert.

``metric_bounds`` (one row per run and key after merges): the step and time range of each
series, the number of rows ever inserted and the set of distinct steps (a bitmap), and the
point at the highest step. Downsampling into equal buckets needs the range before it reads a
point; the row count against the distinct steps says whether a series was ever re-logged or
redelivered (``rows > steps``).

``metric_rollup``: per run, key and block of 64 steps, the lowest and highest point as
``(value, step, time)`` tuples (min and max of a tuple order by value first). Downsampling a
long series to buckets that are whole blocks reads 64 times fewer rows. It is exact only for
series without re-logged steps, because min and max cannot forget a value a later re-log
replaced; :mod:`query.series` uses it only when ``rows == steps`` and reads the points (each
once, ``FINAL``) otherwise.

``metric_rollup_ends`` completes the rollup for the query service's downsampled histories
(:func:`query.history.buckets`), whose buckets give the last point and the number of points
besides the lowest and highest value: per run, key and block, the point at the block's highest
step as ``(step, time, value)`` (the max of a tuple orders by step first) and the number of rows.
Like the rollup it is exact only for series that were never re-logged, and is used only for them.

``metric_bounds`` is fed by a materialized view on ``metrics`` with aggregates that duplicate inserts
cannot change (min, max, bitmap union; the row count only grows, which sends a series to the exact
path), and backfilled by the migration; rows inserted while it runs may be counted twice, which
errs the same safe way. The two rollups were fed the same way until migration 12
(``rollups_from_processors``) dropped their views: the processors now compute their rows from the
packed arrays and insert them with the points (domain/metric_rollups.py has the reason and the
figures). Whatever writes ``metrics`` directly (benchmark seeders) fills them afterwards with
:data:`ROLLUP_BACKFILL`. Like ``metric_summaries`` they hold nothing of their own: a replay
rebuilds them (``query/rebuild.py`` lists them among the swapped tables).
"""

from __future__ import annotations

from domain.metric_rollups import BLOCK as ROLLUP_BLOCK
from query.ddl import DropView, MaterializedView, RawSQL, Statement, Table

_TIME = "DateTime64(9, 'UTC')"
_POINT = "Tuple(Float64, Int64, Int64)"  # (value, step, time in ns)

METRIC_BOUNDS = Table(
    name="metric_bounds",
    columns=(
        ("run_id", "String"),
        ("key", "LowCardinality(String)"),
        ("min_step", "SimpleAggregateFunction(min, Int64)"),
        ("max_step", "SimpleAggregateFunction(max, Int64)"),
        ("min_time", f"SimpleAggregateFunction(min, {_TIME})"),
        ("max_time", f"SimpleAggregateFunction(max, {_TIME})"),
        ("rows", "SimpleAggregateFunction(sum, UInt64)"),
        ("steps", "AggregateFunction(groupBitmap, UInt64)"),
        ("last_value", "AggregateFunction(argMax, Float64, Int64)"),
        ("last_time", f"AggregateFunction(argMax, {_TIME}, Int64)"),
    ),
    engine="AggregatingMergeTree",
    order_by=("run_id", "key"),
    comment="Per run and metric key: step and time range, rows, distinct steps, last point.",
)

_BOUNDS_SELECT = (
    "SELECT run_id, key, min(step) AS min_step, max(step) AS max_step,"
    " min(timestamp) AS min_time, max(timestamp) AS max_time, count() AS rows,"
    " groupBitmapState(toUInt64(step)) AS steps, argMaxState(value, step) AS last_value,"
    " argMaxState(timestamp, step) AS last_time"
    " FROM {db}.metrics{local} GROUP BY run_id, key"
)

METRIC_ROLLUP = Table(
    name="metric_rollup",
    columns=(
        ("run_id", "String"),
        ("key", "LowCardinality(String)"),
        ("block", "Int64"),
        ("low", f"SimpleAggregateFunction(min, {_POINT})"),
        ("high", f"SimpleAggregateFunction(max, {_POINT})"),
    ),
    engine="AggregatingMergeTree",
    order_by=("run_id", "key", "block"),
    comment=f"Per run, metric key and block of {ROLLUP_BLOCK} steps: lowest and highest point.",
)

_ROLLUP_SELECT = (
    f"SELECT run_id, key, intDiv(step, {ROLLUP_BLOCK}) AS block,"
    " min((value, step, toUnixTimestamp64Nano(timestamp))) AS low,"
    " max((value, step, toUnixTimestamp64Nano(timestamp))) AS high"
    " FROM {db}.metrics{local} GROUP BY run_id, key, block"
)


METRIC_ROLLUP_ENDS = Table(
    name="metric_rollup_ends",
    columns=(
        ("run_id", "String"),
        ("key", "LowCardinality(String)"),
        ("block", "Int64"),
        ("last", "SimpleAggregateFunction(max, Tuple(Int64, Int64, Float64))"),
        ("points", "SimpleAggregateFunction(sum, UInt64)"),
    ),
    engine="AggregatingMergeTree",
    order_by=("run_id", "key", "block"),
    comment=f"Per run, metric key and block of {ROLLUP_BLOCK} steps: last point, row count.",
)

_ROLLUP_ENDS_SELECT = (
    f"SELECT run_id, key, intDiv(step, {ROLLUP_BLOCK}) AS block,"
    " max((step, toUnixTimestamp64Nano(timestamp), value)) AS last, count() AS points"
    " FROM {db}.metrics{local} GROUP BY run_id, key, block"
)


def _backfill(table: str, columns: str, select: str) -> RawSQL:
    return RawSQL(f"INSERT INTO {{db}}.{table} ({columns}) " + select.replace("{local}", ""))


SERIES_STATEMENTS: tuple[Statement, ...] = (
    METRIC_BOUNDS,
    MaterializedView("metric_bounds_mv", "metric_bounds", _BOUNDS_SELECT),
    _backfill(
        "metric_bounds",
        "run_id, key, min_step, max_step, min_time, max_time, rows, steps, last_value, last_time",
        _BOUNDS_SELECT,
    ),
    METRIC_ROLLUP,
    MaterializedView("metric_rollup_mv", "metric_rollup", _ROLLUP_SELECT),
    _backfill("metric_rollup", "run_id, key, block, low, high", _ROLLUP_SELECT),
)

ROLLUP_ENDS_STATEMENTS: tuple[Statement, ...] = (
    METRIC_ROLLUP_ENDS,
    MaterializedView("metric_rollup_ends_mv", "metric_rollup_ends", _ROLLUP_ENDS_SELECT),
    _backfill("metric_rollup_ends", "run_id, key, block, last, points", _ROLLUP_ENDS_SELECT),
)

# Migration 12: the processors write the rollups' rows themselves (domain/metric_rollups.py).
ROLLUPS_FROM_PROCESSORS_STATEMENTS: tuple[Statement, ...] = (
    DropView("metric_rollup_mv"),
    DropView("metric_rollup_ends_mv"),
)


# For code that writes ``metrics`` directly instead of through a projection (the benchmarks' bulk
# seeders): fills both rollups from the stored points ``where`` selects (SQL over ``metrics``'
# columns, written by the caller, never from user input). Run once per set of points, after they
# are in: running it twice adds every block's point count again, which sends the series to the
# exact path (see above).
def rollup_backfill(where: str = "1") -> tuple[Statement, ...]:
    def scoped(select: str) -> str:
        return select.replace(" GROUP BY", f" WHERE {where} GROUP BY", 1)

    return (
        _backfill("metric_rollup", "run_id, key, block, low, high", scoped(_ROLLUP_SELECT)),
        _backfill(
            "metric_rollup_ends", "run_id, key, block, last, points", scoped(_ROLLUP_ENDS_SELECT)
        ),
    )
