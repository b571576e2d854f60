"""SQL for rebuilding projections: a scratch database beside the live one, then an atomic swap.

``cairn replay`` projects the whole event log into ``<database>_replay`` and then exchanges every
projection table with its live twin (``EXCHANGE TABLES`` is atomic per table in an Atomic
database). Views and the materialized view refer to tables by name, so they read and feed the new
tables from the moment of the exchange. The old tables end up in ``<database>_previous``, kept
until the next replay as a way back.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from domain.tables import ALL_TABLES, OPERATIONAL_TABLES
from query.migrations import apply_migrations
from query.reporting_schema import reporting_database
from query.schema import METRIC_SUMMARIES
from query.series_schema import METRIC_BOUNDS, METRIC_ROLLUP, METRIC_ROLLUP_ENDS
from query.sql import quote_identifier as q

# Every table that holds data projected from events; views (and the reporting views) follow them
# by name. The delivery log and inbox are not derived from events, so they stay where they are.
SWAPPED_TABLES: tuple[str, ...] = (
    *(t.name for t in ALL_TABLES if t not in OPERATIONAL_TABLES),
    METRIC_SUMMARIES.name,
    METRIC_BOUNDS.name,
    METRIC_ROLLUP.name,
    METRIC_ROLLUP_ENDS.name,
)


def scratch_name(database: str) -> str:
    return f"{database}_replay"


def previous_name(database: str) -> str:
    return f"{database}_previous"


def create_scratch_database(client: Client, database: str) -> str:
    """A fresh, empty copy of the schema; any leftover from an interrupted replay is dropped."""
    scratch = scratch_name(database)
    client.command(f"DROP DATABASE IF EXISTS {q(scratch)} SYNC")
    client.command(f"DROP DATABASE IF EXISTS {q(reporting_database(scratch))} SYNC")
    apply_migrations(client, scratch)
    return scratch


def swap_in(client: Client, database: str) -> None:
    """Exchange every projection table of the scratch database with the live one."""
    scratch = scratch_name(database)
    for table in SWAPPED_TABLES:
        client.command(f"EXCHANGE TABLES {q(database)}.{q(table)} AND {q(scratch)}.{q(table)}")
    previous = previous_name(database)
    client.command(f"DROP DATABASE IF EXISTS {q(previous)} SYNC")
    client.command(f"RENAME DATABASE {q(scratch)} TO {q(previous)}")
    # The scratch schema's reporting views point at the scratch database; the live ones remain.
    client.command(f"DROP DATABASE IF EXISTS {q(reporting_database(scratch))} SYNC")
