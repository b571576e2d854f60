"""What an HTTP request to the ClickHouse endpoint asks for, apart from authentication.

ClickHouse's HTTP interface puts everything in URL parameters (or multipart form fields): the
query, transport options such as ``database`` or ``query_id``, ``param_<name>`` values for
``{name:Type}`` placeholders, and, for every other name, a setting for this one request.
``parse_options`` sorts them. ``read_statement`` reads the body until the statement is known
and, for an INSERT, hands over the rest of the body as the data stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message

from localstack import _ch_sql as sql
from localstack._ch_engine import ExternalTable
from localstack._ch_errors import BAD_ARGUMENTS, NOT_IMPLEMENTED, UNKNOWN_SETTING, ClickHouseError

# Request parameters the HTTP layer consumes itself; everything else is a setting.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "stacktrace",
    }
)


@dataclass
class RequestOptions:
    """What a request asks for, apart from its statement and data."""

    query: str | None = None
    database: str | None = None
    default_format: str = "TabSeparated"
    query_id: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    bind: dict[str, str] = field(default_factory=dict)
    external: list[ExternalTable] = field(default_factory=list)
    compress_response: bool = False
    compression_level: int = 3


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_options(
    params: Mapping[str, str], headers: Message, files: Mapping[str, bytes] | None = None
) -> RequestOptions:
    """Split request parameters into transport options, bound parameters and settings.

    ``files`` are multipart uploads: each is an external table whose ``<name>_structure`` (or
    ``<name>_types``) and ``<name>_format`` parameters describe it.
    """
    files = files or {}
    opts = RequestOptions()
    opts.query = params.get("query") or None
    opts.database = params.get("database") or headers.get("X-ClickHouse-Database") or None
    opts.default_format = (
        params.get("default_format") or headers.get("X-ClickHouse-Format") or "TabSeparated"
    )
    opts.query_id = params.get("query_id") or str(uuid.uuid4())
    if _truthy(params.get("compress", "0")) or _truthy(params.get("decompress", "0")):
        raise ClickHouseError.make(
            NOT_IMPLEMENTED,
            "ClickHouse's native block compression (compress=1/decompress=1) is not supported "
            "by this endpoint; use Content-Encoding and enable_http_compression=1",
        )
    consumed: set[str] = set()
    for name, data in files.items():
        structure = params.get(f"{name}_structure")
        types = params.get(f"{name}_types")
        if not structure and types:
            structure = ", ".join(f"_{i} {t.strip()}" for i, t in enumerate(types.split(","), 1))
        if not structure:
            raise ClickHouseError.make(
                BAD_ARGUMENTS,
                f"Neither structure nor types have been provided for external table {name}",
            )
        fmt = params.get(f"{name}_format") or "TabSeparated"
        opts.external.append(ExternalTable(name, structure, fmt, data))
        consumed.update(f"{name}_{suffix}" for suffix in ("structure", "types", "format"))
    for key, value in params.items():
        if key in TRANSPORT_PARAMS or key in consumed:
            continue
        if key.startswith("param_"):
            opts.bind[key[len("param_") :]] = value
            continue
        if not sql.is_setting_name(key):
            raise ClickHouseError.make(UNKNOWN_SETTING, f"Unknown setting '{key}'")
        opts.settings[key] = value
    opts.compress_response = _truthy(opts.settings.get("enable_http_compression", "0"))
    try:
        opts.compression_level = int(opts.settings.get("http_zlib_compression_level", "3"))
    except ValueError:
        opts.compression_level = 3
    return opts


def read_statement(
    prefix: bytes, stream: Iterator[bytes]
) -> tuple[sql.Split, bytes, Iterator[bytes]]:
    """Read the body until the statement is known: (split, text, rest).

    For an INSERT with inline data, ``text`` is the data already read after the statement and
    ``rest`` the remaining data chunks. Otherwise the whole body has been read: ``text`` is the
    statement and ``rest`` is empty.
    """
    buf = bytearray(prefix)
    complete = False
    while True:
        split = sql.split_statement(buf.decode("latin-1"), complete=complete)
        if split.shape is sql.Shape.INSERT_DATA:
            return split, bytes(buf[split.data_offset :]), stream
        if split.shape is sql.Shape.PLAIN:
            for chunk in stream:
                buf += chunk
            return split, bytes(buf), iter(())
        more = next(stream, None)
        if more is None:
            complete = True
        else:
            buf += more


def as_utf8(text: str, what: str) -> str:
    """A latin-1 view of request bytes back as the UTF-8 text it encodes."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        raise ClickHouseError.make(BAD_ARGUMENTS, f"{what} is not valid UTF-8") from None
