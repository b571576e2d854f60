"""Export messages carry many of ClickHouse's blocks: consecutive batches of one table are merged
up to a row budget, never across tables, never losing or reordering a row (pure logic)."""

from __future__ import annotations

import pyarrow as pa

from queryservice.analysis import _coalesced

SCHEMA = pa.schema([("a", pa.int64())])


def _batch(start: int, rows: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([{"a": start + i} for i in range(rows)], schema=SCHEMA)


def test_batches_merge_within_a_table_up_to_the_budget_and_keep_every_row_in_order() -> None:
    source = [
        ("runs", _batch(0, 0)),
        ("params", _batch(0, 3)),
        ("metrics", _batch(0, 5)),
        ("metrics", _batch(5, 5)),
        ("metrics", _batch(10, 5)),
        ("tags", _batch(0, 2)),
    ]
    out = list(_coalesced(iter(source), 8))
    assert [(table, batch.num_rows) for table, batch in out] == [
        ("runs", 0),
        ("params", 3),
        ("metrics", 10),
        ("metrics", 5),
        ("tags", 2),
    ]
    metrics = [
        v for table, batch in out if table == "metrics" for v in batch.column("a").to_pylist()
    ]
    assert metrics == list(range(15))
    assert all(batch.schema == SCHEMA for _, batch in out)


def test_no_message_holds_more_than_the_byte_budget_and_no_row_is_lost() -> None:
    """ClickHouse's blocks of a long history can be larger than a gRPC message may be (4 MiB):
    a block is cut into slices and merged batches stop at the byte budget."""
    big = pa.RecordBatch.from_pydict({"a": pa.array(range(10_000), pa.int64())})  # 80,000 bytes
    source = [("metrics", big), ("metrics", _batch(10_000, 100)), ("tags", _batch(0, 2))]
    out = list(_coalesced(iter(source), 1_000_000, max_bytes=16_000))
    assert all(batch.nbytes <= 16_000 for _, batch in out)
    assert [table for table, _ in out].count("tags") == 1
    metrics = [
        v for table, batch in out if table == "metrics" for v in batch.column("a").to_pylist()
    ]
    assert metrics == list(range(10_100))
    assert len([t for t, _ in out if t == "metrics"]) == 6  # 80,800 bytes in 16,000-byte messages
