"""Table definitions rendered as DDL for one node or for a replicated cluster.

Migrations are written once, as :class:`Table`, :class:`MaterializedView` and :class:`View`
objects, and rendered for a topology. Single node (local stack, small installs): plain
``*MergeTree`` engines. Cluster: ``Replicated*MergeTree`` with ZooKeeper/Keeper paths, every
statement ``ON CLUSTER``, and a ``Distributed`` table in front of each local table so that reads
and writes go through the same name. Rows are sharded by a hash of the table's leading identity
column (the run, model or comment id), so duplicates of a fact always meet on one shard and
deduplicate there. ``cairn migrate --print-cluster-ddl`` shows the cluster form;
only the single-node path runs here (docs/schema.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from query.sql import quote_identifier as q


@dataclass(frozen=True)
class Topology:
    """Where DDL runs: one node (``cluster`` is None) or a named ClickHouse cluster."""

    cluster: str | None = None

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {q(self.cluster)}" if self.cluster else ""


SINGLE_NODE = Topology()


class Statement(Protocol):
    def render(self, database: str, topology: Topology) -> list[str]: ...


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, ClickHouse type)
    engine: str  # e.g. "ReplacingMergeTree(sequence)", "AggregatingMergeTree", "Null"
    order_by: tuple[str, ...] = ()
    partition_by: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    comment: str = ""
    shard_by: str | None = None  # cluster sharding column; default: the first identity column

    def _engine(self, database: str, topology: Topology) -> str:
        if topology.cluster is None or "MergeTree" not in self.engine:
            return self.engine
        family, _, args = self.engine.partition("(")
        args = args.rstrip(")")
        path = f"'/clickhouse/tables/{{shard}}/{database}/{self.name}', '{{replica}}'"
        return f"Replicated{family}({path}{', ' + args if args else ''})"

    def _local_name(self, topology: Topology) -> str:
        return f"{self.name}_local" if topology.cluster else self.name

    def render(self, database: str, topology: Topology) -> list[str]:
        cols = ",\n    ".join(f"{q(name)} {type_}" for name, type_ in self.columns)
        local = f"{q(database)}.{q(self._local_name(topology))}"
        ddl = [f"CREATE TABLE IF NOT EXISTS {local}{topology.on_cluster} (\n    {cols}\n)"]
        ddl.append(f"ENGINE = {self._engine(database, topology)}")
        if self.partition_by:
            ddl.append(f"PARTITION BY {self.partition_by}")
        if "MergeTree" in self.engine:
            ddl.append(f"ORDER BY ({', '.join(self.order_by)})")
        if self.settings:
            ddl.append("SETTINGS " + ", ".join(f"{k} = {v}" for k, v in self.settings.items()))
        if self.comment:
            ddl.append("COMMENT '" + self.comment.replace("\\", "\\\\").replace("'", "\\'") + "'")
        statements = ["\n".join(ddl)]
        if topology.cluster and "MergeTree" in self.engine:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {q(database)}.{q(self.name)}{topology.on_cluster}"
                f" AS {local} ENGINE = Distributed({q(topology.cluster)}, {q(database)},"
                f" {q(self._local_name(topology))}, cityHash64({self.shard_by or self.order_by[0]}))"
            )
        return statements


@dataclass(frozen=True)
class MaterializedView:
    """An insert trigger: rows inserted into ``source`` are transformed by ``select`` into ``target``.

    ``select`` uses ``{db}`` for the database and names the source table by its logical name; on a
    cluster the view is attached to the local (replicated) table on each node.
    """

    name: str
    target: str
    select: str

    def render(self, database: str, topology: Topology) -> list[str]:
        suffix = "_local" if topology.cluster else ""
        body = self.select.replace("{db}", q(database)).replace("{local}", suffix)
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {q(database)}.{q(self.name)}{topology.on_cluster}"
            f" TO {q(database)}.{q(self.target + suffix)} AS {body}"
        ]


@dataclass(frozen=True)
class DropView:
    """Removes a view or materialized view (a later migration retiring an earlier one's)."""

    name: str

    def render(self, database: str, topology: Topology) -> list[str]:
        return [f"DROP VIEW IF EXISTS {q(database)}.{q(self.name)}{topology.on_cluster}"]


@dataclass(frozen=True)
class View:
    """A read view presenting the latest state; ``select`` uses ``{db}`` for the database."""

    name: str
    select: str
    database: str | None = None  # defaults to the migration's database

    def render(self, database: str, topology: Topology) -> list[str]:
        target_db = self.database or database
        body = self.select.replace("{db}", q(database))
        return [
            f"CREATE OR REPLACE VIEW {q(target_db)}.{q(self.name)}{topology.on_cluster} AS {body}"
        ]


@dataclass(frozen=True)
class RawSQL:
    """A statement with no topology-specific form (databases, functions)."""

    sql: str

    def render(self, database: str, topology: Topology) -> list[str]:
        text = self.sql.replace("{db}", q(database))
        if topology.cluster and text.upper().startswith("CREATE DATABASE"):
            text += topology.on_cluster
        return [text]
