"""Which team owns runs already in the store: the processors' fallback for aggregate ownership.

The processors enforce aggregate ownership (domain/ownership.py) while projecting; what they have
seen since start-up is in memory, and this reads the rest from the store once per batch: a run's
team and the ``run_created`` event that created it are its ``team`` row in ``run_fields``
(written once, by ``run_created``).
"""

from __future__ import annotations

from collections.abc import Iterable

from clickhouse_connect.driver.client import Client

from domain.ownership import Owner
from query import _execute
from query.sql import quote_identifier as q


def run_owners(client: Client, database: str, run_ids: Iterable[str]) -> dict[str, Owner]:
    """``run:<id>`` -> owner for each of ``run_ids`` the store knows (the first creation wins)."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return {}
    sql = f"""
SELECT run_id, argMin(value, (occurred_at, event_id)) AS team,
    argMin(event_id, (occurred_at, event_id)) AS created_by
FROM {q(database)}.{q("run_fields")}
WHERE field = 'team' AND run_id IN {{run_ids:Array(String)}}
GROUP BY run_id
"""
    rows = _execute.rows(client, sql, {"run_ids": wanted})
    return {f"run:{r['run_id']}": Owner(str(r["team"]), str(r["created_by"])) for r in rows}
