"""Column buffers (domain/columns.py): the rows a projection appends come out the same as Python
columns (the Native insert) and as encoded columns (the Arrow insert), in order, whatever mix of
per-row appends, series arrays and repeated values built them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from domain.columns import ColumnBuffer, Labels
from domain.tables import METRICS, TABLES_BY_NAME
from processors.projection_writer import arrow_table


def _buffer() -> ColumnBuffer:
    buffer = ColumnBuffer(METRICS)
    steps = np.arange(3, dtype=np.int64)
    buffer.extend(
        3, run_id="r1", key="loss", step=steps, timestamp=steps + 10,
        value=steps * 0.5, sequence=4,
    )  # fmt: skip
    buffer.append(run_id="r2", key="acc", step=7, timestamp=99, value=1.5, sequence=5)
    buffer.extend(
        2, run_id="r1", key=["acc", "loss"], step=[8, 9], timestamp=[1, 2],
        value=np.array([2.0, np.nan]), sequence=6,
    )  # fmt: skip
    return buffer


def test_encoded_columns_hold_the_same_rows_as_python_columns() -> None:
    buffer = _buffer()
    python = dict(zip(METRICS.column_names, buffer.columns(), strict=True))
    encoded = buffer.encoded()
    for name in ("run_id", "key"):
        labels = encoded[name]
        assert isinstance(labels, Labels)
        assert [labels.values[c] for c in labels.codes] == python[name]
        assert len(labels.values) == len(set(python[name]))  # each distinct string once
    assert python["run_id"] == ["r1", "r1", "r1", "r2", "r1", "r1"]
    assert python["key"] == ["loss", "loss", "loss", "acc", "acc", "loss"]
    for name in ("step", "timestamp", "sequence"):
        assert encoded[name].tolist() == list(python[name])
    np.testing.assert_array_equal(encoded["value"], python["value"])


def test_the_arrow_table_has_the_rows_and_the_stores_types() -> None:
    table = arrow_table(_buffer())
    assert table.num_rows == 6
    assert table.column("run_id").to_pylist() == ["r1", "r1", "r1", "r2", "r1", "r1"]
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert table.column("timestamp").cast(pa.int64()).to_pylist() == [10, 11, 12, 99, 1, 2]
    assert table.schema.field("sequence").type == pa.uint64()


def test_buffers_with_other_kinds_are_not_encodable() -> None:
    events = ColumnBuffer(TABLES_BY_NAME["events"])  # payload bytes: the Native insert
    assert not events.encodable
    with pytest.raises(TypeError, match="payload"):
        events.encoded()
