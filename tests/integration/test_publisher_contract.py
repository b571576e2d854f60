"""The in-memory publisher the unit tests of ingest use (:class:`ingest.publisher.InMemoryPublisher`)
behaves like the real one (:class:`ingest.publisher.KafkaPublisher` against the real broker):
every case below runs against both, so a fake that drifts from Kafka's behaviour fails here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ingest.publisher import InMemoryPublisher, KafkaPublisher, OutgoingRecord, Publisher
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration

Stored = list[tuple[bytes, bytes, dict[str, bytes]]]  # (key, value, headers) in log order
BUDGET = 64 << 10


@dataclass
class Subject:
    publisher: Publisher
    topic: str
    stored: Callable[[], Awaitable[Stored]]


async def _in_memory(topic: str, bootstrap: str) -> Subject:
    publisher = InMemoryPublisher(max_in_flight_bytes=BUDGET)

    async def stored() -> Stored:
        return [(r.key, r.value, dict(r.headers)) for r in publisher.records if r.topic == topic]

    return Subject(publisher, topic, stored)


async def _kafka(topic: str, bootstrap: str) -> Subject:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    publisher = KafkaPublisher(
        bootstrap,
        max_in_flight_bytes=BUDGET,
        linger_ms=5,
        max_batch_bytes=1 << 20,
        max_request_bytes=4 << 20,
        compression=None,
        request_timeout_ms=30_000,
    )

    async def stored() -> Stored:
        return [
            (r.key or b"", r.value or b"", dict(r.headers))
            for r in await read_topic(bootstrap, topic)
        ]

    return Subject(publisher, topic, stored)


@pytest.fixture(params=[_in_memory, _kafka], ids=["in-memory", "kafka"])
async def subject(request: pytest.FixtureRequest, kafka_bootstrap: str) -> AsyncIterator[Subject]:
    made = await request.param(f"test.publisher.{uuid.uuid4().hex[:10]}", kafka_bootstrap)
    await made.publisher.start()
    yield made
    await made.publisher.stop()


def _records(topic: str, *values: bytes) -> list[OutgoingRecord]:
    return [
        OutgoingRecord(topic, b"run-1", value, (("cairn-event-type", b"metrics"),))
        for value in values
    ]


async def test_acknowledged_records_are_stored_in_submit_order(subject: Subject) -> None:
    first = await subject.publisher.submit(_records(subject.topic, b"a", b"b"))
    second = await subject.publisher.submit(_records(subject.topic, b"c"))
    await first
    await second
    assert await subject.stored() == [
        (b"run-1", value, {"cairn-event-type": b"metrics"}) for value in (b"a", b"b", b"c")
    ]
    assert subject.publisher.in_flight_bytes == 0


async def test_a_batch_larger_than_the_whole_budget_is_admitted_alone(subject: Subject) -> None:
    big = b"x" * (BUDGET + 1)
    await (await subject.publisher.submit(_records(subject.topic, big)))
    assert [value for _, value, _ in await subject.stored()] == [big]
    assert subject.publisher.in_flight_bytes == 0


async def test_an_empty_batch_is_acknowledged_and_stores_nothing(subject: Subject) -> None:
    await (await subject.publisher.submit([]))
    assert await subject.stored() == []


async def test_stop_waits_for_every_submitted_record(subject: Subject) -> None:
    pending = await subject.publisher.submit(_records(subject.topic, b"last"))
    await subject.publisher.stop()
    assert pending.done()
    assert pending.exception() is None
    assert [value for _, value, _ in await subject.stored()] == [b"last"]
    await subject.publisher.start()  # the fixture stops it again
