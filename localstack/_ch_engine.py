"""The chdb engine behind the HTTP endpoint: one data directory, one process, many connections.

chdb hosts one embedded ClickHouse engine per process, bound to one data directory, and the
engine locks that directory against other processes. Within the process it accepts any number
of connections, each with its own session state (current database, ``SET`` values), and runs
queries from different connections in parallel with the GIL released.

Every HTTP request therefore gets a fresh connection: the request's database, settings and
read-only level are applied to it and vanish with it, so nothing a request sets can reach the
next one, and concurrent requests do not share state. Opening a connection to the running
engine costs about 0.2 ms. An anchor connection is held for the server's lifetime, since the
engine shuts down when its last connection closes; closing it at shutdown flushes the engine.

A semaphore bounds how many requests use the engine at once; requests beyond it wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from localstack import _ch_sql as sql
from localstack._ch_errors import (
    ABORTED,
    BAD_ARGUMENTS,
    SYNTAX_ERROR,
    UNKNOWN_FORMAT,
    ClickHouseError,
    from_engine,
)

LOCK_FILE = "cairn-clickhouse-http.lock"


class DataDirInUse(Exception):
    """Another live server owns the data directory."""


class _Result(Protocol):
    def size(self) -> int: ...
    def bytes(self) -> bytes: ...
    def rows_read(self) -> int: ...
    def bytes_read(self) -> int: ...
    def storage_rows_read(self) -> int: ...
    def storage_bytes_read(self) -> int: ...
    def rows_written(self) -> int: ...
    def bytes_written(self) -> int: ...
    def elapsed(self) -> float: ...


class _Connection(Protocol):
    def classify_query(self, sql: str) -> dict[str, Any]: ...
    def query(self, sql: str | bytes, fmt: str, params: dict[str, str]) -> _Result: ...
    def send_insert(self, sql: str, fmt: str) -> Any: ...
    def insert_append(self, inserter: Any, data: bytes) -> None: ...
    def insert_done(self, inserter: Any) -> _Result: ...
    def insert_cancel(self, inserter: Any) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ExternalTable:
    """A temporary table sent with the query as multipart data (ClickHouse "external data")."""

    name: str
    structure: str  # "a UInt32, b String"
    fmt: str
    data: bytes


@dataclass(frozen=True)
class QueryOutput:
    """A query's complete output in the requested format, and its statistics.

    ``data`` is a copy: chdb's result buffers belong to the connection and are reused or freed
    once the result object or the connection goes away, so views into them must not escape.
    """

    data: bytes
    summary: dict[str, str]


def _summary(result: _Result) -> dict[str, str]:
    """ClickHouse's X-ClickHouse-Summary keys; all values are decimal strings, as it sends them."""
    read_rows = str(result.storage_rows_read())
    return {
        "read_rows": read_rows,
        "read_bytes": str(result.storage_bytes_read()),
        "written_rows": str(result.rows_written()),
        "written_bytes": str(result.bytes_written()),
        "total_rows_to_read": read_rows,
        "result_rows": str(result.rows_read()),
        "result_bytes": str(result.bytes_read()),
        "elapsed_ns": str(int(result.elapsed() * 1e9)),
    }


class Session:
    """One request's connection, already set up. Used by a single thread."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    def query(self, text: bytes, fmt: str, params: Mapping[str, str]) -> QueryOutput:
        """Run one statement; ``fmt`` is the output format unless the statement names one.

        Like ClickHouse's HTTP interface, only one statement per request is accepted (chdb
        itself would run several).
        """
        try:
            self._check_single(text.decode("utf-8", "replace"))
            result = self._conn.query(text, fmt, params=dict(params))
        except RuntimeError as exc:
            raise from_engine(exc) from None
        data = result.bytes() if result.size() else b""
        return QueryOutput(data, _summary(result))

    def insert(self, head: str, fmt: str, data: Iterable[bytes]) -> dict[str, str]:
        """Stream ``data`` (in input format ``fmt``) into the INSERT statement ``head``."""
        if not sql.is_format_name(fmt):
            raise ClickHouseError.make(UNKNOWN_FORMAT, f"Unknown input format {fmt!r}")
        try:
            self._check_single(head)
            inserter = self._conn.send_insert(head, fmt)
        except RuntimeError as exc:
            raise from_engine(exc) from None
        try:
            for chunk in data:
                self._conn.insert_append(inserter, chunk)
            result = self._conn.insert_done(inserter)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._conn.insert_cancel(inserter)
            if isinstance(exc, RuntimeError):
                raise from_engine(exc) from None
            raise
        return _summary(result)

    def run(self, statement: str) -> None:
        """Run a statement composed by the endpoint itself (SET, USE, CREATE ...)."""
        try:
            self._conn.query(statement, "TabSeparated", params={})
        except RuntimeError as exc:
            raise from_engine(exc) from None

    def type_name(self, type_text: str) -> str:
        """The engine's canonical spelling of a data type, or its error if there is none."""
        try:
            result = self._conn.query(
                "SELECT toTypeName(defaultValueOfTypeName({t:String}))",
                "TabSeparatedRaw",
                params={"t": sql.escape_param(type_text)},
            )
        except RuntimeError as exc:
            raise from_engine(exc) from None
        return result.bytes().decode().rstrip("\n")

    def _check_single(self, text: str) -> None:
        shape = self._conn.classify_query(text)
        if int(shape["statement_count"]) > 1:
            raise ClickHouseError.make(
                SYNTAX_ERROR, "Syntax error (Multi-statements are not allowed)"
            )


