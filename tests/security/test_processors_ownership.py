"""Aggregate ownership in the processors (defence in depth), real broker and real engine.

Events written to Kafka by something other than ingest (here: straight to the topic) that break
the ownership rule go to the dead-letter topic with their reason and change no projection. The
second phase runs a restarted worker of the same consumer group, so the owner comes from the store
rather than from what the worker saw.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from cairn_contract.v1 import runs_pb2
from tests.builders import event
from tests.integration.processors_harness import Setup, eventually, produce, store

pytestmark = pytest.mark.integration


async def dead_letters(stack: Setup, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        stack.topics.dead_letter, bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        while len(found) < count:
            message = await asyncio.wait_for(consumer.getone(), 30)
            found.append((message.value or b"", dict(message.headers)))
    finally:
        await consumer.stop()
    return found


def _rows(stack: Setup, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in store(stack.url).query(sql).result_rows]


async def test_foreign_events_in_kafka_go_to_the_dead_letter_topic(setup: Setup) -> None:
    created = event(
        "run_created",
        runs_pb2.RunCreated(name="beta's run"),
        run_id="run-b",
        team="beta",
        sequence=1,
    )
    foreign_in_batch = event(
        "run_renamed",
        runs_pb2.RunRenamed(name="alpha was here"),
        run_id="run-b",
        team="alpha",
        sequence=2,
    )
    await produce(setup.bootstrap, setup.topics.events, [created, foreign_in_batch])
    worker = setup.worker()
    worker.start()
    try:
        await eventually(
            lambda: _rows(setup, "SELECT name, team FROM runs") == [("beta's run", "beta")],
            what="beta's run",
        )
    finally:
        worker.stop()
    # Phase two: a restarted worker knows the owner only from the store.
    takeover = event(
        "run_created",
        runs_pb2.RunCreated(name="mine now"),
        run_id="run-b",
        team="alpha",
        sequence=3,
    )
    again = event(
        "run_created", runs_pb2.RunCreated(name="again"), run_id="run-b", team="beta", sequence=4
    )
    own = event(
        "run_renamed",
        runs_pb2.RunRenamed(name="beta renamed"),
        run_id="run-b",
        team="beta",
        sequence=5,
    )
    await produce(setup.bootstrap, setup.topics.events, [takeover, again, own])
    worker = setup.worker()
    worker.start()
    try:
        await eventually(
            lambda: _rows(setup, "SELECT name, team FROM runs") == [("beta renamed", "beta")],
            what="beta's rename",
        )
    finally:
        worker.stop()
    letters = await dead_letters(setup, 3)
    reasons = sorted(headers["cairn-dlq-reason"].decode() for _, headers in letters)
    assert [r.split(" refused: ")[0].split(" event ")[0] for r in reasons] == [
        "run_created",
        "run_created",
        "run_renamed",
    ]
    assert sum("rule aggregate_owner" in r for r in reasons) == 2
    assert sum("rule aggregate_exists" in r for r in reasons) == 1
    assert _rows(
        setup,
        "SELECT count() FROM run_fields WHERE value IN ('alpha was here', 'mine now', 'again', 'alpha')",
    ) == [(0,)]
