"""The wire under ``cairn.Api``: one gRPC channel to the query service (and to Ingest, for
edits), the API key on every call, and statuses turned back into Cairn's errors.

The query service answers a refusal with a google.rpc.Status whose ``ErrorInfo.reason`` is the
Cairn error code and whose ``BadRequest`` names the field and rule; :func:`error_from_rpc`
rebuilds the same :class:`~cairn.errors.CairnError` subclass the server raised, so
``except cairn.ValidationError`` works across the wire. ``grpc`` and the generated code are
imported here, never by ``import cairn``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from cairn import errors
from cairn.config import Settings
from cairn.errors import CairnError, ConfigError, ErrorCode
from cairn.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc, query_pb2_grpc

Response = TypeVar("Response", bound=Message)

DEFAULT_TIMEOUT_S = 60.0

_BY_CODE: dict[str, type[CairnError]] = {
    ErrorCode.INVALID_ARGUMENT: errors.ValidationError,
    ErrorCode.UNAUTHENTICATED: errors.AuthenticationError,
    ErrorCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    ErrorCode.NOT_FOUND: errors.NotFoundError,
    ErrorCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    ErrorCode.FAILED_PRECONDITION: errors.FailedPreconditionError,
    ErrorCode.RESOURCE_EXHAUSTED: errors.LimitExceededError,
    ErrorCode.UNAVAILABLE: errors.UnavailableError,
    ErrorCode.CONFIG: errors.ConfigError,
}
_BY_GRPC: dict[grpc.StatusCode, ErrorCode] = {
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: ErrorCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCode.UNAVAILABLE,
}


def error_from_rpc(exc: grpc.RpcError, what: str) -> CairnError:
    """The Cairn error a failed call stands for (``what`` names the call for messages)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = (exc.details() if hasattr(exc, "details") else "") or code.name
    reason, field, rule = _details(exc)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ConfigError(
            f"{what}: the server does not serve this call ({message}); it needs a Cairn ingest "
            "with the query service (CAIRN_CLICKHOUSE_URL set), at the version of this SDK",
            field="ingest_url",
        )
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not reason:
        message = f"{what}: the Cairn server is unreachable ({code.name}): {message}"
    kind = _BY_CODE.get(reason or _BY_GRPC.get(code, ErrorCode.INTERNAL), CairnError)
    return kind(message, field=field, rule=rule)


def _details(exc: grpc.RpcError) -> tuple[str, str | None, str | None]:
    """(Cairn code, field, rule) from the google.rpc.Status in the trailers, when present."""
    try:
        from google.rpc import error_details_pb2, status_pb2
    except ImportError:  # googleapis-common-protos missing: codes still map from gRPC's
        return "", None, None
    trailers: Any = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        reason, field, rule = "", None, None
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                field = info.metadata.get("field") or field
                rule = info.metadata.get("rule") or rule
        return reason, field, rule
    return "", None, None


class QueryClient:
    """Calls of ``cairn.v1.Query`` (and ``Ingest.Append`` for edits) with one API key."""

    def __init__(self, settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not settings.api_key:
            raise ConfigError(
                "no API key: run `cairn up` (local stack), set CAIRN_API_KEY or pass api_key=",
                field="api_key",
            )
        target, tls = settings.target()
        options = [
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 16 << 20),
        ]
        if tls:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self.address = target
        self._metadata = (("authorization", f"Bearer {settings.api_key}"),)
        self._timeout = timeout_s
        self.query = query_pb2_grpc.QueryStub(self._channel)
        self._ingest = ingest_pb2_grpc.IngestStub(self._channel)

    def call(self, name: str, request: Message) -> Any:
        """A unary Query call by method name (``"GetRun"``), errors as Cairn errors."""
        method = getattr(self.query, name)
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, name) from None

    def stream(self, name: str, request: Message) -> Iterator[Any]:
        """A server-streaming Query call; messages arrive as the caller iterates."""
        method = getattr(self.query, name)
        call = method(request, metadata=self._metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, name) from None
        finally:
            call.cancel()

    def append(self, events: list[events_pb2.Event]) -> ingest_pb2.Ack:
        """Append events through Ingest; the server records this key's holder as their actor."""
        try:
            ack: ingest_pb2.Ack = self._ingest.Append(
                events_pb2.EventBatch(events=events),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "Append") from None
        return ack

    def close(self) -> None:
        self._channel.close()
