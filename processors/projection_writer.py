"""Writing a :class:`~domain.projections.Projection` to ClickHouse: one columnar insert per table.

Tables whose columns are all strings, numbers and times (the point tables among them) go as Arrow
built straight from the buffers' numpy arrays, strings dictionary-encoded per series
(:meth:`~domain.columns.ColumnBuffer.encoded`): no Python object per row. Building clickhouse-connect's
Native columns for a million points took ~0.27 s of the worker's CPU (lists of run ids, keys and
times, then encoding each), the Arrow table ~0.08 s. Other tables (arrays, maps, tuples, bytes)
keep the Native insert.

The writer never gives up on a batch: a failed write is retried with capped exponential backoff
until it succeeds (the store may be restarting). The caller acknowledges the Kafka offsets only
after :meth:`ProjectionWriter.write_until_done` returns, so a crash at any point leads to
redelivery, never to loss; redelivered rows collapse on the tables' identities.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
import structlog
from clickhouse_connect.driver.client import Client

from domain.columns import ColumnBuffer, Labels
from domain.ownership import Owner
from domain.projections import Projection
from domain.tables import Kind
from query import branches, ownership

log = structlog.get_logger(__name__)


# Synchronous: when an insert returns, the rows are in the table (26.x defaults to async inserts,
# which would let an acknowledgement run ahead of the data).
_SYNCHRONOUS = {"async_insert": 0}

_ARROW_TYPES = {
    Kind.INT: pa.int64(),
    Kind.UINT: pa.uint64(),
    Kind.FLOAT: pa.float64(),
    Kind.TIME: pa.timestamp("ns", tz="UTC"),
}


def arrow_table(buffer: ColumnBuffer) -> pa.Table:
    """The buffer's rows as an Arrow table (zero-copy over its arrays where numpy allows)."""
    arrays = []
    for name, column in buffer.encoded().items():
        if isinstance(column, Labels):
            arrays.append(
                pa.DictionaryArray.from_arrays(
                    pa.array(column.codes, pa.int32()), pa.array(column.values, pa.string())
                )
            )
        else:
            arrays.append(pa.array(column, _ARROW_TYPES[buffer.schema.kind(name)]))
    return pa.Table.from_arrays(arrays, names=list(buffer.schema.column_names))


@dataclass(frozen=True)
class WriteResult:
    rows: int
    tables: int
    seconds: float
    attempts: int


class ProjectionWriter:
    def __init__(
        self,
        client_factory: Callable[[], Client],
        database: str,
        *,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._client_factory = client_factory
        self._client: Client | None = None
        # The owners lookup for the next batch runs while this batch is written (pipelined), and
        # one client must not run two queries at once: it has its own.
        self._lookup_client: Client | None = None
        self.database = database
        self.max_backoff_s = max_backoff_s
        self.failing_since: float | None = None  # monotonic time of the first failure in a row

    def _get_client(self) -> Client:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def write(self, projection: Projection) -> int:
        """Insert every non-empty table of ``projection`` (blocking). Returns rows written."""
        client = self._get_client()
        done: list[tuple[str, int, int]] = []
        for run_id, to_step, sequence in projection.rewinds:
            # Before the insert: the batch's re-logged steps would replace the abandoned values.
            earlier = [(t, s) for r, t, s in done if r == run_id]
            branches.snapshot_abandoned(
                client, self.database, run_id, to_step, sequence, earlier=earlier
            )
            done.append((run_id, to_step, sequence))
        rows = 0
        for name, buffer in projection.nonempty().items():
            rows += buffer.rows
            if buffer.encodable:
                client.insert_arrow(
                    name, arrow_table(buffer), database=self.database, settings=_SYNCHRONOUS
                )
                continue
            client.insert(
                name,
                buffer.columns(),
                column_names=list(buffer.schema.column_names),
                database=self.database,
                column_oriented=True,
                settings=_SYNCHRONOUS,
            )
        return rows

    def run_owners(self, run_ids: Iterable[str]) -> dict[str, Owner]:
        """The owners the store knows for ``run_ids`` (blocking; see query/ownership.py)."""
        if self._lookup_client is None:
            self._lookup_client = self._client_factory()
        try:
            return ownership.run_owners(self._lookup_client, self.database, run_ids)
        except Exception:
            self._lookup_client = None  # reconnect next time
            raise

    async def write_until_done(self, projection: Projection) -> WriteResult:
        """Write, retrying forever with backoff; runs the blocking client in a worker thread."""
        started = time.monotonic()
        attempt = 0
        backoff = 0.25
        while True:
            attempt += 1
            try:
                rows = await asyncio.to_thread(self.write, projection)
            except Exception as exc:  # any store failure: the batch must not be skipped
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self._client = None  # reconnect on the next attempt
                log.warning(
                    "store write failed; retrying",
                    attempt=attempt,
                    error=str(exc)[:500],
                    backoff_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            self.failing_since = None
            return WriteResult(
                rows, len(projection.nonempty()), time.monotonic() - started, attempt
            )
