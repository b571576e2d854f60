"""The gRPC transport and a whole online run against an in-process fake Publish servicer (real
gRPC on a free port, no Kafka): framing, the API key metadata, acks, and failures as statuses.
The same behaviour against the real ingest server is in tests/sdk/integration."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

import cairn
from cairn._packing import Record
from cairn._transport import Ack, GrpcTransport, Stream, encode_batch
from cairn.config import Mode
from cairn.v1 import events_pb2, runs_pb2
from tests.sdk.helpers import offline_settings, points, wait_for
from tests.sdk.unit.conftest import Server


def sample_records(first: int, count: int) -> list[Record]:
    return [
        Record(
            s, events_pb2.Event(run_created=runs_pb2.RunCreated(name=f"r{s}")).SerializeToString()
        )
        for s in range(first, first + count)
    ]


def test_encoded_batches_parse_as_event_batches() -> None:
    records = sample_records(1, 3)
    batch = events_pb2.EventBatch.FromString(encode_batch(2**40 + 7, records))
    assert batch.batch_id == 2**40 + 7
    assert [e.run_created.name for e in batch.events] == ["r1", "r2", "r3"]


def test_batches_go_out_with_the_api_key_and_acks_come_back_in_order(server: Server) -> None:
    woken = threading.Event()
    transport = GrpcTransport(
        server.address, tls=False, api_key="cairn_k1_secret", sdk_version="9.9"
    )
    try:
        stream: Stream = transport.open(woken.set)
        for batch_id in (1, 2, 3):
            stream.send(encode_batch(batch_id, sample_records(batch_id * 10, 2)))
        acks: list[Ack] = []

        def three_acks() -> bool:
            acks.extend(stream.poll())
            return len(acks) == 3

        wait_for(three_acks, what="three acks")
        assert [(a.batch_id, a.accepted_events, a.rejection) for a in acks] == [
            (1, 2, None),
            (2, 2, None),
            (3, 2, None),
        ]
        assert woken.is_set()
        assert stream.failure is None
        stream.close()
    finally:
        transport.close()
    assert [b.batch_id for b in server.fake.batches] == [1, 2, 3]
    assert server.fake.metadata[0]["authorization"] == "Bearer cairn_k1_secret"
    assert server.fake.metadata[0]["x-cairn-sdk"] == "python/9.9"


def test_a_refused_key_ends_the_stream_with_an_authentication_failure(server: Server) -> None:
    server.fake.abort = grpc.StatusCode.UNAUTHENTICATED
    transport = GrpcTransport(server.address, tls=False, api_key="cairn_bad", sdk_version="0")
    try:
        stream = transport.open(lambda: None)
        stream.send(encode_batch(1, sample_records(1, 1)))
        failure = wait_for(lambda: stream.failure, what="the stream to fail")
        assert (failure.code, failure.message, failure.auth) == (
            "UNAUTHENTICATED",
            "unknown API key",
            True,
        )
        stream.close()
    finally:
        transport.close()


def test_nobody_listening_is_an_unavailable_failure() -> None:
    from localstack.processes import free_port

    transport = GrpcTransport(f"127.0.0.1:{free_port()}", tls=False, api_key="k", sdk_version="0")
    try:
        stream = transport.open(lambda: None)
        stream.send(encode_batch(1, sample_records(1, 1)))
        failure = wait_for(lambda: stream.failure, what="the stream to fail")
        assert failure.code == "UNAVAILABLE"
        assert not failure.auth
        stream.close()
    finally:
        transport.close()


def test_an_online_run_delivers_everything_and_removes_its_spool(
    server: Server, tmp_path: Path
) -> None:
    settings = offline_settings(
        tmp_path, mode=Mode.ONLINE, ingest_url=server.address, api_key="cairn_k_s"
    )
    with cairn.init(name="online", settings=settings) as run:
        for step in range(2000):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        directory = run.spool_dir
    events = [e for b in server.fake.batches for e in b.events]
    assert [e.envelope.sequence for e in events] == list(range(1, len(events) + 1))
    assert points(events)["loss"] == [(s, 1.0 / (s + 1)) for s in range(2000)]
    assert events[-1].WhichOneof("payload") == "run_status_changed"
    assert directory is not None
    assert not directory.exists()
