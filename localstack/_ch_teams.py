"""Team users of the local endpoint: each sees only its team's rows (plus what is shared with
the team) in every reporting view, and nothing outside its reporting database.

chdb has no access control, so the endpoint does what row policies do on a real server
(``query/row_policies.py`` writes the one condition both use):

* Before a team user's request runs, :func:`filter_statements` reads the views of
  ``<database>_reporting`` and their columns from the engine (every view, whichever migration
  created it) and sets ``additional_table_filters`` to each view's condition for the team. The
  engine applies it wherever the view is read (``FROM``, joins, subqueries, CTEs, ``IN``), and
  the setting is made before ``readonly = 1``, so the request cannot change or clear it.
* :func:`check_references` refuses (ACCESS_DENIED, 497) a statement that names a table or
  dictionary outside the reporting database: the projection tables have no team filter. A few
  system tables that describe the server, never anyone's data (settings, functions, formats,
  the table and column lists), stay readable, as SQL clients and BI tools read them on connect.
"""

from __future__ import annotations

import json
import re

from localstack import _ch_sql as sql
from localstack._ch_engine import Session
from localstack._ch_errors import ClickHouseError
from query.reporting_schema import reporting_database
from query.row_policies import team_view_filters

ACCESS_DENIED = (497, "ACCESS_DENIED")
# Metadata only: no other team's rows, no other user's queries (query_log, processes are out).
READABLE_SYSTEM_TABLES = frozenset(
    {
        "one",
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "settings",
        "functions",
        "formats",
        "data_type_families",
        "table_functions",
        "table_engines",
        "time_zones",
        "collations",
        "build_options",
        "databases",
        "tables",
        "columns",
        "keywords",
        "aggregate_function_combinators",
    }
)
_METADATA_DATABASES = frozenset({"information_schema", "INFORMATION_SCHEMA"})
_REFERENCE = re.compile(r"^(TableIdentifier|Identifier) (\S+)")
_READS_OTHER_STORAGE = re.compile(r"^Function (dictGet\w*|dictHas|joinGet\w*)\b")


def _map_literal(entries: dict[str, str]) -> str:
    return (
        "{"
        + ", ".join(f"{sql.quote_string(k)}: {sql.quote_string(v)}" for k, v in entries.items())
        + "}"
    )


def filter_statements(session: Session, team: str, database: str) -> list[str]:
    """The ``SET`` statement restricting every view of ``<database>_reporting`` to ``team``."""
    reporting = reporting_database(database)
    output = session.query(
        b"SELECT table, groupArray(name) FROM system.columns WHERE database = {db:String}"
        b" AND table IN (SELECT name FROM system.tables WHERE database = {db:String})"
        b" GROUP BY table FORMAT JSONCompactEachRow",
        "JSONCompactEachRow",
        {"db": reporting},
    )
    views: dict[str, frozenset[str]] = {}
    for line in output.data.decode().splitlines():
        table, columns = _json_pair(line)
        views[table] = frozenset(columns)
    filters = team_view_filters(team, database, views)
    if not filters:
        return []
    return [sql.set_statement({"additional_table_filters": _map_literal(filters)})]


def _json_pair(line: str) -> tuple[str, list[str]]:
    table, columns = json.loads(line)
    return str(table), [str(c) for c in columns]


def databases(session: Session) -> frozenset[str]:
    output = session.query(b"SELECT name FROM system.databases", "TabSeparatedRaw", {})
    return frozenset(output.data.decode().split())


def check_references(
    tree: list[str], reporting: str, known_databases: frozenset[str], user: str
) -> None:
    """Refuse a statement (its ``EXPLAIN AST`` lines) that reads outside ``reporting``."""
    for line in tree:
        node = line.strip()
        if _READS_OTHER_STORAGE.match(node):
            raise _denied(user, f"{node.split()[1]} reads outside the reporting views")
        found = _REFERENCE.match(node)
        if not found:
            continue
        kind, name = found.groups()
        parts = name.split(".")
        if len(parts) < 2:
            continue  # unqualified: the reporting database, a CTE, an alias or a column
        database, table = parts[0], parts[1]
        if kind == "Identifier" and database not in known_databases:
            continue  # a column qualified by a table alias (r.team)
        if database == reporting or database in _METADATA_DATABASES:
            continue
        if database == "system" and table in READABLE_SYSTEM_TABLES:
            continue
        raise _denied(user, f"{database}.{table} is outside {reporting}")


def _denied(user: str, why: str) -> ClickHouseError:
    return ClickHouseError.make(
        ACCESS_DENIED,
        f"{user}: Not enough privileges: a team's reporting user reads only its reporting"
        f" database ({why})",
    )
