"""A local ClickHouse HTTP endpoint backed by chdb (the ClickHouse engine as a library).

The local stack cannot run a ClickHouse server, but several processes (stream processors, the
portal, SQL users, tests) need one store. This process owns the chdb data directory and serves
the part of ClickHouse's HTTP interface that clickhouse-connect and ordinary SQL tools use, so
every component connects to it exactly as it would to a real server::

    python -m localstack.clickhouse_http --data-dir DIR --host 127.0.0.1 --port 8123 \\
        --users-file users.json

Contract (what clients may rely on, as with ClickHouse 26.x):

* ``GET/POST /`` with the query in the ``query`` parameter and/or the body (for INSERT the
  rows follow the statement: ``INSERT INTO t FORMAT Native\\n<data>``); ``database``,
  ``default_format`` (also the ``X-ClickHouse-Database``/``X-ClickHouse-Format`` headers),
  ``query_id``; ``param_<name>`` values for ``{name:Type}`` placeholders, bound by the engine
  itself (never spliced into the SQL); multipart/form-data fields and external data tables.
* Any other parameter is a ClickHouse setting for that request only. Each request runs on a
  fresh engine connection, so settings (and ``SET``, ``USE``, temporary tables) never outlive
  it. ``session_id`` is therefore accepted and ignored: there are no server-side sessions.
* GET requests run with ``readonly=2``; users marked read-only in the users file run every
  request with ``readonly=1``, applied before the request's settings, so the engine refuses
  writes and setting changes with its own READONLY (164) error; and their statement must parse
  (``EXPLAIN AST``) as SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS without INTO OUTFILE
  (``_ch_readonly``), which also refuses KILL and SYSTEM.
* Request bodies may be compressed (``Content-Encoding`` lz4, zstd, gzip, deflate, and br when
  the brotli module is installed); responses are compressed when the request has
  ``enable_http_compression=1`` and a matching ``Accept-Encoding``. ClickHouse's own block
  compression (``compress=1``/``decompress=1``) is not implemented and is refused.
* Authentication by HTTP basic auth, ``X-ClickHouse-User``/``X-ClickHouse-Key`` or
  ``user``/``password`` parameters, against the users file (sha256 password hashes, re-read
  when it changes). Failures are AUTHENTICATION_FAILED (516) with HTTP 403, as ClickHouse does.
* Errors carry ``X-ClickHouse-Exception-Code`` and a ``Code: N. DB::Exception: ...`` body, with
  ClickHouse's HTTP status for the code. Responses carry ``X-ClickHouse-Query-Id``,
  ``-Summary``, ``-Format``, ``-Timezone`` and ``-Server-Display-Name``.
* One statement per request, as ClickHouse's HTTP interface requires (chdb alone would run a
  ``;``-separated batch).
* ``/ping`` (and ``/replicas_status``) answer ``Ok.`` without touching the engine, so health
  checks stay fast while long queries run.
* Results are produced whole before the response starts (as with ``wait_end_of_query=1``), so
  an error is always reported with a proper status. Queries are not cancelled when the client
  disconnects, and ``client_protocol_version`` is ignored (Native output has no block info; the
  client notices and copes, as behind a proxy that strips the parameter).

Requests are served by one thread per connection; queries run in parallel on their own engine
connections (chdb releases the GIL), bounded by ``--max-concurrent-queries``. SIGTERM stops
accepting connections, lets running requests finish and closes the engine, which flushes it.
Only one server can own a data directory; a second one exits with status 3 and says which
process has it.

The pieces: ``_ch_engine`` (chdb, the data directory, per-request connections), ``_ch_sql``
(finding the end of the statement and the start of INSERT data), ``_ch_request`` (parameters),
``_ch_users`` (users file, credentials), ``_ch_io`` (body framing, compression, multipart),
``_ch_errors`` (ClickHouse error texts and HTTP statuses).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from localstack import _ch_io as io
from localstack import _ch_sql as sql
from localstack import _ch_teams as teams
from localstack._ch_engine import DataDirInUse, Engine, Session
from localstack._ch_errors import BAD_ARGUMENTS, UNKNOWN_EXCEPTION, ClickHouseError
from localstack._ch_readonly import check_read_only, syntax_tree
from localstack._ch_request import RequestOptions, as_utf8, parse_options, read_statement
from localstack._ch_users import User, UserDirectory, add_team_user, credentials, write_users_file
from query.reporting_schema import reporting_database
from servicekit.logs import configure_logging

__all__ = ["add_team_user", "main", "write_users_file"]

log = structlog.get_logger("localstack.clickhouse_http")

EXIT_BAD_CONFIG = 2
EXIT_DATA_DIR_IN_USE = 3
EXIT_CANNOT_LISTEN = 4

# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], engine: Engine, users: UserDirectory) -> None:
        self.engine = engine
        self.users = users
        self.display_name = socket.gethostname()
        self.stopping = False
        self._inflight = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    def enter(self) -> None:
        with self._idle:
            self._inflight += 1

    def leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("connection_error", client=str(client_address))

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)


_HEALTH_PATHS = ("/ping", "/replicas_status")
_NO_HANDLER = (
    "There is no handle {path}\n\nUse / or /ping for health checks.\n"
    "Or /replicas_status for more sophisticated health checks.\n\n"
    "Send queries from your program with POST method or GET /?query=...\n"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cairn-clickhouse-http"
    sys_version = ""
    # Idle keep-alive connections, and clients that stall mid-request, are dropped after this
    # many seconds (ClickHouse's keep_alive_timeout is shorter; clients reconnect either way).
    timeout = 600
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every small response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        structlog.contextvars.bind_contextvars(service="clickhouse")

    def log_message(self, format: str, *args: Any) -> None:
        """Access logging is done per query in _query; the stdlib lines would duplicate it."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        """Health checks only: HEAD answers like GET /ping without a body."""
        self.send_response(200 if urlsplit(self.path).path in _HEALTH_PATHS else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path in _HEALTH_PATHS or (
            url.path == "/" and method == "GET" and "query" not in params
        ):
            io.RequestBody(self.rfile, self.headers).drain()
            self._send(_Reply(200, b"Ok.\n", [("Content-Type", "text/html; charset=UTF-8")]))
            return
        if url.path != "/":
            drained = io.RequestBody(self.rfile, self.headers).drain()
            self.close_connection = self.close_connection or not drained
            body = _NO_HANDLER.format(path=url.path).encode()
            self._send(_Reply(404, body, [("Content-Type", "text/plain; charset=UTF-8")]))
            return
        self.server.enter()
        try:
            self._query(method, params)
        finally:
            self.server.leave()

    def _query(self, method: str, params: dict[str, str]) -> None:
        started = time.monotonic()
        query_id = params.setdefault("query_id", "") or str(uuid.uuid4())
        params["query_id"] = query_id
        body = io.RequestBody(self.rfile, self.headers)
        info: dict[str, Any] = {"method": method, "query_id": query_id}
        try:
            reply = self._execute(method, params, body, info)
        except ClickHouseError as exc:
            reply = self._error(exc, query_id)
        except io.ClientDisconnected:
            self.close_connection = True
            log.info("client_disconnected", **info)
            return
        except Exception as exc:  # an endpoint bug must still answer like ClickHouse
            log.exception("request_failed", **info)
            reply = self._error(ClickHouseError.make(UNKNOWN_EXCEPTION, repr(exc)), query_id)
        if not body.drain():
            self.close_connection = True
        if self.server.stopping:
            self.close_connection = True
        self._send(reply)
        info.update(status=reply.status, ms=round((time.monotonic() - started) * 1000, 1))
        if reply.status >= 400:
            code = dict(reply.headers).get("X-ClickHouse-Exception-Code")
            log.warning(
                "query_failed", code=code, error=reply.body[:500].decode(errors="replace"), **info
            )
        else:
            log.info("query", **info)

    def _execute(
        self, method: str, params: dict[str, str], body: io.RequestBody, info: dict[str, Any]
    ) -> _Reply:
        user = self.server.users.authenticate(*credentials(self.headers, params))
        info["user"] = user.name
        content_type = self.headers.get("Content-Type", "")
        files: dict[str, bytes] = {}
        if method == "POST" and content_type.lower().startswith("multipart/form-data"):
            form = io.parse_multipart(body.read_all(), content_type)
            params = {**params, **form.fields}
            files = form.files
        opts = parse_options(params, self.headers, files)
        if user.team:
            reporting = reporting_database(user.database)
            if opts.database not in (None, reporting):
                raise ClickHouseError.make(
                    teams.ACCESS_DENIED,
                    f"{user.name}: Not enough privileges: a team's reporting user reads only"
                    f" the database {reporting}",
                )
            opts.database = reporting
        readonly = 1 if user.readonly else (2 if method == "GET" else 0)
        stream = io.decompressed(body.chunks(), self.headers.get("Content-Encoding", ""))
        prefix = (opts.query + "\n").encode() if opts.query else b""
        split, text, rest = read_statement(prefix, stream)
        if split.shape is sql.Shape.PLAIN and not text.strip():
            raise ClickHouseError.make(BAD_ARGUMENTS, "Empty query")
        try:
            return self._run(readonly, opts, split, text, rest, info, user)
        except ClickHouseError as exc:
            # Every engine connection is chdb's "default" user; name the real one instead.
            exc.text = exc.text.replace(
                "DB::Exception: default: ", f"DB::Exception: {user.name}: ", 1
            )
            raise

    def _run(
        self,
        readonly: int,
        opts: RequestOptions,
        split: sql.Split,
        text: bytes,
        rest: Iterator[bytes],
        info: dict[str, Any],
        user: User,
    ) -> _Reply:
        """Execute the statement on a fresh engine connection set up for the request; a
        read-only user's statement must parse as a reading one first (``_ch_readonly``), and a
        team user's must stay in its reporting database, whose views are filtered to its team
        (``_ch_teams``)."""
        headers = self._common_headers(opts.query_id, opts.settings)
        pinned: list[str] = []
        known_databases: frozenset[str] = frozenset()
        if user.team:
            with self.server.engine.session(readonly=1, database=None, settings={}) as admin:
                pinned = teams.filter_statements(admin, user.team, user.database)
                known_databases = teams.databases(admin)
        with self.server.engine.session(
            readonly=readonly,
            database=opts.database,
            settings=opts.settings,
            external=opts.external,
            pinned=pinned,
        ) as session:
            if user.readonly and split.shape is not sql.Shape.INSERT_DATA:
                tree = syntax_tree(session, text, opts.bind)
                info["parsed_kind"] = check_read_only(tree, "default")
                if user.team:
                    teams.check_references(
                        tree, reporting_database(user.database), known_databases, "default"
                    )
            if split.shape is not sql.Shape.INSERT_DATA:
                return self._select(session, text, opts, headers, info)
            info["kind"] = "INSERT"
            head = as_utf8(split.head, "INSERT statement")
            fmt = as_utf8(split.input_format, "Input format")
            data = itertools.chain([text] if text else [], rest)
            summary = session.insert(head, fmt, data)
        info["written_rows"] = summary["written_rows"]
        headers += [
            ("X-ClickHouse-Summary", json.dumps(summary, separators=(",", ":"))),
            ("Content-Type", "text/plain; charset=UTF-8"),
        ]
        return _Reply(200, b"", headers)

    def _select(
        self,
        session: Session,
        text: bytes,
        opts: RequestOptions,
        headers: list[tuple[str, str]],
        info: dict[str, Any],
    ) -> _Reply:
        latin = text.decode("latin-1")
        info["kind"] = sql.statement_kind(latin)
        fmt = sql.output_format(latin) or opts.default_format
        output = session.query(text, opts.default_format, opts.bind)
        info["result_bytes"] = len(output.data)
        headers += [
            ("X-ClickHouse-Format", fmt),
            ("Content-Type", io.content_type(fmt)),
            ("X-ClickHouse-Summary", json.dumps(output.summary, separators=(",", ":"))),
        ]
        encoding = None
        if opts.compress_response:
            encoding = io.response_encoding(self.headers.get("Accept-Encoding", ""))
        reply = _Reply(200, output.data, headers)
        if encoding:
            reply.body = io.compress(output.data, encoding, opts.compression_level)
            reply.headers.append(("Content-Encoding", encoding))
        return reply

    def _common_headers(self, query_id: str, settings: Mapping[str, str]) -> list[tuple[str, str]]:
        return [
            ("X-ClickHouse-Server-Display-Name", self.server.display_name),
            ("X-ClickHouse-Query-Id", query_id),
            (
                "X-ClickHouse-Timezone",
                settings.get("session_timezone") or self.server.engine.timezone,
            ),
        ]

    def _error(self, exc: ClickHouseError, query_id: str) -> _Reply:
        headers = self._common_headers(query_id, {})
        headers += [
            ("X-ClickHouse-Exception-Code", str(exc.code)),
            ("Content-Type", "text/plain; charset=UTF-8"),
        ]
        return _Reply(exc.http_status, exc.body(self.server.engine.version), headers)

    def _send(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.body:
                self.wfile.write(reply.body)
        except OSError:  # the client went away; nothing to tell it
            self.close_connection = True


# ---------------------------------------------------------------------------------------------
# Process


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localstack.clickhouse_http",
        description="Serve a chdb data directory over ClickHouse's HTTP interface.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="chdb data directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8123, help="TCP port (0: any free port)")
    parser.add_argument("--users-file", type=Path, required=True, help="JSON users file")
    parser.add_argument("--max-concurrent-queries", type=int, default=32)
    parser.add_argument("--shutdown-grace", type=float, default=30.0, help="seconds")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT. Returns the process exit status."""
    args = _arguments(argv)
    configure_logging(service="clickhouse", level=args.log_level, json=True)
    try:
        users = UserDirectory(args.users_file)
    except ValueError as exc:
        log.error("bad_users_file", error=str(exc))
        return EXIT_BAD_CONFIG
    engine = Engine(args.data_dir, max_concurrent=max(1, args.max_concurrent_queries))
    try:
        engine.open()
    except DataDirInUse as exc:
        log.error("data_dir_in_use", error=str(exc))
        print(f"clickhouse_http: {exc}", file=sys.stderr)
        return EXIT_DATA_DIR_IN_USE
    try:
        server = _Server((args.host, args.port), engine, users)
    except OSError as exc:
        engine.close()
        log.error("cannot_listen", host=args.host, port=args.port, error=str(exc))
        return EXIT_CANNOT_LISTEN

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, name="http-accept", daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    log.info(
        "listening",
        host=host,
        port=port,
        data_dir=str(engine.data_dir),
        engine_version=engine.version,
        timezone=engine.timezone,
        pid=os.getpid(),
    )
    while not stop.wait(0.5):
        pass
    log.info("stopping")
    server.stopping = True
    server.shutdown()
    server.server_close()
    if not server.wait_idle(args.shutdown_grace):
        log.warning("requests_still_running_at_shutdown")
    engine.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
