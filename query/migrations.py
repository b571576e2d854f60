"""Versioned, idempotent ClickHouse schema migrations, recorded in the database they change.

Each :class:`Migration` has a version, a name and SQL statements. :func:`apply_migrations` runs
the ones not yet recorded in ``<database>.schema_migrations``, in version order, and records each
after its statements succeeded. Statements are written to be safe to run twice (``IF NOT EXISTS``),
so a crash between running and recording is harmless. A recorded migration whose checksum no longer
matches the code is an error: applied migrations are immutable, like events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import FailedPreconditionError
from query.automation_schema import AUTOMATION_STATEMENTS
from query.branches_schema import BRANCH_STATEMENTS
from query.ddl import SINGLE_NODE, RawSQL, Statement, Topology
from query.media_schema import MEDIA_STATEMENTS
from query.model_schema import MODEL_REGISTRY_STATEMENTS
from query.reporting_schema import (
    HISTOGRAM_REPORTING_STATEMENTS,
    REPORTING_STATEMENTS,
    reporting_database,
)
from query.saved_views_schema import SAVED_VIEW_STATEMENTS
from query.schema import HISTOGRAM_STATEMENTS, SCHEMA_STATEMENTS
from query.series_schema import (
    ROLLUP_ENDS_STATEMENTS,
    ROLLUPS_FROM_PROCESSORS_STATEMENTS,
    SERIES_STATEMENTS,
)
from query.sql import quote_identifier


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[Statement, ...]

    def rendered(self, database: str, topology: Topology = SINGLE_NODE) -> list[str]:
        return [
            sql for statement in self.statements for sql in statement.render(database, topology)
        ]

    @property
    def checksum(self) -> str:
        """Of the single-node DDL for a fixed database name, so it does not depend on the target."""
        text = "\n;\n".join(self.rendered("cairn"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="reporting_database",
        statements=(
            # SQL users read stable views from their own database (see docs/sql.md).
            RawSQL("CREATE DATABASE IF NOT EXISTS cairn_reporting"),
        ),
    ),
    Migration(version=2, name="projections", statements=SCHEMA_STATEMENTS),
    Migration(version=3, name="reporting_views", statements=REPORTING_STATEMENTS),
    Migration(version=4, name="series_downsampling", statements=SERIES_STATEMENTS),
    Migration(
        version=5,
        name="histograms",
        statements=(*HISTOGRAM_STATEMENTS, *HISTOGRAM_REPORTING_STATEMENTS),
    ),
    Migration(version=6, name="automations", statements=AUTOMATION_STATEMENTS),
    Migration(version=7, name="model_registry", statements=MODEL_REGISTRY_STATEMENTS),
    Migration(version=8, name="history_rollup_ends", statements=ROLLUP_ENDS_STATEMENTS),
    Migration(version=9, name="forks_and_rewinds", statements=BRANCH_STATEMENTS),
    Migration(version=10, name="media", statements=MEDIA_STATEMENTS),
    Migration(version=11, name="saved_views", statements=SAVED_VIEW_STATEMENTS),
    Migration(
        version=12, name="rollups_from_processors", statements=ROLLUPS_FROM_PROCESSORS_STATEMENTS
    ),
)


def _ledger(database: str) -> str:
    return f"{quote_identifier(database)}.schema_migrations"


def applied_migrations(client: Client, database: str) -> list[AppliedMigration]:
    client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {_ledger(database)} ("
        " version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')"
        ") ENGINE = ReplacingMergeTree ORDER BY version"
    )
    rows = client.query(
        f"SELECT version, argMax(name, applied_at), argMax(checksum, applied_at), max(applied_at)"
        f" FROM {_ledger(database)} GROUP BY version ORDER BY version"
    ).result_rows
    return [AppliedMigration(int(v), str(n), str(c), a) for v, n, c, a in rows]


def apply_migrations(
    client: Client, database: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[Migration]:
    """Apply what is missing; return the migrations applied by this call (empty when up to date)."""
    done = {m.version: m for m in applied_migrations(client, database)}
    newly_applied: list[Migration] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        recorded = done.get(migration.version)
        if recorded is not None:
            if recorded.checksum != migration.checksum:
                raise FailedPreconditionError(
                    f"migration {migration.version} ({migration.name}) was changed after it was applied "
                    f"(recorded checksum {recorded.checksum}, code has {migration.checksum}); "
                    "add a new migration instead of editing an applied one"
                )
            continue
        for statement in migration.rendered(database):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            database=database,
            column_names=["version", "name", "checksum", "applied_at"],
        )
        newly_applied.append(migration)
    return newly_applied


def drop_database(client: Client, database: str) -> None:
    """Drop a migrated database and the reporting database that migrations created beside it."""
    for name in (database, reporting_database(database)):
        client.command(f"DROP DATABASE IF EXISTS {quote_identifier(name)} SYNC")
