"""Reading many runs at once: ``MetricHistory``, ``CompareRuns``, ``DiffRuns`` and ``Export``."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from cairn_contract.v1 import query_pb2
from query import diffs
from query.compare import compare_runs
from query.export import export_batches, matching_run_ids
from query.history import buckets, check_request, point_batches
from queryservice import messages
from queryservice.rpc import ReadContext, Rpc, server_streaming, unary
from queryservice.runs import project_filter

CHUNK_POINTS = 50_000  # points per SeriesChunk when streaming every point


def metric_history(
    ctx: ReadContext, request: query_pb2.MetricHistoryRequest
) -> Iterator[query_pb2.SeriesChunk]:
    run_ids, keys = list(request.run_ids), list(request.keys)
    check_request(run_ids, keys, request.samples)
    if request.samples:
        found = buckets(
            ctx.client, ctx.caller, run_ids, keys, request.samples, database=ctx.database
        )
        for run_id, key, start, end in found.series:
            yield query_pb2.SeriesChunk(
                run_id=run_id,
                key=key,
                steps=found.step[start:end].tolist(),
                timestamps_ns=found.timestamp_ns[start:end].tolist(),
                values=found.value[start:end].tolist(),
                mins=found.min[start:end].tolist(),
                maxs=found.max[start:end].tolist(),
                counts=found.count[start:end].tolist(),
            )
        return
    for batch in point_batches(
        ctx.client, ctx.caller, run_ids, keys, database=ctx.database, max_rows=CHUNK_POINTS
    ):
        yield from _series_chunks(batch)


def _series_chunks(batch: pa.RecordBatch) -> Iterator[query_pb2.SeriesChunk]:
    """Split a batch ordered by (run, key, step) at series boundaries."""
    runs = batch.column("run_id").to_pylist()
    keys = batch.column("key").to_pylist()
    steps = batch.column("step").to_pylist()
    times = batch.column("timestamp").cast(pa.int64()).to_pylist()
    values = batch.column("value").to_pylist()
    start = 0
    while start < len(runs):
        end = start
        while end < len(runs) and runs[end] == runs[start] and keys[end] == keys[start]:
            end += 1
        yield query_pb2.SeriesChunk(
            run_id=runs[start],
            key=keys[start],
            steps=steps[start:end],
            timestamps_ns=times[start:end],
            values=values[start:end],
        )
        start = end


def compare(
    ctx: ReadContext, request: query_pb2.CompareRunsRequest
) -> query_pb2.CompareRunsResponse:
    result = compare_runs(ctx.client, ctx.caller, list(request.run_ids), database=ctx.database)
    return messages.comparison(result)


def diff(ctx: ReadContext, request: query_pb2.DiffRunsRequest) -> query_pb2.DiffRunsResponse:
    a, b = request.run_a, request.run_b
    args = (ctx.client, ctx.caller, a, b)
    code = diffs.diff_code(*args, database=ctx.database)
    environment = diffs.diff_environment(*args, database=ctx.database)
    datasets = diffs.diff_datasets(*args, database=ctx.database)
    compared = compare_runs(
        ctx.client, ctx.caller, [a, b] if a != b else [a], database=ctx.database
    )
    return messages.difference(code, environment, datasets, compared)


EXPORT_ROWS = 262_144  # rows per ExportChunk: fewer, larger messages cost less per point
# Bytes of Arrow data per ExportChunk, whatever the rows: the server sends at most 4 MiB per
# message (ingest/server.py) and gRPC clients in other languages receive at most 4 MiB by
# default, so a chunk stays under that with room for the IPC framing.
EXPORT_BYTES = 3 << 20


def _coalesced(
    batches: Iterator[tuple[str, pa.RecordBatch]], rows: int, max_bytes: int = EXPORT_BYTES
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Consecutive batches of the same table merged into batches of about ``rows`` rows (never
    more than ``rows`` plus one batch), so a message carries many of ClickHouse's blocks; and
    never more than ``max_bytes`` of Arrow data (a larger block is cut into slices), so a
    message always fits the gRPC message limit."""
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0
    table = ""

    def flush() -> pa.RecordBatch:
        nonlocal pending_bytes
        schema = pending[0].schema
        merged = pa.Table.from_batches(pending, schema=schema).combine_chunks().to_batches()
        pending.clear()
        pending_bytes = 0
        return merged[0] if merged else pa.RecordBatch.from_pylist([], schema=schema)

    for name, batch in batches:
        for piece in _slices(batch, max_bytes):
            size = piece.nbytes
            if pending and (
                name != table
                or sum(b.num_rows for b in pending) >= rows
                or pending_bytes + size > max_bytes
            ):
                yield table, flush()
            table = name
            pending.append(piece)
            pending_bytes += size
    if pending:
        yield table, flush()


def _slices(batch: pa.RecordBatch, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """``batch`` cut into consecutive slices of at most ``max_bytes`` each (by the batch's mean
    row size; a single row larger than that stays whole)."""
    if batch.nbytes <= max_bytes or batch.num_rows <= 1:
        yield batch
        return
    per_slice = max(1, batch.num_rows * max_bytes // batch.nbytes)
    for start in range(0, batch.num_rows, per_slice):
        yield batch.slice(start, per_slice)


def export(ctx: ReadContext, request: query_pb2.ExportRequest) -> Iterator[query_pb2.ExportChunk]:
    filter = project_filter(request.project, request.filter) or None
    ids = matching_run_ids(ctx.client, ctx.caller, filter, database=ctx.database)
    first = True
    batches = export_batches(ctx.client, ctx.caller, ids, database=ctx.database)
    for table, batch in _coalesced(batches, EXPORT_ROWS):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        yield query_pb2.ExportChunk(
            table=table,
            arrow_ipc=sink.getvalue().to_pybytes(),
            rows=batch.num_rows,
            total_runs=len(ids) if first else 0,
        )
        first = False


RPCS: tuple[Rpc, ...] = (
    server_streaming(
        "MetricHistory", query_pb2.MetricHistoryRequest, query_pb2.SeriesChunk, metric_history
    ),
    unary("CompareRuns", query_pb2.CompareRunsRequest, query_pb2.CompareRunsResponse, compare),
    unary("DiffRuns", query_pb2.DiffRunsRequest, query_pb2.DiffRunsResponse, diff),
    server_streaming("Export", query_pb2.ExportRequest, query_pb2.ExportChunk, export),
)
