"""Running the query layer's statements: bound parameters in, rows or frames out, Cairn errors.

Every read function goes through here, so the translation from the driver's errors to Cairn's
one hierarchy happens once: an unreachable server is :class:`~cairn.errors.UnavailableError`
(retry later); anything the engine refuses is a bug in ``query/`` (users never supply SQL to
these functions), raised as an internal :class:`~cairn.errors.CairnError` carrying the server's
message.

Statements run outside the client's HTTP session (``session_id`` empty): they need no session
state (no temporary tables, no ``SET``), and a session admits one query at a time, which would
stop a function from running its independent statements concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from cairn_contract.errors import CairnError, UnavailableError

_SESSIONLESS = {"session_id": ""}

# The order that makes one row a projection's latest state: the run's own sequence first, then
# time, then the event id as the tie-break (docs/schema.md, "Views that present the latest state").
LATEST = "(sequence, occurred_at, event_id)"


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise UnavailableError(f"ClickHouse is unreachable: {exc}") from exc
    except DatabaseError as exc:
        raise CairnError(f"query failed: {exc}") from exc


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
