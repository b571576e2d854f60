"""Rebuild every projection from the event log (``cairn replay``).

The log is read from the beginning up to the end offsets seen when the replay started, with a
plain consumer (no group, nothing committed), projected by the same :class:`Projection` the live
agent uses, and written into a scratch database that is then swapped in. Run it while the
processors are stopped: they resume from their committed offsets afterwards, and anything they
re-project is deduplicated by the tables' identities.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from clickhouse_connect.driver.client import Client

from domain.ownership import AggregateOwners
from domain.projections import LogPosition, PoisonEvent, Projection
from processors.projection_writer import ProjectionWriter
from query.rebuild import create_scratch_database, swap_in

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReplayResult:
    events: int
    points: int
    poison: int
    seconds: float


async def _partitions(bootstrap: str, topics: tuple[str, ...]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in sorted(topic["partitions"], key=lambda p: p["partition"])
    ]


async def replay(
    bootstrap: str,
    topics: tuple[str, ...],
    client_factory: Callable[[], Client],
    database: str,
    *,
    batch_events: int = 5_000,
) -> ReplayResult:
    started = time.monotonic()
    client = client_factory()
    scratch = create_scratch_database(client, database)
    writer = ProjectionWriter(client_factory, scratch)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    events = points = poison = 0
    try:
        partitions = await _partitions(bootstrap, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        projection = Projection()
        owners = AggregateOwners()  # the same first-writer-wins decision as the live agent
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch_events)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= end[tp]:
                        continue
                    try:
                        projection.add(
                            message.value or b"",
                            LogPosition(tp.topic, tp.partition, message.offset),
                            owners,
                        )
                    except PoisonEvent as exc:
                        poison += 1  # already dead-lettered by the live agent
                        log.info(
                            "replay skipped poison event", reason=exc.reason, offset=message.offset
                        )
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if projection.events >= batch_events or (not remaining and projection.events):
                await writer.write_until_done(projection)
                events += projection.events
                points += projection.points
                projection = Projection()
    finally:
        await consumer.stop()
    swap_in(client, database)
    result = ReplayResult(events, points, poison, time.monotonic() - started)
    log.info("replay finished", **result.__dict__)
    return result
