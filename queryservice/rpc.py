"""The pieces every query RPC is made of: the context a handler runs in and the table entry that
serves it.

A handler is a plain synchronous function ``(ReadContext, request) -> response`` (or, for a
server-streaming RPC, ``-> Iterator[response]``). It runs in a worker thread, because the query
layer's ClickHouse client blocks; it raises :class:`cairn_contract.errors.CairnError` subclasses, which
the service turns into gRPC statuses with details (``ingest/status_codes.py``). It never sees the
API key: :attr:`ReadContext.caller` is who the key stands for, and every ``query/`` function it
calls applies that caller's visibility.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from google.protobuf.message import Message

from query.access import Caller

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)


@dataclass(frozen=True)
class ReadContext:
    """What a handler reads with: a ClickHouse client, the caller and the projection database
    (``None``: the client's default database)."""

    client: Client
    caller: Caller
    database: str | None = None


@dataclass(frozen=True)
class Rpc:
    """One method of ``cairn.v1.Query``: its name in the .proto, message types and handler."""

    name: str
    request: type[Message]
    response: type[Message]
    handler: Callable[[ReadContext, Any], Any]
    streaming: bool = False  # server streaming: the handler returns an iterator of responses


def unary(
    name: str,
    request: type[Request],
    response: type[Response],
    handler: Callable[[ReadContext, Request], Response],
) -> Rpc:
    return Rpc(name, request, response, handler)


def server_streaming(
    name: str,
    request: type[Request],
    response: type[Response],
    handler: Callable[[ReadContext, Request], Iterator[Response]],
) -> Rpc:
    return Rpc(name, request, response, handler, streaming=True)
