"""HTTP body plumbing for the ClickHouse endpoint: framing, compression, multipart forms.

Request bodies are consumed as a stream of chunks (Content-Length or chunked framing), then
decompressed incrementally per ``Content-Encoding``, so a large insert never has to be held in
memory twice. clickhouse-connect compresses each insert block as its own lz4 frame (or zstd
frame), and a gzip body may have several members, so every decoder accepts concatenated frames.

Responses are compressed in one piece when the client sent ``enable_http_compression=1`` and an
``Accept-Encoding`` the server can produce, choosing in ClickHouse's order of preference.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Protocol

import lz4.frame
import zstandard

from localstack._ch_errors import BAD_ARGUMENTS, CANNOT_DECOMPRESS, NOT_IMPLEMENTED, ClickHouseError

CHUNK = 1 << 20

try:  # Brotli is optional, as in clickhouse-connect: offered only when installed.
    import brotli as _brotli  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


class ClientDisconnected(Exception):
    """The client closed the connection in the middle of its request body."""


class RequestBody:
    """A request body read from the socket as raw chunks, exactly once.

    Handles ``Content-Length`` and ``Transfer-Encoding: chunked`` (what urllib3 and aiohttp send
    for generator bodies, i.e. every clickhouse-connect insert). ``drain`` discards what is left
    so the connection can serve the next request after an early error.
    """

    def __init__(self, rfile: _Readable, headers: Message) -> None:
        self._rfile = rfile
        self._chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        length = headers.get("Content-Length")
        try:
            self._remaining = 0 if self._chunked or not length else int(length)
        except ValueError:
            raise ClickHouseError.make(
                BAD_ARGUMENTS, f"Invalid Content-Length {length!r}"
            ) from None
        self.consumed = False if self._chunked else self._remaining == 0
        self._broken = False
        # One generator for the body's lifetime, so reading can stop anywhere (an error in
        # the middle of an insert) and drain() carries on from exactly there.
        self._chunks = self._generate()

    def _read(self, n: int) -> bytes:
        try:
            data = self._rfile.read(n)
        except OSError:
            raise ClientDisconnected from None
        if len(data) < n:
            raise ClientDisconnected
        return data

    def _readline(self) -> bytes:
        try:
            line = self._rfile.readline(1024)
        except OSError:
            raise ClientDisconnected from None
        if not line.endswith(b"\n"):
            raise ClientDisconnected
        return line

    def _generate(self) -> Iterator[bytes]:
        try:
            if not self._chunked:
                while self._remaining > 0:
                    piece = self._read(min(CHUNK, self._remaining))
                    self._remaining -= len(piece)
                    yield piece
                self.consumed = True
                return
            while True:
                line = self._readline()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ClickHouseError.make(
                        BAD_ARGUMENTS, "Malformed chunked encoding"
                    ) from None
                if size == 0:
                    while self._readline() not in (b"\r\n", b"\n"):
                        pass  # trailers
                    self.consumed = True
                    return
                while size > 0:
                    piece = self._read(min(CHUNK, size))
                    size -= len(piece)
                    yield piece
                self._read(2)  # CRLF after the chunk
        except BaseException:
            self._broken = True
            raise

    def chunks(self) -> Iterator[bytes]:
        """The body's (remaining) raw chunks. Every call continues the same stream."""
        return self._chunks

    def read_all(self) -> bytes:
        return b"".join(self._chunks)

    def drain(self, limit: int = 64 << 20) -> bool:
        """Discard the rest of the body, up to ``limit`` bytes. True if it was all read, i.e.
        the connection is positioned at the next request."""
        seen = 0
        try:
            for piece in self._chunks:
                seen += len(piece)
                if seen > limit:
                    return False
        except (ClientDisconnected, ClickHouseError, ValueError):
            return False
        return self.consumed and not self._broken


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes) -> bytes: ...


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...
    def readline(self, limit: int, /) -> bytes: ...


class _Frames:
    """Decompresses a sequence of concatenated frames (lz4 frames, zstd frames, gzip members)."""

    def __init__(self, factory: Callable[[], _Decompressor]) -> None:
        self._factory = factory
        self._current = factory()
        self._started = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            self._started = True
            piece = self._current.decompress(data)
            if piece:
                out.append(piece)
            if not self._current.eof:
                break
            data = self._current.unused_data
            self._current = self._factory()
            self._started = False
        return b"".join(out)

    def finish(self) -> None:
        if self._started:
            raise ClickHouseError.make(CANNOT_DECOMPRESS, "Compressed request body is truncated")


class _BrotliStream:
    eof = False
    unused_data = b""

    def __init__(self) -> None:
        assert _brotli is not None
        self._d: Any = _brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        out: bytes = self._d.process(data)
        self.eof = bool(self._d.is_finished())
        return out


_DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    "lz4": lambda: lz4.frame.LZ4FrameDecompressor(),
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    "gzip": lambda: zlib.decompressobj(wbits=31),
    "x-gzip": lambda: zlib.decompressobj(wbits=31),
    "deflate": lambda: zlib.decompressobj(wbits=15),
}
if _brotli is not None:  # pragma: no cover - depends on the environment
    _DECOMPRESSORS["br"] = _BrotliStream


def decompressed(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """``chunks`` decoded per a ``Content-Encoding`` value ("" or identity: unchanged)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity", "none"):
        yield from chunks
        return
    factory = _DECOMPRESSORS.get(encoding)
    if factory is None:
        raise ClickHouseError.make(
            NOT_IMPLEMENTED,
            f"Unknown compression method '{encoding}'. Supported request encodings: "
            + ", ".join(sorted(_DECOMPRESSORS)),
        )
    frames = _Frames(factory)
    for chunk in chunks:
        try:
            out = frames.feed(chunk)
        except (RuntimeError, zlib.error, zstandard.ZstdError, ValueError) as exc:
            raise ClickHouseError.make(
                CANNOT_DECOMPRESS, f"Cannot decompress {encoding} request body: {exc}"
            ) from None
        if out:
            yield out
    frames.finish()


# ClickHouse's chooseHTTPCompressionMethod order, restricted to what can be produced here.
_RESPONSE_PREFERENCE = ("zstd", "br", "lz4", "gzip", "deflate")


def response_encoding(accept_encoding: str) -> str | None:
    """The response Content-Encoding for an Accept-Encoding header, or None."""
    accepted = {part.split(";", 1)[0].strip().lower() for part in accept_encoding.split(",")}
    for method in _RESPONSE_PREFERENCE:
        if method in accepted and (method != "br" or _brotli is not None):
            return method
    return None


def compress(data: bytes, encoding: str, level: int) -> bytes:
    """``data`` as one complete stream of ``encoding``. ``level`` is
    http_zlib_compression_level, which ClickHouse applies to zlib and zstd alike."""
    if encoding == "lz4":
        out: bytes = lz4.frame.compress(data)
        return out
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=max(1, min(level, 22))).compress(data)
    if encoding == "gzip":
        gz = zlib.compressobj(level=max(1, min(level, 9)), wbits=31)
        return gz.compress(data) + gz.flush()
    if encoding == "deflate":
        return zlib.compress(data, max(1, min(level, 9)))
    if encoding == "br" and _brotli is not None:  # pragma: no cover - depends on environment
        packed: bytes = _brotli.compress(bytes(data))
        return packed
    raise ValueError(f"unsupported response encoding {encoding}")


@dataclass
class FormData:
    """A multipart/form-data body: text fields and uploaded files (external data)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(name|filename)="((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def parse_multipart(body: bytes, content_type: str) -> FormData:
    """Parse a multipart/form-data body exactly (binary-safe)."""
    match = _BOUNDARY.search(content_type)
    if not match:
        raise ClickHouseError.make(BAD_ARGUMENTS, "multipart/form-data without boundary")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode()
    form = FormData()
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part.lstrip(b"\n")
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ClickHouseError.make(BAD_ARGUMENTS, "Malformed multipart/form-data part")
        content = content[:-2] if content.endswith(b"\r\n") else content
        params: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                params = {k.lower(): v for k, v in _DISPOSITION_PARAM.findall(line)}
        name = params.get("name")
        if name is None:
            continue
        if "filename" in params:
            form.files[name] = content
        else:
            form.fields[name] = content.decode("utf-8", "surrogateescape")
    return form


_CONTENT_TYPES = {
    "native": "application/octet-stream",
    "rowbinary": "application/octet-stream",
    "parquet": "application/octet-stream",
    "arrow": "application/octet-stream",
    "arrowstream": "application/octet-stream",
    "orc": "application/octet-stream",
    "avro": "application/octet-stream",
    "protobuf": "application/octet-stream",
    "msgpack": "application/octet-stream",
    "json": "application/json; charset=UTF-8",
    "jsoncompact": "application/json; charset=UTF-8",
    "jsonstrings": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8",
    "jsonstringseachrow": "application/x-ndjson; charset=UTF-8",
    "jsoncompacteachrow": "application/x-ndjson; charset=UTF-8",
    "xml": "application/xml; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8; header=absent",
    "csvwithnames": "text/csv; charset=UTF-8; header=present",
    "csvwithnamesandtypes": "text/csv; charset=UTF-8; header=present",
}


def content_type(fmt: str) -> str:
    """Content-Type for an output format (ClickHouse's IOutputFormat::getContentType, roughly)."""
    key = fmt.lower()
    if key in _CONTENT_TYPES:
        return _CONTENT_TYPES[key]
    if key.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if key.startswith("rowbinary"):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"
