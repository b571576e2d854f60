"""Authentication of ingest's and the query service's calls by API key, as a server interceptor.

Clients send ``authorization: Bearer <key>`` metadata (``x-cairn-api-key: <key>`` also works).
The interceptor authenticates every call except the public health and reflection services and
runs the handler with the caller in :data:`current_caller`, a ContextVar, so the servicer and
its log lines know who is calling. Calls with no key, an unknown, revoked or expired key end
with UNAUTHENTICATED (and details) before any request message is read.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeAlias

import grpc
import structlog

from cairn_contract.errors import AuthenticationError, CairnError
from domain.identity import AuthenticatedKey, IdentityRegistry
from ingest.status_codes import rich_status

log = structlog.get_logger(__name__)

current_caller: ContextVar[AuthenticatedKey] = ContextVar("cairn_ingest_caller")

PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_BEARER = "bearer "

Metadata = Sequence[tuple[str, str | bytes]]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def api_key_from_metadata(metadata: Metadata | None) -> str:
    for name, value in metadata or ():
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if name == "authorization" and text[: len(_BEARER)].lower() == _BEARER:
            return text[len(_BEARER) :].strip()
        if name == "x-cairn-api-key":
            return text.strip()
    return ""


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        registry: IdentityRegistry,
        *,
        on_reject: Callable[[CairnError], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._registry = registry
        self._on_reject = on_reject
        self._clock = clock

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        key = api_key_from_metadata(handler_call_details.invocation_metadata)
        try:
            caller = self._registry.authenticate(key, now_ns=self._clock())
        except AuthenticationError as exc:
            log.info("call rejected", method=handler_call_details.method, reason=exc.rule)
            if self._on_reject is not None:
                self._on_reject(exc)
            return _rejecting(handler, exc)
        return _as_caller(handler, caller)


def _as_caller(handler: Handler, caller: AuthenticatedKey) -> Handler:
    """The same handler, run with ``current_caller`` set (explicitly, in the handler's own task,
    rather than relying on the interceptor and handler sharing a context)."""
    if handler.unary_stream is not None:
        return _streaming_as_caller(handler, caller)
    inner: Any = handler.unary_unary or handler.stream_stream

    async def behavior(request: Any, context: Any) -> Any:
        current_caller.set(caller)
        return await inner(request, context)

    return _same_kind(handler, behavior)


def _streaming_as_caller(handler: Handler, caller: AuthenticatedKey) -> Handler:
    """A server-streaming handler (an async generator: the query service's exports)."""
    inner: Any = handler.unary_stream

    async def behavior(request: Any, context: Any) -> AsyncIterator[Any]:
        current_caller.set(caller)
        async for item in inner(request, context):
            yield item

    return grpc.unary_stream_rpc_method_handler(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _rejecting(handler: Handler, exc: CairnError) -> Handler:
    status = rich_status(exc)

    async def behavior(request: Any, context: Any) -> Any:
        await context.abort_with_status(status)

    return _same_kind(handler, behavior)


def _same_kind(handler: Handler, behavior: Callable[[Any, Any], Awaitable[Any]]) -> Handler:
    if handler.unary_unary is not None:
        make = grpc.unary_unary_rpc_method_handler
    elif handler.stream_stream is not None:
        make = grpc.stream_stream_rpc_method_handler
    elif handler.unary_stream is not None:
        make = grpc.unary_stream_rpc_method_handler
    else:
        raise TypeError("ingest serves only unary-unary, unary-stream and stream-stream methods")
    return make(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
