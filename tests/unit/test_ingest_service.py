"""The ingest servicer over real gRPC on loopback, with the in-memory publisher and registry.

No external server is involved (Kafka is replaced by ``InMemoryPublisher``, the identity topic by
an ``IdentityRegistry`` fed directly), so these run with the unit tests; the same behaviour
against the real broker is covered in ``tests/integration/test_ingest_server.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cairn.v1 import envelope_pb2, events_pb2, identity_pb2, ingest_pb2, ingest_pb2_grpc
from domain.identity import IdentityRegistry, generate_api_key
from ingest.publisher import InMemoryPublisher
from ingest.server import IngestServer
from ingest.settings import IngestSettings
from tests.event_samples import batch_of, metric_event, sample_event
from tests.ingest_client import append, key_metadata, raw_stub, read_all, rich_error
from tests.validation_cases import LIMITS

# Async fixtures run on the session loop (pyproject); the tests must share it.
pytestmark = pytest.mark.asyncio(loop_scope="session")


def issue(
    registry: IdentityRegistry, *, team: str = "vision", role: int = 1, user: str = ""
) -> str:
    new = generate_api_key()
    event = sample_event("api_key_issued", team=team)
    event.api_key_issued.CopyFrom(
        identity_pb2.ApiKeyIssued(
            key_id=new.key_id,
            key_sha256=new.sha256,
            role=role,  # type: ignore[arg-type]
            name="trainer",
            principal_kind=envelope_pb2.ACTOR_KIND_USER
            if user
            else envelope_pb2.ACTOR_KIND_SERVICE,
            user_id=user,
        )
    )
    registry.apply(event)
    return new.key


class Harness:
    def __init__(
        self,
        server: IngestServer,
        publisher: InMemoryPublisher,
        registry: IdentityRegistry,
        channel: grpc.aio.Channel,
    ) -> None:
        self.server = server
        self.publisher = publisher
        self.registry = registry
        self.channel = channel
        self.key = issue(registry, user="alice")


@contextlib.asynccontextmanager
async def running(*, metrics: bool) -> AsyncIterator[Harness]:
    publisher = InMemoryPublisher()
    registry = IdentityRegistry()
    settings = IngestSettings(
        listen="127.0.0.1:0",
        metrics_port=0 if metrics else None,
        limits=LIMITS,
        max_in_flight_batches_per_stream=4,
        events_topic="events",
        identity_topic="identity",
    )
    server = IngestServer(settings, publisher=publisher, registry=registry)
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    try:
        yield Harness(server, publisher, registry, channel)
    finally:
        await channel.close()
        await server.stop(grace=1)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running(metrics=False) as started:
        yield started


async def test_append_acknowledges_and_hands_events_to_the_publisher(harness: Harness) -> None:
    batch = batch_of(
        metric_event("run-a", points=5, sequence=1),
        sample_event("run_renamed", sequence=2),
        batch_id=77,
    )
    ack = await append(harness.channel, batch, harness.key)
    assert (ack.batch_id, ack.accepted_events, ack.highest_sequence) == (77, 2, 2)
    assert not ack.HasField("rejection")
    first, second = harness.publisher.records
    assert (first.topic, first.key, dict(first.headers)) == (
        "events",
        b"run-a",
        {"cairn-event-type": b"metrics", "cairn-schema-version": b"1"},
    )
    stored = events_pb2.Event.FromString(second.value)
    assert stored.envelope.actor.id == "alice"
    assert stored.envelope.actor.kind == envelope_pb2.ACTOR_KIND_USER
    assert stored.envelope.received_at_ns > 0


async def test_identity_events_go_to_the_identity_topic_keyed_by_team(harness: Harness) -> None:
    admin = issue(harness.registry, role=identity_pb2.API_KEY_ROLE_ADMIN)
    await append(harness.channel, batch_of(sample_event("member_joined")), admin)
    (record,) = harness.publisher.records
    assert (record.topic, record.key) == ("identity", b"vision")


async def test_an_invalid_batch_gets_invalid_argument_with_field_and_rule(harness: Harness) -> None:
    event = metric_event()
    event.metrics.series[0].steps[2] = -1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await append(harness.channel, batch_of(event), harness.key)
    error = rich_error(caught.value)
    field = "events[0].metrics.series[0].steps[2]"
    message = f"{field}: step must be >= 0, got -1 (rule non_negative_step)"
    assert (error.code, error.message) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert error.violations == [(field, "non_negative_step", message)]
    assert (error.reason, error.metadata) == (
        "invalid_argument",
        {"field": field, "rule": "non_negative_step"},
    )
    assert harness.publisher.records == []


@pytest.mark.parametrize(
    "data", [b"\x0a\xff\xff", b"\xde\xad\xbe\xef" * 8], ids=["truncated", "garbage"]
)
async def test_malformed_bytes_get_invalid_argument_and_the_server_keeps_serving(
    harness: Harness, data: bytes
) -> None:
    raw_append, _ = raw_stub(harness.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_append(data, metadata=key_metadata(harness.key))
    assert rich_error(caught.value).violations[0][1] == "malformed_protobuf"
    assert (
        await append(harness.channel, batch_of(metric_event()), harness.key)
    ).accepted_events == 1


async def test_a_batch_over_the_transport_limit_gets_resource_exhausted(harness: Harness) -> None:
    raw_append, _ = raw_stub(harness.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_append(
            b"\x00" * (harness.server.settings.grpc_max_receive_bytes + 1),
            metadata=key_metadata(harness.key),
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (
        await append(harness.channel, batch_of(metric_event()), harness.key)
    ).accepted_events == 1


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "no API key: send it as 'authorization: Bearer <key>' metadata"),
        (key_metadata("cairn_0000_wrong"), "API key not recognised"),
    ],
    ids=["no key", "wrong key"],
)
async def test_calls_without_a_valid_key_are_unauthenticated(
    harness: Harness, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    stub = ingest_pb2_grpc.IngestStub(harness.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Append(batch_of(metric_event()), metadata=metadata)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        message,
    )
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for _ in stub.Publish(iter([batch_of(metric_event())]), metadata=metadata):
            pass
    assert streamed.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_writing_into_another_team_is_permission_denied(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await append(harness.channel, batch_of(metric_event(team="audio")), harness.key)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert error.violations[0][:2] == ("events[0].envelope.team", "team_scope")


async def test_a_publish_stream_reports_a_bad_batch_in_its_ack_and_keeps_going(
    harness: Harness,
) -> None:
    _, raw_publish = raw_stub(harness.channel)
    bad = metric_event()
    bad.envelope.team = "Vision"
    batches = [
        batch_of(metric_event(sequence=1), batch_id=1).SerializeToString(),
        batch_of(bad, batch_id=2).SerializeToString(),
        b"\xff\xff\xff",
        batch_of(metric_event(sequence=2), batch_id=4).SerializeToString(),
    ]
    acks = [ack async for ack in raw_publish(iter(batches), metadata=key_metadata(harness.key))]
    assert [(a.batch_id, a.accepted_events, a.highest_sequence) for a in acks] == [
        (1, 1, 1),
        (2, 0, 0),
        (0, 0, 0),
        (4, 1, 2),
    ]
    assert (acks[1].rejection.grpc_code, acks[1].rejection.reason, acks[1].rejection.rule) == (
        3,
        "invalid_argument",
        "slug_format",
    )
    assert acks[1].rejection.field == "events[0].envelope.team"
    assert acks[2].rejection.rule == "malformed_protobuf"
    assert len(harness.publisher.records) == 2


async def test_acks_wait_for_the_publisher_and_keep_batch_order(harness: Harness) -> None:
    harness.publisher.hold = True
    stub = ingest_pb2_grpc.IngestStub(harness.channel)
    call = stub.Publish(metadata=key_metadata(harness.key))
    for batch_id in (1, 2, 3):
        await call.write(batch_of(metric_event(sequence=batch_id), batch_id=batch_id))
    await harness.publisher.wait_for_records(3)
    first_ack = asyncio.ensure_future(call.read())
    # A full round trip on the same connection: an ack already sent would have arrived by now.
    await health_pb2_grpc.HealthStub(harness.channel).Check(health_pb2.HealthCheckRequest())
    assert not first_ack.done()
    harness.publisher.release()
    await call.done_writing()
    first = await first_ack
    assert isinstance(first, ingest_pb2.Ack)
    assert [a.batch_id for a in [first, *await read_all(call)]] == [1, 2, 3]


async def test_a_broker_failure_is_unavailable(harness: Harness) -> None:
    harness.publisher.fail_with = ConnectionError("broker down")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await append(harness.channel, batch_of(metric_event()), harness.key)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    stub = ingest_pb2_grpc.IngestStub(harness.channel)
    acks = [
        a
        async for a in stub.Publish(
            iter([batch_of(metric_event(), batch_id=5)]), metadata=key_metadata(harness.key)
        )
    ]
    assert (acks[0].batch_id, acks[0].rejection.grpc_code, acks[0].rejection.reason) == (
        5,
        14,
        "unavailable",
    )


async def test_health_and_reflection_need_no_key(harness: Harness) -> None:
    health = health_pb2_grpc.HealthStub(harness.channel)
    for service in ("", "cairn.v1.Ingest"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    replies = [r async for r in reflection.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"cairn.v1.Ingest", "grpc.health.v1.Health"} <= names


async def test_metrics_count_events_points_and_rejections() -> None:
    async with running(metrics=True) as harness:
        await _check_metrics(harness)


async def _check_metrics(harness: Harness) -> None:
    await append(harness.channel, batch_of(metric_event(points=25)), harness.key)
    with pytest.raises(grpc.aio.AioRpcError):
        await append(harness.channel, batch_of(metric_event(team="audio")), harness.key)
    url = f"http://127.0.0.1:{harness.server.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'cairn_ingest_events_total{event_type="metrics"} 1.0' in body
    assert "cairn_ingest_points_total 25.0" in body
    assert (
        'cairn_ingest_rejected_batches_total{code="permission_denied",rule="team_scope"} 1.0'
        in body
    )
    assert "cairn_ingest_batch_latency_seconds_count 1.0" in body


async def test_a_graceful_stop_acknowledges_batches_already_accepted(harness: Harness) -> None:
    harness.publisher.hold = True
    stub = ingest_pb2_grpc.IngestStub(harness.channel)
    call = stub.Publish(metadata=key_metadata(harness.key))
    await call.write(batch_of(metric_event(), batch_id=9))
    await call.done_writing()
    await harness.publisher.wait_for_records(1)
    stopping = asyncio.ensure_future(harness.server.stop(grace=5))
    harness.publisher.release()
    assert [a.batch_id for a in await read_all(call)] == [9]
    await stopping
