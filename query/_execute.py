"""Running the query layer's statements: bound parameters in, rows or frames out, Cairn errors.

Every read function goes through here, so the translation from the driver's errors to Cairn's
one hierarchy happens once: an unreachable server is :class:`~cairn.errors.UnavailableError`
(retry later); a statement stopped by one of the engine's limits (time, memory, rows read) is a
:class:`QueryLimitError` (a :class:`~cairn.errors.LimitExceededError`, code
``resource_exhausted``: narrow the query or raise the limit, it is not a bug); anything else the
engine refuses is a bug in ``query/`` (users never supply SQL to these functions), raised as a
:class:`QueryFailedError` (code ``internal``). Both carry the server's message and its numeric
error code (``clickhouse_code``, e.g. 159 for TIMEOUT_EXCEEDED), so the code survives to the
portal and the CLI.

Statements run outside the client's HTTP session (``session_id`` empty): they need no session
state (no temporary tables, no ``SET``), and a session admits one query at a time, which would
stop a function from running its independent statements concurrently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from cairn_contract.errors import CairnError, LimitExceededError, UnavailableError

_SESSIONLESS = {"session_id": ""}

# The order that makes one row a projection's latest state: the run's own sequence first, then
# time, then the event id as the tie-break (docs/schema.md, "Views that present the latest state").
LATEST = "(sequence, occurred_at, event_id)"


# ClickHouse's error codes for a statement stopped by a limit (src/Common/ErrorCodes.cpp).
LIMIT_CODES = {
    158: "TOO_MANY_ROWS",
    159: "TIMEOUT_EXCEEDED",
    160: "TOO_SLOW",
    241: "MEMORY_LIMIT_EXCEEDED",
    307: "TOO_MANY_BYTES",
    396: "TOO_MANY_ROWS_OR_BYTES",
}
_CODE = re.compile(r"\bCode: (\d+)\b")


class QueryFailedError(CairnError):
    """The engine refused a statement of the query layer; ``clickhouse_code`` is its error code
    (None when the message carried none)."""

    def __init__(self, message: str, *, clickhouse_code: int | None = None) -> None:
        super().__init__(message)
        self.clickhouse_code = clickhouse_code


class QueryLimitError(LimitExceededError):
    """The engine stopped a statement at one of its limits (``rule`` names it, e.g.
    ``TIMEOUT_EXCEEDED``; ``clickhouse_code`` is its number)."""

    def __init__(self, message: str, *, clickhouse_code: int) -> None:
        super().__init__(message, rule=LIMIT_CODES[clickhouse_code])
        self.clickhouse_code = clickhouse_code


def clickhouse_code(exc: BaseException) -> int | None:
    """The server's numeric error code in a driver exception's message, if any."""
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


def translate(exc: DatabaseError) -> CairnError:
    """The one translation of a refused statement into Cairn's hierarchy, code kept."""
    code = clickhouse_code(exc)
    if code in LIMIT_CODES:
        return QueryLimitError(f"query stopped at a limit: {exc}", clickhouse_code=code)
    return QueryFailedError(f"query failed: {exc}", clickhouse_code=code)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise UnavailableError(f"ClickHouse is unreachable: {exc}") from exc
    except DatabaseError as exc:
        raise translate(exc) from exc


def rows(client: Client, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The result as one dict per row, keyed by column name."""
    with _translated():
        result = client.query(sql, parameters=dict(parameters), settings=_SESSIONLESS)
        return list(result.named_results())


def frame(client: Client, sql: str, parameters: Mapping[str, Any]) -> pd.DataFrame:
    """The result as a DataFrame (numpy-backed columns)."""
    with _translated():
        df: pd.DataFrame = client.query_df(sql, parameters=dict(parameters), settings=_SESSIONLESS)
        return df


def scalar(client: Client, sql: str, parameters: Mapping[str, Any]) -> Any:
    """The first column of the first row (None when there is no row)."""
    with _translated():
        result = client.query(sql, parameters=dict(parameters), settings=_SESSIONLESS)
        return result.result_rows[0][0] if result.result_rows else None


translated = _translated  # for functions that stream (the driver's errors, translated once)
