"""A local stand-in for the ClickHouse *cluster* form of the schema, in one real engine.

``cairn migrate --print-cluster-ddl NAME`` renders ``Replicated*MergeTree`` tables named
``X_local`` on every node, ``ON CLUSTER``, and a ``Distributed`` table ``X`` in front of each,
sharding rows by ``cityHash64(<identity column>)``. No ClickHouse server, Keeper or second node
runs here, so this module executes the same rendered statements with the three things that need a
cluster replaced, and nothing else changed:

- each shard is a database ``<db>_shard<i>`` holding the ``X_local`` tables and the materialized
  views attached to them (``Replicated`` engine prefix and Keeper path dropped);
- ``Distributed(cluster, db, X_local, key)`` becomes ``Merge(REGEXP('^<db>_shard[0-9]+$'),
  '^X_local$')``: a read fans out to every shard's local table and ``FINAL`` applies per shard,
  as it does through ``Distributed``;
- ``ON CLUSTER`` is dropped.

Inserts are routed as ``Distributed`` routes them with equal shard weights: shard index
``cityHash64(key) % shards`` (:func:`route`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from query.ddl import Topology
from query.migrations import MIGRATIONS

CLUSTER = "cairn"
_ON_CLUSTER = re.compile(r" ON CLUSTER `[^`]+`")
_REPLICATED = re.compile(r"Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, )?")
_DISTRIBUTED = re.compile(
    r"^CREATE TABLE IF NOT EXISTS `(?P<db>[^`]+)`\.`(?P<table>[^`]+)` AS `[^`]+`\.`(?P<local>[^`]+)`"
    r" ENGINE = Distributed\(`[^`]+`, `[^`]+`, `[^`]+`, (?P<key>.+)\)$"
)

_INSERT = re.compile(
    r"^INSERT INTO `[^`]+`\.`?(?P<table>\w+)`? \((?P<columns>[^)]*)\) (?P<select>SELECT .*)$",
    re.DOTALL,
)


@dataclass(frozen=True)
class DistributedTable:
    table: str  # the name every reader and writer uses
    local: str  # the per-node replicated table
    sharding_key: str  # as rendered, e.g. cityHash64(run_id)


def cluster_statements(database: str) -> list[str]:
    """Every statement ``cairn migrate --print-cluster-ddl`` renders for ``database``."""
    return [s.strip() for m in MIGRATIONS for s in m.rendered(database, Topology(cluster=CLUSTER))]


def distributed_tables(database: str) -> list[DistributedTable]:
    out = []
    for statement in cluster_statements(database):
        match = _DISTRIBUTED.match(_ON_CLUSTER.sub("", statement))
        if match:
            out.append(DistributedTable(match["table"], match["local"], match["key"]))
    return out


def shard_database(database: str, index: int) -> str:
    return f"{database}_shard{index}"


def standin_statements(database: str, shards: int) -> list[str]:
    """The cluster DDL for ``database`` made executable on one engine (see the module doc)."""
    out: list[str] = []
    shard_dbs = [shard_database(database, i) for i in range(shards)]
    # the database itself is created before migrations run (query.migrations), as on one node
    out += [f"CREATE DATABASE IF NOT EXISTS `{db}`" for db in [database, *shard_dbs]]
    pattern = f"^{database}_shard[0-9]+$"
    keys = {t.table: t for t in distributed_tables(database)}
    for statement in cluster_statements(database):
        text = _ON_CLUSTER.sub("", statement)
        distributed = _DISTRIBUTED.match(text)
        if distributed:
            out.append(
                f"CREATE TABLE IF NOT EXISTS `{database}`.`{distributed['table']}`"
                f" AS `{shard_dbs[0]}`.`{distributed['local']}`"
                f" ENGINE = Merge(REGEXP('{pattern}'), '^{distributed['local']}$')"
            )
        elif (insert := _INSERT.match(text)) and insert["table"] in keys:
            # a backfill through a Distributed name: routed to the shards like any insert
            target = keys[insert["table"]]
            for index, db in enumerate(shard_dbs):
                out.append(
                    f"INSERT INTO `{db}`.`{target.local}` ({insert['columns']})"
                    f" SELECT * FROM ({insert['select']}) WHERE {route(target.sharding_key, shards)} = {index}"
                )
        elif "_local`" in text.split(" AS ", 1)[0] or "_local` (" in text:
            # a node-local table, or a materialized view attached to one: on every shard
            local = _REPLICATED.sub(lambda m: f"{m[1]}(", text).replace("MergeTree()", "MergeTree")
            for db in shard_dbs:
                out.append(local.replace(f"`{database}`.", f"`{db}`."))
        else:
            out.append(text)
    return out


def route(key: str, shards: int, copy: str = "0") -> str:
    """The shard-selecting predicate ``Distributed`` applies (equal weights); ``copy`` lets a test
    route a re-delivered copy of a row elsewhere to show what a wrong key would break."""
    return f"(({key}) + {copy}) % {shards}"
