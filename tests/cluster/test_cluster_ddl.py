"""The ClickHouse cluster form of the schema, exercised as far as one machine allows.

Executed here, in the real engine (chdb, through the local endpoint):
- every statement ``cairn migrate --print-cluster-ddl`` renders goes through ClickHouse's parser;
- the same statements, with only shard placement standing in for a cluster (tests/cluster/
  standin.py), build a two-shard schema; rows are routed by each ``Distributed`` table's own
  sharding key, every row delivered twice (what at-least-once processors do after a crash);
- every run's rows land on one shard, and per-shard ``FINAL`` (what ``Distributed`` does) gives
  the same rows as one node's ``FINAL``; a key that split a row's copies would not;
- the query layer's functions run unchanged against the ``Distributed`` names and return what
  they return on one node.
Not executed: Keeper, replication, ``ON CLUSTER`` distribution, the ``Distributed`` engine itself
(no ClickHouse server or second node runs here; see docs/deploy.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from query.client import connect
from query.compare import compare_runs
from query.migrations import apply_migrations
from query.reporting_schema import reporting_database
from query.runs import count_runs, search_runs
from query.series import metric_series
from tests.cluster.standin import (
    cluster_statements,
    distributed_tables,
    route,
    shard_database,
    standin_statements,
)
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.query.integration.callers import ADMIN, ALICE, DAVE
from tests.query.integration.conftest import seed
from tests.query.integration.world import Clock

SHARDS = 2
# Filled by materialized views attached to the local tables: never written directly. (The 64-step
# rollups are written by the processors since migration 12, so they are copied like the rest.)
MV_TARGETS = {"metric_summaries", "metric_bounds"}
# Aggregates with a sum (a block's point count): every row here is loaded twice, a duplicate adds
# to the sum, and the single node and the shards need not keep the same duplicate blocks, so the
# sums may differ (readers use them only for series never delivered twice: metric_bounds).
SUMMED = {"metric_rollup_ends"}

pytestmark = pytest.mark.integration


def _parse(endpoint: ClickHouseEndpoint, statement: str) -> str:
    """ClickHouse's own parser on ``statement`` (``EXPLAIN AST`` parses, it executes nothing)."""
    result: str = (
        connect(f"{endpoint.url}/default").raw_query("EXPLAIN AST " + statement, fmt="TSV").decode()
    )
    return result


def test_every_rendered_cluster_statement_parses_in_clickhouse(
    clickhouse_endpoint: ClickHouseEndpoint,
) -> None:
    statements = cluster_statements("cairn")
    assert len(statements) > 60
    for statement in statements:
        assert _parse(clickhouse_endpoint, statement).startswith(
            ("Create", "Alter", "InsertQuery", "DropQuery")
        ), statement


def test_the_parser_check_rejects_a_broken_statement(
    clickhouse_endpoint: ClickHouseEndpoint,
) -> None:
    broken = cluster_statements("cairn")[1].replace("ENGINE =", "ENGINEE =", 1)
    with pytest.raises(DatabaseError, match="SYNTAX_ERROR"):
        _parse(clickhouse_endpoint, broken)


def test_every_replicated_table_has_its_own_keeper_path_and_a_distributed_front() -> None:
    statements = cluster_statements("cairn")
    paths = [s.split("MergeTree('", 1)[1].split("'", 1)[0] for s in statements if "Replicated" in s]
    assert len(paths) == len(set(paths))
    assert all("{shard}" in p for p in paths)
    fronts = {d.local for d in distributed_tables("cairn")}
    locals_ = {
        s.split("`.`", 1)[1].split("`", 1)[0]
        for s in statements
        if s.startswith("CREATE TABLE") and "Replicated" in s
    }
    assert locals_ == fronts


@dataclass(frozen=True)
class Pair:
    """The same events, projected once, loaded into one node and into a two-shard stand-in."""

    endpoint: ClickHouseEndpoint
    single: str
    cluster: str

    def client(self, database: str) -> Client:
        return connect(f"{self.endpoint.url}/{database}")


def _load(admin: Client, source: str, single: str, cluster: str, copy_offset: str) -> None:
    for table in distributed_tables(cluster):
        if table.table in MV_TARGETS:
            continue
        for copy in range(2):  # every row delivered twice, as after a processors crash
            admin.command(
                f"INSERT INTO `{single}`.`{table.table}` SELECT * FROM `{source}`.`{table.table}`"
            )
            for shard in range(SHARDS):
                where = route(table.sharding_key, SHARDS, f"{copy} * {copy_offset}")
                admin.command(
                    f"INSERT INTO `{shard_database(cluster, shard)}`.`{table.local}`"
                    f" SELECT * FROM `{source}`.`{table.table}` WHERE {where} = {shard}"
                )


