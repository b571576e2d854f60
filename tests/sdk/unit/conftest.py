"""Unit-test fixtures: an in-process fake of ingest's Publish RPC on real gRPC."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from cairn.v1 import events_pb2, ingest_pb2


@dataclass
class FakePublish:
    """Acks every batch; or aborts every call with ``abort`` (a status code)."""

    batches: list[events_pb2.EventBatch] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    abort: grpc.StatusCode | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(
        self, requests: Iterator[events_pb2.EventBatch], context: Any
    ) -> Iterator[ingest_pb2.Ack]:
        self.metadata.append(dict(context.invocation_metadata()))
        if self.abort is not None:
            context.abort(self.abort, "unknown API key")
        for batch in requests:
            with self.lock:
                self.batches.append(batch)
            yield ingest_pb2.Ack(batch_id=batch.batch_id, accepted_events=len(batch.events))


@dataclass
class Server:
    fake: FakePublish
    address: str
    server: grpc.Server


@pytest.fixture
def server() -> Iterator[Server]:
    """A gRPC server on a free port whose Publish acks every batch (no validation, no Kafka)."""
    fake = FakePublish()
    handler = grpc.method_handlers_generic_handler(
        "cairn.v1.Ingest",
        {
            "Publish": grpc.stream_stream_rpc_method_handler(
                fake.publish,
                request_deserializer=events_pb2.EventBatch.FromString,
                response_serializer=ingest_pb2.Ack.SerializeToString,
            )
        },
    )
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    grpc_server.add_generic_rpc_handlers((handler,))
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        yield Server(fake, f"127.0.0.1:{port}", grpc_server)
    finally:
        grpc_server.stop(0).wait()
