"""The processors' rollup partials (domain/metric_rollups.py) against the engine's own definition of
the same rows (the materialized views' SELECTs in query/series_schema.py, which migration 12
retired): for any points, both give every block the same lowest, highest and last point and the
same count, so a chart reads the same whichever side computed its rollup.

Values here are numbers, infinities included, but not NaN: for NaN the engine has no single answer
to compare with (grouping by run, key and block, ``max`` of tuples can return a NaN point that
grouping by the run alone does not), so NaN handling is pinned by tests/unit/test_metric_rollups.py
instead: a NaN never wins a block while a number is there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.columns import ColumnBuffer
from domain.metric_rollups import METRIC_ROLLUP, METRIC_ROLLUP_ENDS, add_event, add_series
from query.series_schema import _ROLLUP_ENDS_SELECT, _ROLLUP_SELECT
from query.sql import quote_identifier as q
from tests.query.integration.conftest import World

_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0]),  # ties, so the step and time decide
)


@pytest.fixture(scope="module")
def scratch(world: World) -> Iterator[tuple[Client, str]]:
    admin = world.client()
    database = f"rollups_{uuid.uuid4().hex[:8]}"
    admin.command(f"CREATE DATABASE {q(database)}")
    admin.command(
        f"CREATE TABLE {q(database)}.metrics (run_id String, key LowCardinality(String),"
        " step Int64, timestamp DateTime64(9, 'UTC'), value Float64) ENGINE = Memory"
    )
    try:
        yield admin, database
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {q(database)} SYNC")


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, tuple):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    return bool(ours == theirs)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 400), _VALUES, st.integers(0, 5)),
        min_size=1,
        max_size=120,
        unique_by=lambda point: point[0],  # a series has each step once (domain/validation.py)
    )
)
def test_processor_rollups_equal_the_engines(
    scratch: tuple[Client, str], points: list[tuple[int, float, int]]
) -> None:
    client, database = scratch
    client.command(f"TRUNCATE TABLE {q(database)}.metrics")
    steps = np.array([p[0] for p in points], dtype=np.int64)
    values = np.array([p[1] for p in points], dtype=np.float64)
    times = np.array([1_700_000_000_000_000_000 + p[2] for p in points], dtype=np.int64)
    client.insert(
        "metrics",
        [
            ["r", "loss", s, t, v]
            for s, t, v in zip(steps.tolist(), times.tolist(), values.tolist(), strict=False)
        ],
        column_names=["run_id", "key", "step", "timestamp", "value"],
        database=database,
    )
    # Both ways the processors compute them: any order (sorting), and an event's series in step
    # order without NaN (one pass).
    computed = []
    rollup, ends = ColumnBuffer(METRIC_ROLLUP), ColumnBuffer(METRIC_ROLLUP_ENDS)
    add_series(rollup, ends, "r", "loss", steps, times, values)
    computed.append((rollup, ends))
    order = np.argsort(steps)
    rollup, ends = ColumnBuffer(METRIC_ROLLUP), ColumnBuffer(METRIC_ROLLUP_ENDS)
    add_event(rollup, ends, "r", ["loss"], [steps[order]], [times[order]], [values[order]])
    computed.append((rollup, ends))

    for select, which in ((_ROLLUP_SELECT, 0), (_ROLLUP_ENDS_SELECT, 1)):
        sql = select.replace("{db}", q(database)).replace("{local}", "")
        engine = {row[2]: row[3:] for row in client.query(sql).result_rows}
        for buffers in computed:
            ours = {row[2]: row[3:] for row in zip(*buffers[which].columns(), strict=True)}
            assert sorted(ours) == sorted(engine), "the same blocks"
            for block, row in ours.items():
                assert _same(tuple(row), tuple(engine[block])), (block, row, engine[block])
