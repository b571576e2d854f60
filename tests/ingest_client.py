"""Client-side helpers for tests that talk to a real ingest server over gRPC."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

from cairn.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def key_metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


RawAppend = grpc.aio.UnaryUnaryMultiCallable[bytes, ingest_pb2.Ack]
RawPublish = grpc.aio.StreamStreamMultiCallable[bytes, ingest_pb2.Ack]


def raw_stub(channel: grpc.aio.Channel) -> tuple[RawAppend, RawPublish]:
    """Append and Publish taking raw bytes, for sending malformed batches."""
    append: RawAppend = channel.unary_unary(
        "/cairn.v1.Ingest/Append",
        request_serializer=None,
        response_deserializer=ingest_pb2.Ack.FromString,
    )
    publish: RawPublish = channel.stream_stream(
        "/cairn.v1.Ingest/Publish",
        request_serializer=None,
        response_deserializer=ingest_pb2.Ack.FromString,
    )
    return append, publish


async def read_all(
    call: grpc.aio.StreamStreamCall[events_pb2.EventBatch, ingest_pb2.Ack],
) -> list[ingest_pb2.Ack]:
    """Every ack of a stream driven with write()/read() (the two APIs cannot be mixed)."""
    acks = []
    while (ack := await call.read()) is not grpc.aio.EOF:
        assert isinstance(ack, ingest_pb2.Ack)
        acks.append(ack)
    return acks


@dataclass(frozen=True)
class RichError:
    code: grpc.StatusCode
    message: str
    violations: list[tuple[str, str, str]]  # (field, reason = rule, description)
    reason: str  # ErrorInfo.reason: the Cairn error code
    metadata: dict[str, str]


def rich_error(error: grpc.aio.AioRpcError) -> RichError:
    """The status code, message and google.rpc details of a failed call."""
    details = dict(error.trailing_metadata() or ()).get(STATUS_DETAILS_KEY)
    violations: list[tuple[str, str, str]] = []
    reason, metadata = "", {}
    if details is not None:
        status = status_pb2.Status.FromString(details)
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [(v.field, v.reason, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
    return RichError(error.code(), error.details() or "", violations, reason, metadata)


async def append(
    channel: grpc.aio.Channel, batch: events_pb2.EventBatch, key: str
) -> ingest_pb2.Ack:
    stub = ingest_pb2_grpc.IngestStub(channel)
    ack: ingest_pb2.Ack = await stub.Append(batch, metadata=key_metadata(key), timeout=10)
    return ack
