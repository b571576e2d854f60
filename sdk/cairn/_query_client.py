"""The wire under ``cairn.Api``: gRPC channels to the query service (and to Ingest, for
edits) on one or several replicas with failover, the API key on every call, and statuses turned
back into Cairn's errors.

The query service answers a refusal with a google.rpc.Status whose ``ErrorInfo.reason`` is the
Cairn error code and whose ``BadRequest`` names the field and rule; :func:`error_from_rpc`
rebuilds the same :class:`~cairn.errors.CairnError` subclass the server raised, so
``except cairn.ValidationError`` works across the wire. ``grpc`` and the generated code are
imported here, never by ``import cairn``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
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
    """Calls of ``cairn.v1.Query`` (and ``Ingest.Append`` for edits) with one API key.

    ``ingest_url`` may list several replicas (``Settings.addresses``, the same setting and parser
    as the write path's :class:`~cairn._transport.GrpcTransport`). A client starts at a random
    one, so many readers spread over them, and stays there while it answers. When a replica is
    unreachable (gRPC UNAVAILABLE without a Cairn error code: refused, reset, dead), the call is
    made again on the next replica, each replica at most once per call, and later calls start
    from the replica that answered. Reads are side-effect free, and an ``Append`` retried on
    another replica is harmless (ingest and the projections are idempotent per event id). A
    streaming call fails over only before its first message: after that the caller has part of
    the result, and the error is raised rather than repeating or skipping messages.
    """

    def __init__(self, settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not settings.api_key:
            raise ConfigError(
                "no API key: run `cairn up` (local stack), set CAIRN_API_KEY or pass api_key=",
                field="api_key",
            )
        addresses, self._tls = settings.addresses()
        self.addresses = list(addresses)
        self._current = random.randrange(len(self.addresses))  # noqa: S311 (load spreading)
        self._stubs: dict[str, tuple[grpc.Channel, Any, Any]] = {}
        self._lock = threading.Lock()
        self._metadata = (("authorization", f"Bearer {settings.api_key}"),)
        self._timeout = timeout_s

    @property
    def address(self) -> str:
        """The replica the next call goes to first."""
        return self.addresses[self._current]

    def _stub(self, index: int) -> tuple[Any, Any]:
        """(Query stub, Ingest stub) of the replica at ``index``; channels live with the client."""
        address = self.addresses[index]
        with self._lock:
            if address not in self._stubs:
                options = [
                    ("grpc.max_receive_message_length", 64 << 20),
                    ("grpc.max_send_message_length", 16 << 20),
                    ("grpc.initial_reconnect_backoff_ms", 500),
                    ("grpc.min_reconnect_backoff_ms", 500),
                    ("grpc.max_reconnect_backoff_ms", 4_000),
                ]
                if self._tls:
                    credentials = grpc.ssl_channel_credentials()
                    channel = grpc.secure_channel(address, credentials, options)
                else:
                    channel = grpc.insecure_channel(address, options)
                self._stubs[address] = (
                    channel,
                    query_pb2_grpc.QueryStub(channel),
                    ingest_pb2_grpc.IngestStub(channel),
                )
            _, query, ingest = self._stubs[address]
        return query, ingest

    def _attempts(self) -> Iterator[tuple[int, bool]]:
        """(replica index, is the last attempt) for one call, starting at the current one."""
        first = self._current
        count = len(self.addresses)
        for offset in range(count):
            yield (first + offset) % count, offset == count - 1

    def _answered(self, index: int) -> None:
        self._current = index

    def _unary(self, what: str, send: Callable[[int], Response]) -> Response:
        for index, last in self._attempts():
            try:
                response = send(index)
            except grpc.RpcError as exc:
                if not last and _unreachable(exc):
                    continue
                raise error_from_rpc(exc, what) from None
            self._answered(index)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def call(self, name: str, request: Message) -> Any:
        """A unary Query call by method name (``"GetRun"``), errors as Cairn errors."""
        return self._unary(
            name,
            lambda i: getattr(self._stub(i)[0], name)(
                request, metadata=self._metadata, timeout=self._timeout
            ),
        )

    def stream(self, name: str, request: Message) -> Iterator[Any]:
        """A server-streaming Query call; messages arrive as the caller iterates."""
        for index, last in self._attempts():
            call = getattr(self._stub(index)[0], name)(request, metadata=self._metadata)
            received = False
            try:
                for message in call:
                    if not received:
                        received = True
                        self._answered(index)
                    yield message
                return
            except grpc.RpcError as exc:
                if not received and not last and _unreachable(exc):
                    continue
                raise error_from_rpc(exc, name) from None
            finally:
                call.cancel()

    def append(self, events: list[events_pb2.Event]) -> ingest_pb2.Ack:
        """Append events through Ingest; the server records this key's holder as their actor."""
        batch = events_pb2.EventBatch(events=events)
        ack: ingest_pb2.Ack = self._unary(
            "Append",
            lambda i: self._stub(i)[1].Append(
                batch, metadata=self._metadata, timeout=self._timeout
            ),
        )
        return ack

    def close(self) -> None:
        with self._lock:
            for channel, _, _ in self._stubs.values():
                channel.close()
            self._stubs.clear()


def _unreachable(exc: grpc.RpcError) -> bool:
    """The replica could not be reached or died mid-call (not a refusal the server made)."""
    code = exc.code() if hasattr(exc, "code") else None
    return code == grpc.StatusCode.UNAVAILABLE and not _details(exc)[0]
