"""One ad-hoc SQL statement from a person (``cairn sql``): bound parameters, any statement kind,
engine errors as one readable line.

Values never become SQL text: ``--param name=value`` is sent as the HTTP parameter
``param_name`` and the engine parses it as the type its ``{name:Type}`` placeholder declares, so
``{lr:Float64}`` with ``abc`` fails in the engine with a type error naming the parameter.

Statements that return rows (``SELECT``, ``WITH``, ``SHOW``, ``DESCRIBE``, ``EXPLAIN``,
``EXISTS``) print as a table or in the asked format; any other statement (``CREATE``, ``SET``,
``INSERT``, ...) prints ``OK``. Engine errors become :class:`SqlError` (``invalid_argument``) whose
message is ``Code: N. NAME: what the engine said``; an unreachable endpoint an
:class:`~cairn.errors.UnavailableError` that says how to check the stack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from cairn_contract.errors import (
    AuthenticationError,
    CairnError,
    ErrorCode,
    UnavailableError,
    ValidationError,
)
from query.client import ClickHouseTarget, connect
from query.reporting_output import render_table

_ROW_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"})
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENGINE_ERROR = re.compile(r"Code: (\d+)\.\s*(?:DB::Exception: )?(.*)")
_ENGINE_NAME = re.compile(r"\s*\(([A-Z][A-Z0-9_]+)\)\s*$")
_ENGINE_TAIL = re.compile(r"\s*\((?:version [^)]*|for url [^)]*)\)\s*$")
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+\w+\s*;?\s*$", re.IGNORECASE)
_AUTH_CODES = {"516", "192", "193"}  # AUTHENTICATION_FAILED, UNKNOWN_USER, WRONG_PASSWORD
_LEADING_COMMENTS = re.compile(r"^\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/)|\s)*", re.DOTALL)


class SqlError(CairnError):
    """The engine refused the statement; ``engine_code``/``engine_name`` are ClickHouse's."""

    code = ErrorCode.INVALID_ARGUMENT

    def __init__(self, message: str, *, engine_code: int, engine_name: str) -> None:
        super().__init__(message, field="query", rule=engine_name or str(engine_code))
        self.engine_code = engine_code
        self.engine_name = engine_name


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``["name=value", ...]`` as a mapping; a malformed pair is a ValidationError naming it."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _PARAM_NAME.match(name):
            raise ValidationError(
                f"--param {pair!r} must be NAME=VALUE with NAME a placeholder name like lr "
                "(the query writes it as {lr:Float64})",
                field="param",
                rule="name_equals_value",
            )
        params[name] = value
    return params


def returns_rows(sql: str) -> bool:
    """Whether the statement answers with rows (its first keyword, after comments)."""
    rest = _LEADING_COMMENTS.sub("", sql, count=1)
    keyword = re.match(r"\(*\s*([A-Za-z]+)", rest)
    return bool(keyword) and keyword.group(1).upper() in _ROW_STATEMENTS  # type: ignore[union-attr]


def run_sql(url: str, sql: str, *, params: Sequence[str] = (), fmt: str | None = None) -> bytes:
    """Run one statement at ``url``; the bytes to print (a table when ``fmt`` is None, else the
    engine's output in that ClickHouse format, e.g. ``CSVWithNames``)."""
    parameters = parse_params(params)
    target = ClickHouseTarget.from_url(url)
    try:
        client = connect(url)
        if not returns_rows(sql):
            client.command(sql, parameters=parameters or None)
            return b"OK\n"
        if _FORMAT_CLAUSE.search(sql):  # the statement names its own output format
            data: bytes = client.raw_query(sql, parameters=parameters or None)
            return data
        if fmt is None:
            result = client.query(sql, parameters=parameters or None)
            columns = list(result.column_names)
            if not columns:  # an empty answer carries no header block: ask for the names alone
                header = client.raw_query(sql, parameters=parameters or None, fmt="TSVWithNames")
                columns = header.decode().split("\n", 1)[0].split("\t") if header else []
            table = render_table(columns, result.result_rows) if columns else "(0 rows)"
            return (table + "\n").encode()
        return client.raw_query(sql, parameters=parameters or None, fmt=fmt)
    except OperationalError as exc:
        raise UnavailableError(
            f"cannot reach ClickHouse at {target.redacted()}: is the stack running? "
            "Check with `cairn status` (start it with `make up`)"
        ) from exc
    except DatabaseError as exc:
        raise engine_error(str(exc), target) from exc


def engine_error(text: str, target: ClickHouseTarget) -> CairnError:
    """The one-line error for a ClickHouse error response (``Code: N. DB::Exception: ...``)."""
    found = None
    for line in text.splitlines():
        found = _ENGINE_ERROR.search(line.strip())
        if found:
            break
    if found is None:
        first = next((line.strip() for line in text.splitlines() if line.strip()), text)
        return SqlError(first, engine_code=0, engine_name="")
    code, message = found.group(1), found.group(2).strip()
    while _ENGINE_TAIL.search(message):
        message = _ENGINE_TAIL.sub("", message)
    named = _ENGINE_NAME.search(message)
    name = named.group(1) if named else ""
    message = _ENGINE_NAME.sub("", message).rstrip(". ")
    if code in _AUTH_CODES:
        return AuthenticationError(
            f"ClickHouse refused user {target.username!r} at {target.redacted()}: {message}. "
            "For the local stack, `cairn sql --url` prints the current URL"
        )
    if name == "UNKNOWN_QUERY_PARAMETER":
        message += ": pass its value with --param NAME=VALUE"
    label = f"Code: {code}. {name}" if name else f"Code: {code}"
    return SqlError(f"{label}: {message}", engine_code=int(code), engine_name=name)