class Engine:
    """Owner of the chdb data directory for the life of the server process."""

    def __init__(self, data_dir: Path, *, max_concurrent: int = 32) -> None:
        self.data_dir = data_dir.resolve()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._connect: Any = None
        self._anchor: _Connection | None = None
        self._lock_file: IO[str] | None = None
        self._closing = False
        self.version = ""
        self.timezone = "UTC"

    def open(self) -> None:
        """Lock the data directory and start the engine. Raises DataDirInUse if another server
        has it; chdb's own lock (the ``status`` file) backs this up for other kinds of owner."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = (self.data_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "unknown"
            lock.close()
            raise DataDirInUse(
                f"data directory {self.data_dir} is in use by another server (pid {owner})"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock_file = lock
        # chdb's compiled module has no type information for connect().
        self._connect = importlib.import_module("chdb._chdb").connect
        try:
            self._anchor = self._connect(str(self.data_dir))
        except RuntimeError as exc:
            self._release_lock()
            raise DataDirInUse(
                f"cannot open {self.data_dir} (is another process using it as a chdb data"
                f" directory?): {from_engine(exc).text}"
            ) from None
        info = self._anchor.query("SELECT version(), timezone()", "TabSeparated", params={})
        self.version, self.timezone = info.bytes().decode().strip().split("\t")

    @contextlib.contextmanager
    def session(
        self,
        *,
        readonly: int,
        database: str | None,
        settings: Mapping[str, str],
        external: Sequence[ExternalTable] = (),
        pinned: Sequence[str] = (),
    ) -> Iterator[Session]:
        """A fresh connection with the request's state applied, closed on exit.

        ``readonly`` is applied before the request's settings, so the engine itself refuses a
        read-only user's attempt to change it (or anything else, at level 1). External tables
        are created first, since a read-only connection may not create them, and ``pinned``
        statements (the endpoint's own ``SET`` s, such as a team user's row filters) run before
        ``readonly`` too, so the request cannot change what they set.
        """
        if self._closing or self._connect is None:
            raise ClickHouseError.make(ABORTED, "Server is shutting down")
        with self._slots:
            target = str(self.data_dir)
            late_readonly = bool(external or pinned)
            if readonly and not late_readonly:
                target += f"?readonly={readonly}"
            try:
                conn: _Connection = self._connect(target)
            except RuntimeError as exc:
                raise from_engine(exc) from None
            try:
                session = Session(conn)
                for table in external:
                    self._load_external(session, table)
                for statement in pinned:
                    session.run(statement)
                if readonly and late_readonly:
                    session.run(f"SET readonly = {readonly}")
                if database:
                    session.run(f"USE {sql.quote_identifier(database)}")
                if settings:
                    session.run(sql.set_statement(dict(settings)))
                yield session
            finally:
                conn.close()

    @staticmethod
    def _load_external(session: Session, table: ExternalTable) -> None:
        """Create and fill one external table. This runs before a read-only user's
        ``readonly`` is applied, so no text from the request reaches the SQL: the name is
        quoted, each column type is replaced by the engine's own spelling of it (read through
        a bound parameter) and the format is a bare identifier."""
        try:
            columns = sql.split_columns(table.structure)
        except ValueError as exc:
            raise ClickHouseError.make(BAD_ARGUMENTS, str(exc)) from None
        if not sql.is_format_name(table.fmt):
            raise ClickHouseError.make(UNKNOWN_FORMAT, f"Unknown format {table.fmt!r}")
        defs = ", ".join(
            f"{sql.quote_identifier(name)} {session.type_name(type_text)}"
            for name, type_text in columns
        )
        name = sql.quote_identifier(table.name)
        session.run(f"CREATE TEMPORARY TABLE {name} ({defs}) ENGINE = Memory")
        session.insert(f"INSERT INTO {name}", table.fmt, [table.data] if table.data else [])

    def close(self) -> None:
        """Stop taking sessions and shut the engine down (flushing it)."""
        self._closing = True
        if self._anchor is not None:
            with contextlib.suppress(Exception):
                self._anchor.close()
            self._anchor = None
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