def _make_pair(endpoint: ClickHouseEndpoint, copy_offset: str) -> Iterator[Pair]:
    suffix = uuid.uuid4().hex[:8]
    source, single, cluster = f"cs_src_{suffix}", f"cs_one_{suffix}", f"cs_two_{suffix}"
    admin = connect(f"{endpoint.url}/default")
    seed(endpoint, source, Clock(datetime.now(UTC)))
    apply_migrations(admin, single)
    for statement in standin_statements(cluster, SHARDS):
        admin.command(statement)
    _load(admin, source, single, cluster, copy_offset)
    yield Pair(endpoint, single, cluster)
    dbs = [source, single, cluster, *(shard_database(cluster, i) for i in range(SHARDS))]
    for db in dbs + [reporting_database(d) for d in (source, single, cluster)]:
        admin.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


@pytest.fixture(scope="module")
def pair(clickhouse_endpoint: ClickHouseEndpoint) -> Iterator[Pair]:
    yield from _make_pair(clickhouse_endpoint, copy_offset="0")


def _snapshot(client: Client, database: str, table: str) -> tuple[int, int]:
    row = client.query(
        f"SELECT count(), groupBitXor(cityHash64(*)) FROM `{database}`.`{table}` FINAL"
    ).result_rows[0]
    return int(row[0]), int(row[1])


def _canonical(row: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(sorted(v.items()) if isinstance(v, dict) else v for v in row)


def test_one_runs_rows_live_on_one_shard(pair: Pair) -> None:
    admin = pair.client("default")
    home: dict[str, set[int]] = {}
    run_tables = [
        t for t in distributed_tables(pair.cluster) if t.sharding_key == "cityHash64(run_id)"
    ]
    assert len(run_tables) >= 10
    for table in run_tables:
        for shard in range(SHARDS):
            rows = admin.query(
                f"SELECT DISTINCT run_id FROM `{shard_database(pair.cluster, shard)}`.`{table.local}`"
            ).result_rows
            for (run_id,) in rows:
                home.setdefault(run_id, set()).add(shard)
    assert len(home) >= 8
    assert {run: shards for run, shards in home.items() if len(shards) > 1} == {}
    assert {s for shards in home.values() for s in shards} == set(range(SHARDS))  # both used


def test_final_through_the_shards_equals_final_on_one_node(pair: Pair) -> None:
    admin = pair.client("default")
    compared = 0
    for table in distributed_tables(pair.cluster):
        if table.table in MV_TARGETS | SUMMED:
            continue
        one = _snapshot(admin, pair.single, table.table)
        two = _snapshot(admin, pair.cluster, table.table)
        assert two == one, table.table
        compared += one[0] > 0
    assert compared >= 10
    for view in ("metric_summary", "params_current", "tags_current", "runs", "metric_points"):
        # rows as Python values: a Map assembled from two shards may list its keys in another
        # order, which is the same value (dict equality), and so is the row order
        one = admin.query(f"SELECT * FROM `{pair.single}`.`{view}`").result_rows
        two = admin.query(f"SELECT * FROM `{pair.cluster}`.`{view}`").result_rows
        assert len(one) > 0, view
        assert sorted(map(repr, map(_canonical, two))) == sorted(map(repr, map(_canonical, one))), (
            view
        )


def test_a_key_that_splits_a_rows_copies_breaks_final(
    clickhouse_endpoint: ClickHouseEndpoint,
) -> None:
    """The check above can fail: route the second copy of each row to the other shard (what a
    key that is not the row's identity, such as the sequence, does) and ``FINAL`` keeps both."""
    for bad in _make_pair(clickhouse_endpoint, copy_offset="1"):
        admin = bad.client("default")
        one = _snapshot(admin, bad.single, "metrics")
        two = _snapshot(admin, bad.cluster, "metrics")
        assert two[0] == 2 * one[0] > 0


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = list(a.columns)
    pd.testing.assert_frame_equal(
        a.sort_values(key, kind="stable").reset_index(drop=True),
        b.sort_values(key, kind="stable").reset_index(drop=True),
        check_dtype=False,
    )


def test_query_layer_runs_unchanged_against_the_distributed_names(pair: Pair) -> None:
    one, two = pair.client(pair.single), pair.client(pair.cluster)
    for caller in (ADMIN, ALICE, DAVE):
        a = search_runs(one, caller, database=pair.single, limit=1000)
        b = search_runs(two, caller, database=pair.cluster, limit=1000)
        assert len(a) > 0
        _frames_equal(a.astype(str), b.astype(str))
        assert count_runs(one, caller, database=pair.single) == count_runs(
            two, caller, database=pair.cluster
        )
    runs = sorted(search_runs(one, ADMIN, database=pair.single, limit=1000)["run_id"])
    keys = one.query(f"SELECT DISTINCT key FROM `{pair.single}`.metrics").result_rows
    series_a = metric_series(one, ADMIN, runs, [k for (k,) in keys], database=pair.single)
    series_b = metric_series(two, ADMIN, runs, [k for (k,) in keys], database=pair.cluster)
    assert len(series_a) > 0
    _frames_equal(series_a, series_b)
    compared_a = compare_runs(one, ADMIN, runs[:3], database=pair.single)
    compared_b = compare_runs(two, ADMIN, runs[:3], database=pair.cluster)
    assert repr(compared_a) == repr(compared_b)
