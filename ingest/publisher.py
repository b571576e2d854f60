"""Handing validated events to Kafka, with backpressure and acknowledgement.

The contract (:class:`Publisher`): :meth:`~Publisher.submit` waits until there is room, hands a
batch's records to the producer *in call order* and returns a future that completes when Kafka
has acknowledged every record (or fails with :class:`~cairn.errors.UnavailableError`). Ingest
acknowledges a batch to its client only after that future completes.

:class:`KafkaPublisher` is the real adapter: an aiokafka producer with idempotence and
``acks=all``, so a record acknowledged once is on every in-sync replica and producer retries never
duplicate or reorder a partition. Records of one aggregate share a key, hence a partition, hence
their order. Room is counted in bytes not yet acknowledged (``max_in_flight_bytes``) instead of
an unbounded queue; a caller that cannot get room waits, which stops its gRPC stream from
reading and lets HTTP/2 flow control push back on the client. :meth:`~Publisher.stop` drains:
everything submitted is acknowledged (or failed) before the producer closes.

:class:`InMemoryPublisher` is the fake for unit tests of the service; the contract tests in
``tests/integration`` run against the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from cairn_contract.errors import ConfigError, UnavailableError
from cairn_contract.event_types import IDENTITY_EVENT_TYPES
from domain.validation import EncodedEvent

# For consumers outside Cairn that route or filter records without decoding them (Kafka Connect
# predicates, kcat -f, a downstream service skipping event types it does not know): part of the
# topic contract in docs/events.md, "Topics". Cairn's processors decode every event and read the
# schema version from its envelope, so they do not read these.
EVENT_TYPE_HEADER = "cairn-event-type"
SCHEMA_VERSION_HEADER = "cairn-schema-version"


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def records_for(
    events: Sequence[EncodedEvent], *, events_topic: str, identity_topic: str
) -> list[OutgoingRecord]:
    """Kafka records for encoded events: identity events to the identity topic, the rest to the
    events topic; the event type and schema version travel as headers so consumers can route
    without decoding."""
    return [
        OutgoingRecord(
            topic=identity_topic if e.event_type in IDENTITY_EVENT_TYPES else events_topic,
            key=e.key.encode(),
            value=e.data,
            headers=(
                (EVENT_TYPE_HEADER, e.event_type.encode()),
                (SCHEMA_VERSION_HEADER, str(e.schema_version).encode()),
            ),
        )
        for e in events
    ]


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]: ...

    @property
    def in_flight_bytes(self) -> int: ...


class ByteBudget:
    """An async counting limit on bytes in flight; one request larger than the whole budget is
    admitted alone rather than never."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._changed = asyncio.Event()

    async def acquire(self, size: int) -> None:
        while self.used and self.used + size > self.capacity:
            self._changed.clear()
            await self._changed.wait()
        self.used += size

    def release(self, size: int) -> None:
        self.used -= size
        self._changed.set()


class KafkaPublisher:
    def __init__(
        self,
        bootstrap: str,
        *,
        max_in_flight_bytes: int,
        linger_ms: int,
        max_batch_bytes: int,
        max_request_bytes: int,
        compression: str | None,
        request_timeout_ms: int,
        client_id: str = "cairn-ingest",
    ) -> None:
        self._bootstrap = bootstrap
        self._budget = ByteBudget(max_in_flight_bytes)
        try:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=client_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=linger_ms,
                max_batch_size=max_batch_bytes,
                max_request_size=max_request_bytes,
                compression_type=compression,
                request_timeout_ms=request_timeout_ms,
            )
        except RuntimeError as exc:  # aiokafka: "Compression library for lz4 not found"
            raise ConfigError(
                f"Kafka compression {compression!r} is unavailable ({exc}); gzip needs nothing, "
                "lz4, snappy and zstd need the cramjam package",
                field="CAIRN_KAFKA_COMPRESSION",
            ) from exc
        self._settling: set[asyncio.Future[None]] = set()

    @property
    def in_flight_bytes(self) -> int:
        return self._budget.used

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise UnavailableError(f"cannot reach Kafka at {self._bootstrap}: {exc!r}") from exc

    async def stop(self) -> None:
        """Wait for every submitted record to be acknowledged, then close the producer."""
        if self._settling:
            await asyncio.wait(self._settling)
        await self._producer.stop()

    async def submit(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        size = sum(len(r.value) for r in records)
        await self._budget.acquire(size)
        try:
            deliveries = [
                await self._producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
                for r in records
            ]
        except KafkaError as exc:
            self._budget.release(size)
            raise UnavailableError(f"Kafka refused a batch: {exc!r}") from exc
        except BaseException:
            self._budget.release(size)
            raise
        settled = asyncio.ensure_future(self._settle(deliveries, size))
        self._settling.add(settled)
        settled.add_done_callback(self._settling.discard)
        return settled

    async def _settle(self, deliveries: list[asyncio.Future[object]], size: int) -> None:
        try:
            if deliveries:
                await asyncio.wait(deliveries)
            failures = [d.exception() for d in deliveries if d.exception() is not None]
        finally:
            self._budget.release(size)
        if failures:
            raise UnavailableError(f"Kafka did not acknowledge a batch: {failures[0]!r}")


class InMemoryPublisher:
    """Keeps records in a list. ``hold`` keeps acknowledgements back until ``release()``;
    ``fail_with`` makes every later submit's future fail (a broker outage)."""

    def __init__(self, max_in_flight_bytes: int = 64 << 20) -> None:
        self.records: list[OutgoingRecord] = []
        self.hold = False
        self.fail_with: Exception | None = None
        self._budget = ByteBudget(max_in_flight_bytes)
        self._held: list[tuple[asyncio.Future[None], int]] = []
        self._submitted = asyncio.Condition()

    @property
    def in_flight_bytes(self) -> int:
        return self._budget.used

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.release()

    async def submit(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        size = sum(len(r.value) for r in records)
        await self._budget.acquire(size)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_with is not None:
            future.set_exception(self.fail_with)
            self._budget.release(size)
            return future
        self.records.extend(records)
        self._held.append((future, size))
        if not self.hold:
            self.release()
        async with self._submitted:
            self._submitted.notify_all()
        return future

    async def wait_for_records(self, count: int) -> None:
        """Return once at least ``count`` records were submitted."""
        async with self._submitted:
            await self._submitted.wait_for(lambda: len(self.records) >= count)

    def release(self) -> None:
        held, self._held = self._held, []
        for future, size in held:
            self._budget.release(size)
            if not future.done():
                future.set_result(None)
