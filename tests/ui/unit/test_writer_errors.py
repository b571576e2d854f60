"""The portal's writer raises the error ingest raised: its code, field and rule survive gRPC.

A real gRPC server on 127.0.0.1 answers Append the way ingest does (ingest/status_codes.py's
rich status); the portal's IngestWriter must rebuild the same error class from its ErrorInfo.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from cairn_contract.errors import (
    CairnError,
    ErrorCode,
    PermissionDeniedError,
    ValidationError,
)
from cairn_contract.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc
from ingest.status_codes import rich_status
from tests.event_samples import sample_event
from ui.ingest_writer import IngestWriter, KeyRing

KEY = "cairn_k1_secret"


class _Refusing(ingest_pb2_grpc.IngestServicer):
    def __init__(self) -> None:
        self.error: CairnError = ValidationError("x")

    def Append(
        self, request: events_pb2.EventBatch, context: grpc.ServicerContext
    ) -> ingest_pb2.Ack:
        context.abort_with_status(rich_status(self.error))
        raise AssertionError("unreachable")


@pytest.fixture
def refusing() -> Iterator[tuple[_Refusing, str]]:
    servicer = _Refusing()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def _append(address: str) -> None:
    writer = IngestWriter(address, KeyRing(configured={"team-a": KEY}), timeout_s=10)
    event = sample_event("run_created")
    event.envelope.team = "team-a"
    try:
        writer.append([event])
    finally:
        writer.close()


def test_a_validation_refusal_keeps_its_code_field_and_rule(
    refusing: tuple[_Refusing, str],
) -> None:
    servicer, address = refusing
    servicer.error = ValidationError(
        "events[0].run_created.name: too long (rule max_length)",
        field="events[0].run_created.name",
        rule="max_length",
    )
    with pytest.raises(ValidationError) as raised:
        _append(address)
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert raised.value.field == "events[0].run_created.name"
    assert raised.value.rule == "max_length"
    assert "ingest refused the change (INVALID_ARGUMENT)" in raised.value.message


def test_a_permission_refusal_is_permission_denied(refusing: tuple[_Refusing, str]) -> None:
    servicer, address = refusing
    servicer.error = PermissionDeniedError("team-a may not write to run r1 of team-b")
    with pytest.raises(PermissionDeniedError) as raised:
        _append(address)
    assert raised.value.code is ErrorCode.PERMISSION_DENIED
    assert "team-a may not write to run r1" in raised.value.message
