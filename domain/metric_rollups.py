"""Per-block rollups of metric points, computed from a series' packed arrays as it is projected.

Downsampling a long series reads ``metric_rollup`` (per run, key and block of :data:`BLOCK` steps:
the lowest and highest point) and ``metric_rollup_ends`` (per block: the point at the highest step
and the number of points) instead of the points: 64 times fewer rows (query/series.py,
query/history.py; the tables' DDL is in query/series_schema.py).

Until migration 12 the store computed these rows itself, with materialized views on ``metrics``.
Those two views were most of the cost of writing a point: inserting 1 M points took ~0.25 s into
``metrics`` alone, ~0.55 s with either view attached and ~0.87 s with everything (the two
per-series summaries and their step bitmaps together add ~0.05 s; docs/benchmarks.md). Here the
same rows come from numpy over arrays the projection already holds, at a few tens of
microseconds per series, and the store only appends them.

The rows are aggregate *partials*: the tables are ``AggregatingMergeTree`` with ``min``/``max`` of
tuples, which merge any number of partials of a block, in any order, to the same result, and give
the same result when a partial arrives twice (a redelivered batch, a resent event). ``points`` is
a sum and grows with a duplicate; readers use the rollups only for series whose row count equals
their distinct step count (``metric_bounds``), which a duplicate breaks too, so a redelivered
series is read from its points: slower, never wrong.

Ordering follows the engine's, so for numbers (infinities included) a rollup is the same whichever
side computed it (tests/query/integration/test_metric_rollups.py): tuples compare element by
element. NaN never wins a block's lowest or highest point while a number is in it; a block of only
NaN keeps NaN points. (The engine itself has no single rule for NaN there: grouping by run, key and
block, its ``max`` of tuples could return a NaN point over a number.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from domain.columns import ColumnBuffer
from domain.tables import Kind, TableSchema

BLOCK = 64  # steps per rollup row; steps are never negative (domain/validation.py)

METRIC_ROLLUP = TableSchema(
    "metric_rollup",
    (
        ("run_id", Kind.STR),
        ("key", Kind.LABEL),
        ("block", Kind.INT),
        ("low", Kind.TUPLE),  # (value, step, time in ns)
        ("high", Kind.TUPLE),
    ),
    identity=("run_id", "key", "block"),
    doc=f"Per run, metric key and block of {BLOCK} steps: lowest and highest point.",
)

METRIC_ROLLUP_ENDS = TableSchema(
    "metric_rollup_ends",
    (
        ("run_id", Kind.STR),
        ("key", Kind.LABEL),
        ("block", Kind.INT),
        ("last", Kind.TUPLE),  # (step, time in ns, value)
        ("points", Kind.UINT),
    ),
    identity=("run_id", "key", "block"),
    doc=f"Per run, metric key and block of {BLOCK} steps: last point, row count.",
)

ROLLUP_TABLES = (METRIC_ROLLUP, METRIC_ROLLUP_ENDS)

_Array = np.ndarray[Any, Any]


def add_event(
    rollup: ColumnBuffer,
    ends: ColumnBuffer,
    run_id: str,
    keys: list[str],
    steps: list[_Array],
    times: list[_Array],
    values: list[_Array],
) -> None:
    """Append the rollup partials of one event's series (per series: equal-length int64 steps
    and ns times, float64 values) to the two buffers: one row per series and block it touches.

    The usual event (every series' steps ascending, no NaN) is done in one pass over all its
    points, a few numpy calls whatever the number of series; any other falls back to sorting
    each series (:func:`add_series`)."""
    lengths = [len(s) for s in steps]
    if not any(lengths):
        return
    all_steps, all_values = np.concatenate(steps), np.concatenate(values)
    series = np.repeat(np.arange(len(keys)), lengths)
    boundary = series[1:] != series[:-1]
    if not np.all((all_steps[1:] > all_steps[:-1]) | boundary) or np.isnan(all_values).any():
        for key, s, t, v in zip(keys, steps, times, values, strict=True):
            add_series(rollup, ends, run_id, key, s, t, v)
        return
    blocks = all_steps // BLOCK
    starts = np.flatnonzero(np.r_[True, (blocks[1:] != blocks[:-1]) | boundary])
    rows = _in_step_order(blocks, all_values, starts)
    row_keys = [keys[i] for i in series[starts].tolist()]
    _append(rollup, ends, run_id, row_keys, all_steps, np.concatenate(times), all_values, rows)


def add_series(
    rollup: ColumnBuffer,
    ends: ColumnBuffer,
    run_id: str,
    key: str,
    steps: _Array,
    times: _Array,
    values: _Array,
) -> None:
    """Append the rollup partials of one series (equal-length int64 steps and ns times, float64
    values; any order, NaN allowed) to the two buffers: one row per block the series touches."""
    if len(steps) == 0:
        return
    _append(rollup, ends, run_id, key, steps, times, values, _any_order(steps, times, values))


_Rows = tuple[_Array, _Array, _Array, _Array, _Array]  # blocks; low, high, last indices; counts


def _append(
    rollup: ColumnBuffer,
    ends: ColumnBuffer,
    run_id: str,
    key: str | list[str],
    steps: _Array,
    times: _Array,
    values: _Array,
    rows: _Rows,
) -> None:
    block_ids, low, high, last, counts = rows
    rollup.extend(
        len(block_ids),
        run_id=run_id,
        key=key,
        block=block_ids,
        low=_tuples(low, values, steps, times),
        high=_tuples(high, values, steps, times),
    )
    ends.extend(
        len(block_ids),
        run_id=run_id,
        key=key,
        block=block_ids,
        last=list(
            zip(steps[last].tolist(), times[last].tolist(), values[last].tolist(), strict=True)
        ),
        points=counts.astype(np.uint64),
    )


def _in_step_order(blocks: _Array, values: _Array, starts: _Array) -> _Rows:
    """Series in step order without NaN, without sorting: ``starts`` are the first items of the
    groups (a block of one series); the first of a group's lowest values has its lowest step,
    the last of its highest values its highest step, and its last item is its last point."""
    counts = np.diff(np.r_[starts, len(values)])
    group = np.repeat(np.arange(len(starts)), counts)
    lows = np.flatnonzero(values == np.repeat(np.minimum.reduceat(values, starts), counts))
    highs = np.flatnonzero(values == np.repeat(np.maximum.reduceat(values, starts), counts))
    first_low = lows[np.r_[True, group[lows][1:] != group[lows][:-1]]]
    last_high = highs[np.r_[group[highs][1:] != group[highs][:-1], True]]
    return blocks[starts], first_low, last_high, np.r_[starts[1:], len(values)] - 1, counts


def _any_order(steps: _Array, times: _Array, values: _Array) -> _Rows:
    """Any series: sorted by block, then as the tuples compare (NaN below or above every number,
    whichever keeps it from winning)."""
    blocks = steps // BLOCK
    nan = np.isnan(values)
    # lexsort's last key is the primary one.
    low_order = np.lexsort((times, steps, values, nan, blocks))
    grouped = blocks[low_order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    stops = np.r_[starts[1:], len(steps)] - 1
    high_order = np.lexsort((times, steps, np.where(nan, -np.inf, values), ~nan, blocks))
    last_order = np.lexsort((values, times, steps, blocks))
    counts = np.diff(np.r_[starts, len(steps)])
    return grouped[starts], low_order[starts], high_order[stops], last_order[stops], counts


def _tuples(at: _Array, *columns: _Array) -> list[tuple[Any, ...]]:
    """The rows ``at`` of ``columns`` as Python tuples (the tables' tuple columns)."""
    return list(zip(*(column[at].tolist() for column in columns), strict=True))
