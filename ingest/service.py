"""The ``cairn.v1.Ingest`` servicer: batches in, Kafka-acknowledged acks out.

Every batch takes the same path: parse (bytes are decoded here, not by gRPC, so malformed bytes
become INVALID_ARGUMENT instead of an internal error), validate, authorise and stamp the
server-owned envelope fields, serialize, hand to the publisher, and acknowledge only once Kafka
has acknowledged every event. A batch is accepted whole or rejected whole.

``Append`` answers a rejection with the gRPC status from ``ingest/status_codes.py`` plus
google.rpc details. ``Publish`` keeps the stream open and reports the rejection in that batch's
Ack, so one bad batch does not cost the SDK its stream. Publish pipelines: it reads the next
batch while earlier ones wait for Kafka, up to ``max_in_flight_batches_per_stream``; acks go out
strictly in the order batches came in.

Shutting down, :meth:`IngestService.drain` ends every Publish stream between two batches: the
batches already read get their acks, then the call ends and the SDK reconnects (to another
replica, or to this one once it is back) from its spool's watermark, losing nothing. Waiting for
clients to half-close instead would hold a shutdown for the whole grace period.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from cairn_contract.errors import CairnError, UnavailableError
from cairn_contract.v1 import events_pb2, ingest_pb2
from domain.identity import AuthenticatedKey, IdentityRegistry
from domain.ownership import check_batch
from domain.validation import BatchSummary, BatchValidator
from domain.webhook_targets import TargetPolicy
from domain.write_authorization import (
    authorize_and_stamp,
    authorize_identity,
    ownership_error,
    stamp_bytes,
)
from ingest.auth import current_caller
from ingest.ingest_metrics import IngestMetrics
from ingest.ownership_log import InMemoryOwnership, OwnershipStore
from ingest.publisher import Publisher, records_for
from ingest.settings import IngestSettings
from ingest.status_codes import rejection, rich_status
from ingest.webhook_rules import prepare_webhooks
from servicekit.secret_box import box_from

log = structlog.get_logger(__name__)

# Identity refusals that a replica lagging behind the identity topic could give wrongly.
_LAGGING_RULES = frozenset({"key_exists", "member_of_team"})

SERVICE_NAME = "cairn.v1.Ingest"


@dataclass(slots=True)
class _Accepted:
    """A batch handed to the publisher, waiting for Kafka."""

    batch_id: int
    summary: BatchSummary
    delivered: asyncio.Future[None]
    size: int
    started: float


_StreamItem = _Accepted | ingest_pb2.Ack | None


class _Rejected(Exception):
    """A batch was rejected; carries the error and the batch id when it could be read."""

    def __init__(self, error: CairnError, batch_id: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.batch_id = batch_id


class IngestService:
    def __init__(
        self,
        settings: IngestSettings,
        publisher: Publisher,
        metrics: IngestMetrics,
        *,
        registry: IdentityRegistry | None = None,
        ownership: OwnershipStore | None = None,
        clock: Callable[[], int] = time.time_ns,
        identity_catch_up: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``identity_catch_up`` (the identity log's :meth:`~ingest.identity_log.IdentityLog.
        catch_up`) is awaited before refusing an identity batch for a key or member this replica
        has not read yet, so identity writes read their own earlier writes."""
        self._settings = settings
        self._registry = registry or IdentityRegistry()
        self._ownership: OwnershipStore = ownership or InMemoryOwnership()
        self._validator = BatchValidator(settings.limits)
        self._secret_box = box_from(settings.automations_secret_key)
        self._webhook_policy = TargetPolicy.from_setting(settings.webhook_allowed_networks)
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._identity_catch_up = identity_catch_up
        self._draining = asyncio.Event()

    def drain(self) -> None:
        """End open Publish streams after the batches they already read (see the module doc)."""
        self._draining.set()

    def rpc_handler(self) -> grpc.GenericRpcHandler:
        serialize = ingest_pb2.Ack.SerializeToString
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Publish": grpc.stream_stream_rpc_method_handler(
                    self.publish, request_deserializer=None, response_serializer=serialize
                ),
                "Append": grpc.unary_unary_rpc_method_handler(
                    self.append, request_deserializer=None, response_serializer=serialize
                ),
            },
        )

    # -- the RPCs -------------------------------------------------------------------------------

    async def append(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.Ack:
        caller = current_caller.get()
        _bind_call_context(caller, "Append")
        try:
            accepted = await self._accept(request, caller)
            return await self._settle(accepted)
        except (_Rejected, CairnError) as exc:
            error = exc.error if isinstance(exc, _Rejected) else exc
            self.record_rejection(error)
            await context.abort_with_status(rich_status(error))

    async def publish(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        caller = current_caller.get()
        _bind_call_context(caller, "Publish")
        queue: asyncio.Queue[_StreamItem] = asyncio.Queue(
            maxsize=self._settings.max_in_flight_batches_per_stream
        )
        writer = asyncio.create_task(self._write_acks(queue, context), name="publish-acks")
        self._metrics.open_streams.inc()
        try:
            async for request in _until(requests, self._draining):
                item: _StreamItem
                try:
                    item = await self._accept(request, caller)
                except _Rejected as exc:
                    self.record_rejection(exc.error)
                    item = ingest_pb2.Ack(batch_id=exc.batch_id, rejection=rejection(exc.error))
                await queue.put(item)  # waits while too many batches are in flight
                if writer.done():
                    break
            await queue.put(None)
            await writer
        finally:
            self._metrics.open_streams.dec()
            if not writer.done():
                writer.cancel()

    # -- one batch ------------------------------------------------------------------------------

    async def _accept(self, request: bytes, caller: AuthenticatedKey) -> _Accepted:
        """Check the batch and hand it to the publisher (waiting for room); _Rejected if not."""
        started = time.perf_counter()
        now = self._clock()
        batch_id = 0
        try:
            batch = self._validator.parse(request)
            batch_id = batch.batch_id
            summary = self._validator.check(batch, now_ns=now)
            authorize_and_stamp(batch, caller, now_ns=now)
            await self._authorize_identity(batch)
            await self._check_ownership(batch)
            prepare_webhooks(batch, self._secret_box, self._webhook_policy)
            encoded = self._validator.encode(batch, received=request, stamp=stamp_bytes)
            records = records_for(
                encoded,
                events_topic=self._settings.events_topic,
                identity_topic=self._settings.identity_topic,
            )
            delivered = await self._publisher.submit(records)
        except CairnError as exc:
            raise _Rejected(exc, batch_id) from exc
        self._metrics.in_flight_bytes.set(self._publisher.in_flight_bytes)
        return _Accepted(batch.batch_id, summary, delivered, len(request), started)

    async def _authorize_identity(self, batch: events_pb2.EventBatch) -> None:
        """:func:`authorize_identity`; a refusal for a key or member not known here is decided
        again once this replica has read the identity topic up to now (an admin's key issued or
        member added a moment ago, possibly through another replica, counts)."""
        try:
            authorize_identity(batch, self._registry)
        except CairnError as exc:
            if self._identity_catch_up is None or exc.rule not in _LAGGING_RULES:
                raise
            try:
                await self._identity_catch_up()
            except (TimeoutError, CairnError):
                raise exc from None
            authorize_identity(batch, self._registry)

    async def _check_ownership(self, batch: events_pb2.EventBatch) -> None:
        """Refuse events for aggregates another team owns; record first claims in the ownership
        log and check again once it is read back (the log's order decides races)."""
        claims, violation = check_batch(batch.events, self._ownership.owners)
        if violation is None and claims:
            await self._ownership.record(claims)
            _, violation = check_batch(batch.events, self._ownership.owners)
        if violation is not None:
            raise ownership_error(*violation)

    async def _settle(self, accepted: _Accepted) -> ingest_pb2.Ack:
        """Wait for Kafka; raise UnavailableError if it did not acknowledge the batch."""
        try:
            await accepted.delivered
        except CairnError:
            raise
        except Exception as exc:
            raise UnavailableError(f"Kafka did not acknowledge the batch: {exc!r}") from exc
        finally:
            self._metrics.in_flight_bytes.set(self._publisher.in_flight_bytes)
        summary = accepted.summary
        metrics = self._metrics
        metrics.batches.inc()
        metrics.points.inc(summary.points)
        metrics.bytes.inc(accepted.size)
        for event_type in summary.event_types:
            metrics.events.labels(event_type).inc()
        metrics.latency.observe(time.perf_counter() - accepted.started)
        return ingest_pb2.Ack(
            batch_id=accepted.batch_id,
            accepted_events=summary.events,
            highest_sequence=summary.highest_sequence,
        )

    async def _write_acks(
        self, queue: asyncio.Queue[_StreamItem], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Send acks in batch order. After a failed write (the client went away) keep draining
        the queue, so the reader never blocks on a full queue, then re-raise."""
        failure: BaseException | None = None
        while (item := await queue.get()) is not None:
            if isinstance(item, _Accepted):
                try:
                    ack = await self._settle(item)
                except CairnError as exc:
                    self.record_rejection(exc)
                    ack = ingest_pb2.Ack(batch_id=item.batch_id, rejection=rejection(exc))
            else:
                ack = item
            if failure is None:
                try:
                    await context.write(ack)
                except Exception as exc:
                    failure = exc
        if failure is not None:
            raise failure

    def record_rejection(self, exc: CairnError) -> None:
        self._metrics.rejected.labels(exc.code.value, exc.rule or "").inc()
        log.info(
            "batch rejected", code=exc.code.value, rule=exc.rule, field=exc.field, error=exc.message
        )


async def _until(requests: AsyncIterator[bytes], stop: asyncio.Event) -> AsyncIterator[bytes]:
    """``requests`` until ``stop`` is set; a request already read when it is set is still given."""
    if stop.is_set():
        return
    stopped = asyncio.ensure_future(stop.wait())
    iterator = aiter(requests)
    try:
        while True:
            following = asyncio.ensure_future(anext(iterator))
            await asyncio.wait((following, stopped), return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                return
            try:
                request = following.result()
            except StopAsyncIteration:
                return
            yield request
    finally:
        stopped.cancel()


def _bind_call_context(caller: AuthenticatedKey, method: str) -> None:
    """Log lines of this call carry who is calling and a request id (each call runs in its own
    task, so its context variables are its own)."""
    structlog.contextvars.bind_contextvars(
        request_id=uuid.uuid4().hex[:16], method=method, key_id=caller.key_id, team=caller.team
    )
