"""The faust application: built by :func:`create_app` from settings, never at import time.

One agent, ``project_events``, reads the event and identity topics in batches (``noack_take``:
up to ``flush_max_events`` events or ``flush_interval_s``), projects them, writes the rows to
ClickHouse, sends poison events to the dead-letter topic, and only then acknowledges the batch.
A batch is projected and written in parts of at most ``flush_max_bytes`` of events each
(:func:`byte_bounded`), in log order, each part acknowledged after its write.
Projecting the next batch overlaps the write of the last one (``pipelined``); writes and
acknowledgements stay one at a time and in order.
Aggregate ownership is enforced again here (domain/ownership.py): an event for a run, model or
view another team owns is poison, whatever wrote it to Kafka. Events of one aggregate share a
partition, hence a worker, so the owners this worker projected plus the store's are complete.
Faust commits only acknowledged offsets, so a commit never covers a write that did not happen.

Stopping (SIGTERM, ``cairn down``) commits what was acknowledged and leaves the events read
ahead but not yet written to the next start, which reads them again from the committed offsets
(the tables deduplicate them): working through the read-ahead first took longer than any stop
grace under a backlog (:class:`ProjectingApp`). A rebalance still waits for the batch in hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, cast

import faust
import structlog
from faust.types import EventT
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from domain.ownership import AggregateOwners, Claim, ownership_key
from domain.projections import LogPosition, PoisonEvent, Projection, decode
from processors import automations
from processors.processor_metrics import ProcessorMetrics
from processors.settings import ProcessorsSettings

log = structlog.get_logger(__name__)

DeadLetter = Callable[[bytes, bytes | None, str, LogPosition], Awaitable[None]]


class Writer(Protocol):
    failing_since: float | None

    async def write_until_done(self, projection: Projection) -> Any: ...


@dataclass
class BatchOutcome:
    projection: Projection
    poison: list[tuple[Any, str]] = field(default_factory=list)


def project_batch(events: list[Any], owners: AggregateOwners | None = None) -> BatchOutcome:
    """Project faust events (raw values); poison ones are set aside with their reason. With
    ``owners``, events breaking aggregate ownership (domain/ownership.py) are poison too."""
    outcome = BatchOutcome(Projection())
    for event in events:
        message = event.message
        position = LogPosition(message.topic, message.partition, message.offset)
        try:
            outcome.projection.add(message.value, position, owners)
        except PoisonEvent as poison:
            outcome.poison.append((event, poison.reason))
    return outcome


async def load_owners(events: list[Any], writer: Writer, owners: AggregateOwners) -> None:
    """Fill ``owners`` with the store's owners of the batch's runs not seen since start-up."""
    lookup = getattr(writer, "run_owners", None)
    if lookup is None:
        return
    missing: set[str] = set()
    for event in events:
        try:
            decoded = decode(event.message.value)
        except PoisonEvent:
            continue
        key = ownership_key(decoded)
        if key is not None and key.startswith("run:") and key not in owners:
            missing.add(decoded.envelope.aggregate_id)
    if missing:
        known = await asyncio.to_thread(lookup, missing)
        for key, owner in known.items():
            owners.apply(Claim(key, owner.team, owner.created_by))


async def prepare_batch(
    events: list[Any], writer: Writer, owners: AggregateOwners | None = None
) -> BatchOutcome:
    """Project a batch (after looking up the store's owners of its runs): no write yet."""
    if owners is not None:
        await load_owners(events, writer, owners)
    return project_batch(events, owners)


async def finish_batch(
    outcome: BatchOutcome, writer: Writer, dead_letter: DeadLetter, metrics: ProcessorMetrics
) -> None:
    """Write a projected batch (until it succeeds) and dead-letter its poison events."""
    if outcome.projection.events:
        result = await writer.write_until_done(outcome.projection)
        metrics.write_seconds.observe(result.seconds)
        metrics.rows.inc(result.rows)
    for event, reason in outcome.poison:
        message = event.message
        position = LogPosition(message.topic, message.partition, message.offset)
        await dead_letter(message.value, message.key, reason, position)
        log.warning(
            "poison event sent to dead-letter topic",
            reason=reason,
            topic=position.topic,
            partition=position.partition,
            offset=position.offset,
        )
    metrics.events.inc(outcome.projection.events)
    metrics.points.inc(outcome.projection.points)
    metrics.poison.inc(len(outcome.poison))


def byte_bounded(events: list[Any], max_bytes: int) -> list[list[Any]]:
    """``events`` in order, cut into runs whose stored values add up to at most ``max_bytes``
    (an event larger than that is a run of its own). Only sizes are read, nothing decoded."""
    parts: list[list[Any]] = []
    part: list[Any] = []
    size = 0
    for event in events:
        length = len(event.message.value or b"")
        if part and size + length > max_bytes:
            parts.append(part)
            part, size = [], 0
        part.append(event)
        size += length
    if part:
        parts.append(part)
    return parts


class ProjectingApp(faust.App):
    """A faust app that does not work through its read-ahead when it stops.

    faust's ``stream_wait_empty`` waits, before stopping and before giving up partitions in a
    rebalance, until every event read from Kafka is acknowledged. The app is configured with it
    off, and this class waits on rebalance only: another worker then takes the partitions over
    only after this one's writes for them ended, as before. When the app stops, nothing waits:
    acknowledged offsets are committed, the rest is read again after the restart.
    """

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if self.should_stop:
            return
        logger.info("Wait for streams...")
        await consumer.wait_empty()


class ProcessorsApp(NamedTuple):
    app: faust.App
    agent: Any  # the projecting agent; tests drive it with ``agent.test_context()``


def create_app(
    settings: ProcessorsSettings,
    *,
    writer: Writer,
    metrics: ProcessorMetrics | None = None,
    dead_letter: DeadLetter | None = None,
    automation_store: automations.ClickHouseDeliveryStore | None = None,
) -> ProcessorsApp:
    telemetry = metrics or ProcessorMetrics()
    app = ProjectingApp(
        settings.group_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_bind=settings.web_host,  # faust would listen on 0.0.0.0 otherwise
        web_port=settings.web_port,
        web_in_thread=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,  # topics are created explicitly with their configs
        topic_disable_leader=True,
        producer_acks=-1,
        stream_buffer_maxsize=settings.stream_buffer_events,
        stream_wait_empty=False,  # ProjectingApp still waits on rebalance
    )
    source = app.topic(
        settings.events_topic, settings.identity_topic, key_serializer="raw", value_serializer="raw"
    )
    dlq_topic = app.topic(settings.dead_letter_topic, key_serializer="raw", value_serializer="raw")

    async def send_to_dead_letter(
        value: bytes, key: bytes | None, reason: str, pos: LogPosition
    ) -> None:
        headers = [
            ("cairn-dlq-reason", reason.encode()),
            ("cairn-source", f"{pos.topic}/{pos.partition}/{pos.offset}".encode()),
        ]
        delivery = await dlq_topic.send(key=key, value=value, headers=headers)
        await delivery  # durable before the source offset may be committed

    deliver_dead_letter = dead_letter or send_to_dead_letter
    owners = AggregateOwners()  # what this worker projected; the store answers the rest
    if settings.automations_enabled and automation_store is not None:
        automations.install(app, settings, source, automation_store)

    @app.agent(source, name="project_events")
    async def project_events(stream: faust.StreamT[bytes]) -> None:
        batches = cast("faust.Stream[bytes]", stream).noack_take(
            settings.flush_max_events, within=settings.flush_interval_s
        )

        async def finish(events: list[EventT[bytes]], outcome: BatchOutcome) -> None:
            await finish_batch(outcome, writer, deliver_dead_letter, telemetry)
            for event in events:
                await stream.ack(event)

        # Pipelined: batch N+1 is projected while batch N is being written. One write at a time,
        # in order, and a batch is acknowledged only after its own write (and so after every
        # earlier one).
        writing: asyncio.Task[None] | None = None
        try:
            async for batch in batches:
                # noack_take yields events (its annotation says values): ack them ourselves.
                events = cast("list[EventT[bytes]]", list(batch))
                for part in byte_bounded(events, settings.flush_max_bytes):
                    outcome = await prepare_batch(part, writer, owners)
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(finish(part, outcome))
                    if not settings.pipelined:
                        await writing
        finally:
            if writing is not None and not writing.done():
                await writing

    @app.page("/health")
    class Health(View):
        """200 once the worker runs, is not rebalancing and the store accepts writes; else 503."""

        async def get(self, request: Request) -> Response:
            store_ok = writer.failing_since is None
            ready = bool(app.consumer and not app.rebalancing and store_ok)
            body = {
                "status": "ok" if ready else ("store unavailable" if not store_ok else "starting"),
                "group": settings.group_id,
            }
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(
                generate_latest(telemetry.registry), content_type="text/plain; version=0.0.4"
            )

    return ProcessorsApp(app, project_events)
