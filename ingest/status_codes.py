"""The one table from Cairn error codes to gRPC status codes, and the error details sent along.

Every rejection ingest sends goes through here: a unary call aborts with :func:`rich_status`
(google.rpc.Status carrying ``BadRequest`` field violations and an ``ErrorInfo`` whose reason is
the Cairn code), a Publish stream puts :func:`rejection` into the batch's Ack instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cairn_contract.errors import ERROR_DOMAIN, CairnError, ErrorCode
from cairn_contract.v1 import ingest_pb2

__all__ = ["ERROR_DOMAIN", "GRPC_STATUS", "grpc_code", "rejection", "rich_status"]

GRPC_STATUS: Mapping[ErrorCode, grpc.StatusCode] = MappingProxyType(
    {
        ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
        ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
        ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
        ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
        ErrorCode.CONFIG: grpc.StatusCode.INTERNAL,  # our misconfiguration, not the caller's
        ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
    }
)


def grpc_code(exc: CairnError) -> grpc.StatusCode:
    return GRPC_STATUS[exc.code]


def _code_number(code: grpc.StatusCode) -> int:
    number: int = code.value[0]
    return number


def rich_status(exc: CairnError) -> grpc.Status:
    """The status to abort a call with: code, message and google.rpc details."""
    details = []
    if exc.field is not None or exc.rule is not None:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=exc.field or "", description=exc.message, reason=exc.rule or ""
                )
            ]
        )
        details.append(_pack(bad_request))
    metadata = {k: v for k, v in (("field", exc.field), ("rule", exc.rule)) if v}
    details.append(
        _pack(
            error_details_pb2.ErrorInfo(
                reason=exc.code.value, domain=ERROR_DOMAIN, metadata=metadata
            )
        )
    )
    status = status_pb2.Status(
        code=_code_number(grpc_code(exc)), message=exc.message, details=details
    )
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def rejection(exc: CairnError) -> ingest_pb2.Rejection:
    """The same facts as :func:`rich_status`, as the Ack field a Publish stream carries."""
    return ingest_pb2.Rejection(
        grpc_code=_code_number(grpc_code(exc)),
        reason=exc.code.value,
        message=exc.message,
        field=exc.field or "",
        rule=exc.rule or "",
    )


def _pack(message: error_details_pb2.BadRequest | error_details_pb2.ErrorInfo) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


assert _code_number(grpc.StatusCode.INVALID_ARGUMENT) == code_pb2.INVALID_ARGUMENT
