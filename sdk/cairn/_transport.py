"""The wire: one ``Publish`` stream to ingest, behind a two-method protocol.

:class:`Transport` opens :class:`Stream`\\ s; a stream takes encoded ``EventBatch`` bytes and
hands back acks as they arrive. The delivery logic (``cairn._delivery``) only sees these
protocols, so unit tests drive it with an in-memory fake and the real one is this module's
:class:`GrpcTransport`.

``grpc`` is imported when the first stream opens, in the sender thread: importing it costs more
than the whole of ``import cairn`` is allowed to. Batches are sent as bytes the SDK framed itself
(:func:`encode_batch`): the spool already holds each event serialized, and an ``EventBatch`` on
the wire is just those events as field 1 followed by ``batch_id`` as field 2, so nothing is parsed
or serialized twice.
"""

from __future__ import annotations

import queue
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cairn import _wire
from cairn._packing import Record
from cairn.config import split_target
from cairn.errors import ConfigError, ErrorCode
from cairn_contract.v1 import events_pb2

if TYPE_CHECKING:
    from cairn_contract.v1 import ingest_pb2

PUBLISH_METHOD = "/cairn.v1.Ingest/Publish"
AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str  # cairn.errors.ErrorCode value
    message: str
    field: str = ""
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Ack:
    batch_id: int
    accepted_events: int
    rejection: Rejection | None = None


@dataclass(frozen=True, slots=True)
class StreamFailure:
    code: str  # gRPC status name ("UNAVAILABLE"), or "CLOSED" when the server just ended it
    message: str

    @property
    def auth(self) -> bool:
        return self.code in AUTH_CODES


class Stream(Protocol):
    def send(self, batch: bytes) -> None: ...

    def poll(self) -> list[Ack]:
        """The acks received since the last poll, in order; never blocks."""
        ...

    @property
    def failure(self) -> StreamFailure | None:
        """Set once the stream has ended for any reason; acks before it are still polled."""
        ...

    def close(self) -> None: ...


class Transport(Protocol):
    @property
    def address(self) -> str: ...

    def open(self, on_activity: Callable[[], None]) -> Stream:
        """A new stream; ``on_activity`` is called (from another thread) on every ack and when
        the stream ends, so the caller can sleep until something happens."""
        ...

    def close(self) -> None: ...


_BATCH_EVENTS = _wire.field_number(events_pb2.EventBatch, "events")
_BATCH_ID = _wire.field_number(events_pb2.EventBatch, "batch_id")


def encode_batch(batch_id: int, records: Sequence[Record]) -> bytes:
    """The serialized ``cairn.v1.EventBatch`` holding ``records`` and ``batch_id``."""
    parts = [_wire.frame(_BATCH_EVENTS, r.data) for r in records]
    parts.append(_wire.uint_field(_BATCH_ID, batch_id))
    return b"".join(parts)


def _ack(message: ingest_pb2.Ack) -> Ack:
    rejection = None
    if message.HasField("rejection"):
        r = message.rejection
        rejection = Rejection(r.reason or ErrorCode.INTERNAL, r.message, r.field, r.rule)
    return Ack(message.batch_id, message.accepted_events, rejection)


class GrpcTransport:
    """Streams to ingest with an API key; channels live as long as the transport.

    ``target`` is one ``host:port`` or a comma-separated list of ingest replicas. With several,
    each transport starts at a random one (so many training processes spread over the replicas)
    and every stream opened after the first goes to the next address: the delivery logic only
    reopens after a stream failed, so a replica that dies or restarts is left for the next one
    at once, and the unacknowledged batches are resent there (ingest and the projections are
    idempotent per event id, so a batch that reached Kafka before its ack was lost is not
    counted twice).
    """

    def __init__(self, target: str, *, tls: bool, api_key: str, sdk_version: str) -> None:
        if not api_key:
            raise ConfigError(
                "no API key: run `cairn up` (local stack), set CAIRN_API_KEY or pass api_key=",
                field="api_key",
            )
        self.addresses = split_target(target)
        if not self.addresses:
            raise ConfigError("ingest_url names no address", field="ingest_url")
        self._current = random.randrange(len(self.addresses))  # noqa: S311 (load spreading)
        self._opened = False
        self._tls = tls
        self._metadata = (
            ("authorization", f"Bearer {api_key}"),
            ("x-cairn-sdk", f"python/{sdk_version}"),
        )
        self._channels: dict[str, tuple[Any, Any]] = {}

    @property
    def address(self) -> str:
        """The replica the current (or next) stream goes to."""
        return self.addresses[self._current]

    def _method(self, address: str) -> Any:
        if address not in self._channels:
            import grpc

            from cairn_contract.v1 import ingest_pb2

            options = [
                ("grpc.max_send_message_length", 16 << 20),
                ("grpc.max_receive_message_length", 4 << 20),
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_timeout_ms", 10_000),
                ("grpc.initial_reconnect_backoff_ms", 500),
                ("grpc.min_reconnect_backoff_ms", 500),
                ("grpc.max_reconnect_backoff_ms", 4_000),
                ("grpc.enable_retries", 0),
            ]
            if self._tls:
                credentials = grpc.ssl_channel_credentials()
                channel = grpc.secure_channel(address, credentials, options=options)
            else:
                channel = grpc.insecure_channel(address, options=options)
            method: Any = channel.stream_stream(
                PUBLISH_METHOD,
                request_serializer=None,
                response_deserializer=ingest_pb2.Ack.FromString,
            )
            self._channels[address] = (channel, method)
        return self._channels[address][1]

    def open(self, on_activity: Callable[[], None]) -> Stream:
        if self._opened:  # a reopen follows a failed stream: try the next replica
            self._current = (self._current + 1) % len(self.addresses)
        self._opened = True
        return _GrpcStream(self._method(self.address), self._metadata, on_activity)

    def close(self) -> None:
        for channel, _ in self._channels.values():
            channel.close()
        self._channels.clear()


class _GrpcStream:
    """A Publish call: requests come from a queue, a reader thread collects the acks."""

    def __init__(
        self, method: Any, metadata: Sequence[tuple[str, str]], on_activity: Callable[[], None]
    ) -> None:
        self._requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._acks: deque[Ack] = deque()
        self._failure: StreamFailure | None = None
        self._closing = False
        self._on_activity = on_activity
        self._call = method(self._outgoing(), metadata=metadata, wait_for_ready=False)
        self._reader = threading.Thread(target=self._read, name="cairn-acks", daemon=True)
        self._reader.start()

    def _outgoing(self) -> Iterator[bytes]:
        while (batch := self._requests.get()) is not None:
            yield batch

    def _read(self) -> None:
        import grpc

        failure = StreamFailure("CLOSED", "the server ended the stream")
        try:
            for message in self._call:
                self._acks.append(_ack(message))
                self._on_activity()
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            failure = StreamFailure(code.name if code is not None else "UNKNOWN", details or "")
        except Exception as exc:  # a bug in decoding must not kill delivery silently
            failure = StreamFailure("INTERNAL", repr(exc))
        self._failure = failure
        self._on_activity()

    def send(self, batch: bytes) -> None:
        self._requests.put(batch)

    def poll(self) -> list[Ack]:
        acks = self._acks
        return [acks.popleft() for _ in range(len(acks))]

    @property
    def failure(self) -> StreamFailure | None:
        return self._failure if not self._acks else None

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._requests.put(None)  # half-close: the server finishes the call after its last ack
        self._reader.join(timeout=2)
        if self._reader.is_alive():  # a dead or stuck connection: do not wait for it
            self._call.cancel()
            self._reader.join(timeout=5)
