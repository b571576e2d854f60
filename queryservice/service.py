"""The ``cairn.v1.Query`` servicer: API-key-authenticated reads, scoped like the portal.

Ingest serves it on the same port as ``cairn.v1.Ingest`` when it has a ClickHouse URL
(``CAIRN_CLICKHOUSE_URL``): ingest's :class:`~ingest.auth.ApiKeyInterceptor` authenticates every
call with the same keys, and :func:`queryservice.callers.query_caller` turns the key into the
caller whose visibility every ``query/`` function applies.

Adding an RPC
-------------
1. Declare it in ``proto/cairn/v1/query.proto`` (service ``Query``, with its request and response
   messages; add fields, never renumber) and run ``make proto``.
2. Write the handler: a plain function ``(ctx: ReadContext, request) -> response`` in the module
   of its area (``queryservice/runs.py`` for runs; a new ``queryservice/<area>.py`` for a new
   area), calling ``query/`` functions with ``ctx.client``, ``ctx.caller`` and ``ctx.database``
   (all SQL stays in ``query/``). Raise :mod:`cairn_contract.errors` types for bad input or missing
   things; never build a status by hand. For results that can be large, write a generator and
   register it with :func:`~queryservice.rpc.server_streaming`: each yielded message is sent as
   the client reads, never buffered beyond :data:`STREAM_BUFFER` messages.
3. List it in the area's ``RPCS`` tuple with :func:`~queryservice.rpc.unary` (or
   ``server_streaming``), and add the area's tuple to :data:`ALL_RPCS` below.
4. Test it through the real stack (``tests/queryservice/``) including a caller who must not see
   the data, and add it to the SDK (``cairn.Api``) if users call it from Python.

Handlers run in worker threads (the ClickHouse client blocks), so a slow query never stalls the
event loop that also serves ingest's streams.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import grpc
import structlog
from clickhouse_connect.driver.client import Client
from google.protobuf.message import DecodeError, Message

from cairn_contract.errors import CairnError, ValidationError
from domain.identity import IdentityRegistry
from ingest.auth import current_caller
from ingest.status_codes import rich_status
from queryservice import analysis, automations, bundles, collaboration, models, runs
from queryservice.callers import query_caller
from queryservice.rpc import ReadContext, Rpc

log = structlog.get_logger(__name__)

SERVICE_NAME = "cairn.v1.Query"
STREAM_BUFFER = 4  # messages a streaming handler may run ahead of a slow client

ALL_RPCS: tuple[Rpc, ...] = (
    *runs.RPCS,
    *analysis.RPCS,
    *models.RPCS,
    *collaboration.RPCS,
    *automations.RPCS,
    *bundles.RPCS,
)


class QueryService:
    """``connect`` makes a ClickHouse client (called once, on the first request, in a worker
    thread, so ingest starts even while the store is still coming up)."""

    def __init__(
        self,
        registry: IdentityRegistry,
        connect: Callable[[], Client],
        *,
        database: str | None = None,
        rpcs: Sequence[Rpc] = ALL_RPCS,
    ) -> None:
        self._registry = registry
        self._connect = connect
        self._database = database
        self._rpcs = tuple(rpcs)
        self._client: Client | None = None
        self._client_lock = threading.Lock()

    def rpc_handler(self) -> grpc.GenericRpcHandler:
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for rpc in self._rpcs:
            serialize = rpc.response.SerializeToString
            if rpc.streaming:
                handlers[rpc.name] = grpc.unary_stream_rpc_method_handler(
                    self._streaming(rpc), request_deserializer=None, response_serializer=serialize
                )
            else:
                handlers[rpc.name] = grpc.unary_unary_rpc_method_handler(
                    self._unary(rpc), request_deserializer=None, response_serializer=serialize
                )
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    # -- plumbing ---------------------------------------------------------------------------------

    def _client_now(self) -> Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _context(self) -> ReadContext:
        caller = query_caller(current_caller.get(), self._registry)
        return ReadContext(self._client_now(), caller, self._database)

    @staticmethod
    def _parse(rpc: Rpc, request: bytes) -> Message:
        try:
            return rpc.request.FromString(request)
        except DecodeError as exc:
            raise ValidationError(
                f"{rpc.request.DESCRIPTOR.name} could not be decoded: {exc}",
                field="request",
                rule="decode",
            ) from exc

    def _unary(self, rpc: Rpc) -> Callable[..., Any]:
        async def behavior(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            key = current_caller.get()
            try:
                message = self._parse(rpc, request)
                return await asyncio.to_thread(self._run_unary, rpc, message, key)
            except Exception as exc:
                error = _as_cairn_error(rpc, exc)
                await context.abort_with_status(rich_status(error))

        return behavior

    def _run_unary(self, rpc: Rpc, message: Message, key: Any) -> Any:
        current_caller.set(key)  # a worker thread starts with a copy of the context; be explicit
        return rpc.handler(self._context(), message)

    def _streaming(self, rpc: Rpc) -> Callable[..., AsyncIterator[Any]]:
        async def behavior(
            request: bytes, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            key = current_caller.get()
            try:
                message = self._parse(rpc, request)
                async for item in _drain(lambda: self._run_stream(rpc, message, key)):
                    yield item
            except Exception as exc:
                error = _as_cairn_error(rpc, exc)
                await context.abort_with_status(rich_status(error))

        return behavior

    def _run_stream(self, rpc: Rpc, message: Message, key: Any) -> Iterator[Any]:
        current_caller.set(key)
        result: Iterator[Any] = rpc.handler(self._context(), message)
        return result

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


_DONE = object()


async def _drain(start: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    """Run a blocking iterator in its own thread and yield its items, at most STREAM_BUFFER
    ahead of the consumer: when the client reads slowly, ``yield`` waits, the queue fills and
    the producer thread blocks, so a slow client holds a few messages of memory, not the result.
    When the consumer goes away (client cancelled), the producer stops at its next item."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=STREAM_BUFFER)
    stop = threading.Event()

    def put(item: Any) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                continue
        future.cancel()
        return False

    def produce() -> None:
        try:
            for item in start():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=produce, name="query-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _as_cairn_error(rpc: Rpc, exc: Exception) -> CairnError:
    """Cairn errors keep their code; anything else is a bug, reported as INTERNAL (and logged
    with its traceback) rather than as gRPC's bare UNKNOWN."""
    if isinstance(exc, CairnError):
        log.info(
            "query refused", method=rpc.name, code=exc.code.value, rule=exc.rule, error=exc.message
        )
        return exc
    log.exception("query failed", method=rpc.name)
    return CairnError(f"{rpc.name} failed on the server: {type(exc).__name__}: {exc}")
