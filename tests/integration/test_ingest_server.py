"""Ingest over real gRPC (ephemeral port) into the real Kafka broker.

One server for the module, on randomly named topics; keys are issued the way an operator does
(``ingest.keys``, straight to the identity topic) before it starts, so start-up replay is
exercised too. Tests that stop a server start their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from cairn.v1 import events_pb2, ingest_pb2_grpc
from cairn_contract.limits import Limits
from ingest.keys import issue_key_directly, revoke_key_directly
from ingest.server import IngestServer
from ingest.settings import IngestSettings
from servicekit import topics
from tests.event_samples import batch_of, metric_event, sample_event
from tests.ingest_client import append, key_metadata, raw_stub, read_all, rich_error
from tests.support.kafka import read_topic
from tests.validation_cases import CASES, LIMITS, Case

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@dataclass
class Stack:
    bootstrap: str
    events_topic: str
    identity_topic: str
    server: IngestServer
    channel: grpc.aio.Channel
    writer_key: str
    admin_key: str

    def settings(self, **changes: object) -> IngestSettings:
        return IngestSettings(
            listen="127.0.0.1:0",
            kafka_bootstrap=self.bootstrap,
            events_topic=self.events_topic,
            identity_topic=self.identity_topic,
            metrics_port=None,
            **changes,  # type: ignore[arg-type]
        )


def run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str) -> AsyncIterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    events_topic, identity_topic = f"test.events.{suffix}", f"test.identity.{suffix}"
    await topics.ensure_topics(
        kafka_bootstrap,
        [topics.EVENTS.renamed(events_topic), topics.IDENTITY.renamed(identity_topic)],
    )
    writer = await issue_key_directly(
        kafka_bootstrap, team="vision", role="writer", topic=identity_topic
    )
    admin = await issue_key_directly(
        kafka_bootstrap, team="vision", role="admin", topic=identity_topic
    )
    placeholder = Stack(kafka_bootstrap, events_topic, identity_topic, None, None, writer, admin)  # type: ignore[arg-type]
    server = IngestServer(placeholder.settings(limits=LIMITS))
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    try:
        yield Stack(kafka_bootstrap, events_topic, identity_topic, server, channel, writer, admin)
    finally:
        await channel.close()
        await server.stop(grace=2)


async def test_published_batches_land_in_kafka_in_order_per_run(stack: Stack) -> None:
    runs = [run_id() for _ in range(3)]
    batches = [
        batch_of(
            metric_event(runs[i % 3], points=50, first_step=i, sequence=i // 3 + 1), batch_id=i
        )
        for i in range(30)
    ]
    stub = ingest_pb2_grpc.IngestStub(stack.channel)
    acks = [a async for a in stub.Publish(iter(batches), metadata=key_metadata(stack.writer_key))]
    assert [(a.batch_id, a.accepted_events, a.highest_sequence) for a in acks] == [
        (i, 1, i // 3 + 1) for i in range(30)
    ]

    records = [
        r
        for r in await read_topic(stack.bootstrap, stack.events_topic)
        if r.key in {r.encode() for r in runs}
    ]
    assert len(records) == 30
    for run in runs:
        mine = [r for r in records if r.key == run.encode()]
        assert len({r.partition for r in mine}) == 1  # one run, one partition, one order
        events = [events_pb2.Event.FromString(r.value) for r in mine]
        assert [e.envelope.sequence for e in events] == list(range(1, 11))
        assert all(dict(r.headers)["cairn-event-type"] == b"metrics" for r in mine)
        assert all(e.envelope.actor.key_id == stack.writer_key.split("_")[1] for e in events)


async def test_append_routes_identity_events_to_the_identity_topic(stack: Stack) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    joined = sample_event("member_joined")
    joined.member_joined.user_id = user
    ack = await append(stack.channel, batch_of(joined), stack.admin_key)
    assert ack.accepted_events == 1
    identity = await read_topic(stack.bootstrap, stack.identity_topic)
    stored = [events_pb2.Event.FromString(r.value) for r in identity if r.key == b"vision"]
    assert user in {e.member_joined.user_id for e in stored}
    await stack.server.identity.wait_for(lambda r: ("vision", user) in r.members, timeout_s=5)  # type: ignore[union-attr]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_every_validation_rule_is_invalid_argument_with_details(
    stack: Stack, case: Case
) -> None:
    raw_append, _ = raw_stub(stack.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_append(case.data(), metadata=key_metadata(stack.writer_key), timeout=10)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert case.matches(error.message), error.message
    assert [(field, rule) for field, rule, _ in error.violations] == [(case.field, case.rule)]
    assert error.reason == "invalid_argument"


async def test_rejected_batches_leave_nothing_in_kafka(stack: Stack) -> None:
    bad_run, good_run = run_id(), run_id()
    bad = metric_event(bad_run, sequence=1)
    bad.metrics.series[0].steps[0] = -1
    with pytest.raises(grpc.aio.AioRpcError):
        await append(
            stack.channel, batch_of(metric_event(bad_run, sequence=1), bad), stack.writer_key
        )
    await append(stack.channel, batch_of(metric_event(good_run)), stack.writer_key)
    keys = {r.key for r in await read_topic(stack.bootstrap, stack.events_topic)}
    assert good_run.encode() in keys
    assert bad_run.encode() not in keys


async def test_a_stream_survives_bad_batches_and_only_good_ones_land(stack: Stack) -> None:
    run = run_id()
    wrong_team = metric_event(run, sequence=2, team="audio")
    frames = [
        batch_of(metric_event(run, sequence=1), batch_id=1).SerializeToString(),
        batch_of(wrong_team, batch_id=2).SerializeToString(),
        b"\x0a\x05\x0a\x03",  # truncated
        batch_of(metric_event(run, sequence=3), batch_id=4).SerializeToString(),
    ]
    _, raw_publish = raw_stub(stack.channel)
    acks = [a async for a in raw_publish(iter(frames), metadata=key_metadata(stack.writer_key))]
    assert [(a.batch_id, a.accepted_events) for a in acks] == [(1, 1), (2, 0), (0, 0), (4, 1)]
    assert [(a.rejection.grpc_code, a.rejection.rule) for a in acks[1:3]] == [
        (grpc.StatusCode.PERMISSION_DENIED.value[0], "team_scope"),
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], "malformed_protobuf"),
    ]
    records = [
        r for r in await read_topic(stack.bootstrap, stack.events_topic) if r.key == run.encode()
    ]
    assert [events_pb2.Event.FromString(r.value).envelope.sequence for r in records] == [1, 3]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x0a\xff\xff\xff\x0f", grpc.StatusCode.INVALID_ARGUMENT),
        (bytes(range(256)) * 4, grpc.StatusCode.INVALID_ARGUMENT),
        (b"\x00" * (LIMITS.max_batch_bytes + 128 * 1024), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
    ids=["truncated", "garbage", "over the transport limit"],
)
async def test_bad_bytes_get_their_status_and_the_server_keeps_serving(
    stack: Stack, data: bytes, code: grpc.StatusCode
) -> None:
    raw_append, _ = raw_stub(stack.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_append(data, metadata=key_metadata(stack.writer_key), timeout=10)
    assert caught.value.code() == code
    assert (
        await append(stack.channel, batch_of(metric_event(run_id())), stack.writer_key)
    ).accepted_events == 1


async def test_a_wrong_key_is_unauthenticated_and_another_team_is_permission_denied(
    stack: Stack,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await append(stack.channel, batch_of(metric_event()), "cairn_000000000000_not-a-key")
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "API key not recognised",
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await append(stack.channel, batch_of(metric_event(team="audio")), stack.writer_key)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as writer_identity:
        await append(stack.channel, batch_of(sample_event("member_joined")), stack.writer_key)
    assert rich_error(writer_identity.value).violations[0][1] == "admin_required"


async def test_a_new_key_works_within_two_seconds_and_a_revoked_key_is_rejected(
    stack: Stack,
) -> None:
    identity = stack.server.identity
    assert identity is not None
    issued_at = time.monotonic()
    key = await issue_key_directly(
        stack.bootstrap, team="vision", role="writer", name="fresh", topic=stack.identity_topic
    )
    key_id = key.split("_")[1]
    await identity.wait_for(lambda r: r.find_key(key_id) is not None, timeout_s=2)
    assert (await append(stack.channel, batch_of(metric_event(run_id())), key)).accepted_events == 1
    assert time.monotonic() - issued_at < 2

    await revoke_key_directly(
        stack.bootstrap, key_id, reason="laptop stolen", topic=stack.identity_topic
    )
    await identity.wait_for(lambda r: bool((k := r.find_key(key_id)) and k.revoked), timeout_s=2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await append(stack.channel, batch_of(metric_event()), key)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        f"API key {key_id} was revoked (laptop stolen)",
    )


async def test_duplicate_event_ids_are_accepted_and_left_to_downstream_dedup(stack: Stack) -> None:
    run = run_id()
    batch = batch_of(metric_event(run, sequence=1))
    first = await append(stack.channel, batch, stack.writer_key)
    second = await append(stack.channel, batch, stack.writer_key)  # a client retry after a lost ack
    assert first.accepted_events == second.accepted_events == 1
    records = [
        r for r in await read_topic(stack.bootstrap, stack.events_topic) if r.key == run.encode()
    ]
    ids = [events_pb2.Event.FromString(r.value).envelope.event_id for r in records]
    assert ids == [batch.events[0].envelope.event_id] * 2


async def test_an_event_at_the_default_size_limit_lands(stack: Stack) -> None:
    limits = Limits()
    server = IngestServer(stack.settings(limits=limits))
    await server.start()
    try:
        run = run_id()
        event = metric_event(
            run, keys=[f"k{i}" for i in range(10)], points=limits.max_points_per_event // 10
        )
        size = event.ByteSize()
        assert limits.max_event_bytes * 0.8 < size <= limits.max_event_bytes - 512
        async with grpc.aio.insecure_channel(server.address) as channel:
            assert (await append(channel, batch_of(event), stack.writer_key)).accepted_events == 1
    finally:
        await server.stop(grace=2)
    (record,) = [
        r for r in await read_topic(stack.bootstrap, stack.events_topic) if r.key == run.encode()
    ]
    assert len(events_pb2.Event.FromString(record.value).metrics.series[9].values) == 10_000


async def test_stopping_acks_every_batch_it_read_and_kafka_holds_exactly_those(
    stack: Stack,
) -> None:
    """Stopping ends the stream between two batches: what the server read is in Kafka and
    acknowledged, in order; what it had not read yet is neither (the SDK resends it from its
    spool's watermark on its next stream)."""
    server = IngestServer(stack.settings(limits=LIMITS))
    await server.start()
    run = run_id()
    channel = grpc.aio.insecure_channel(server.address)
    call = ingest_pb2_grpc.IngestStub(channel).Publish(metadata=key_metadata(stack.writer_key))
    try:
        for sequence in range(1, 41):
            await call.write(
                batch_of(metric_event(run, points=200, sequence=sequence), batch_id=sequence)
            )
        stopping = asyncio.ensure_future(server.stop(grace=10))
        acks = await read_all(call)
        await stopping
        assert await call.code() == grpc.StatusCode.OK, "the server ended the call, cleanly"
    finally:
        await channel.close()
    acked = [a.batch_id for a in acks]
    assert acked == list(range(1, len(acked) + 1))
    assert all(a.accepted_events == 1 for a in acks)
    records = [
        r for r in await read_topic(stack.bootstrap, stack.events_topic) if r.key == run.encode()
    ]
    assert [events_pb2.Event.FromString(r.value).envelope.sequence for r in records] == acked


async def test_stopping_ends_an_open_stream_instead_of_waiting_out_the_grace(
    stack: Stack,
) -> None:
    """A client that keeps its stream open (a training run between two batches) does not hold
    the shutdown: its call ends with OK after its acks, long before the grace would cancel it."""
    server = IngestServer(stack.settings(limits=LIMITS))
    await server.start()
    run = run_id()
    channel = grpc.aio.insecure_channel(server.address)
    call = ingest_pb2_grpc.IngestStub(channel).Publish(metadata=key_metadata(stack.writer_key))
    try:
        await call.write(batch_of(metric_event(run, sequence=1), batch_id=1))
        first = await call.read()
        assert (first.batch_id, first.accepted_events) == (1, 1)
        # Waiting for the client would take the whole grace: 600 s, far beyond this bound.
        await asyncio.wait_for(server.stop(grace=600), timeout=120)
        assert await call.code() == grpc.StatusCode.OK
    finally:
        await channel.close()
