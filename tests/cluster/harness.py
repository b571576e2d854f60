"""The cluster profile as a test fixture: three Kafka KRaft nodes (RF 3, min.insync.replicas 2,
12 partitions), two ingest replicas, three processors workers in one consumer group, against the
session's real ClickHouse endpoint, each a real process on free ports that tests SIGKILL and
restart. Everything is scaled down to fit a 2-core machine shared with others (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from cairn.config import Capture, Mode, Settings
from ingest.keys import issue_key_directly
from localstack import kafka_cluster
from localstack.processes import free_port
from localstack.provision import replicated_topics
from query.migrations import apply_migrations, drop_database
from servicekit import topics
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.integration.conftest_kafka import kafka_cache_dir
from tests.integration.processors_harness import Topics, Worker, store
from tests.sdk.integration.conftest import TEAM, IngestProcess, Stack

PARTITIONS = 12
WORKERS = 3


def cluster_topics(names: Topics) -> list[topics.TopicSpec]:
    renamed = {
        topics.EVENTS_TOPIC: names.events,
        topics.IDENTITY_TOPIC: names.identity,
        topics.DLQ_TOPIC: names.dead_letter,
        topics.OWNERSHIP_TOPIC: topics.ownership_topic_for(names.events),
    }
    # The automation topics are left to the workers (created from the renamed events topic).
    return [
        s.renamed(renamed[s.name])
        for s in replicated_topics(
            kafka_cluster.REPLICATION_FACTOR, kafka_cluster.MIN_INSYNC_REPLICAS, PARTITIONS
        )
        if s.name in renamed
    ]


@dataclass
class Cluster:
    kafka: kafka_cluster.RunningCluster
    names: Topics
    stack: Stack
    ingest: list[IngestProcess]
    workers: list[Worker]
    url: str  # ClickHouse URL of this cluster's database
    home: Path

    @property
    def ingest_url(self) -> str:
        return ",".join(i.address for i in self.ingest)

    def client(self) -> Client:
        return store(self.url)

    def settings(self, directory: Path, **changes: Any) -> Settings:
        base = Settings(
            ingest_url=self.ingest_url,
            api_key=self.stack.api_key,
            team=TEAM,
            project="cluster",
            dir=directory,
            mode=Mode.ONLINE,
            capture=Capture.nothing(),
            finish_timeout_s=120,
        )
        return replace(base, **changes)

    def points(self, run_id: str) -> tuple[int, int, int]:
        """(distinct points after FINAL, raw rows, distinct steps) of a run's metrics."""
        row = (
            self.client()
            .query(
                "SELECT (SELECT count() FROM metrics FINAL WHERE run_id = {r:String}),"
                " (SELECT count() FROM metrics WHERE run_id = {r:String}),"
                " (SELECT uniqExact(key, step) FROM metrics WHERE run_id = {r:String})",
                parameters={"r": run_id},
            )
            .result_rows[0]
        )
        return int(row[0]), int(row[1]), int(row[2])

    def wait_points(self, run_id: str, expected: int, timeout: float = 120) -> float:
        """Block until the run's ``expected`` points are in the store; returns seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.points(run_id)[0] >= expected:
                return time.monotonic() - start
            time.sleep(0.2)
        raise AssertionError(f"run {run_id}: {self.points(run_id)} of {expected} points")

    def partition_leader(self, partition: int = 0) -> int:
        async def leader() -> int:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap)
            await admin.start()
            try:
                (described,) = await admin.describe_topics([self.names.events])
                part = next(p for p in described["partitions"] if p["partition"] == partition)
                return int(part["leader"])
            finally:
                await admin.close()

        return asyncio.run(leader())


def projection_snapshot(client: Client, database: str) -> dict[str, str]:
    """Row count and checksum of every projection table of ``database`` (after FINAL), and
    every latest-state view as the engine's text output (aggregate states are compared through
    their views): what a replay must leave exactly as it was."""
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = {d:String} AND engine LIKE '%MergeTree'"
        " AND name != 'schema_migrations' AND name NOT IN (SELECT table FROM system.columns"
        " WHERE database = {d:String} AND type LIKE 'AggregateFunction%') ORDER BY name",
        parameters={"d": database},
    ).result_rows
    out = {}
    for (table,) in tables:
        # Delivery counters (a ``SimpleAggregateFunction(sum, ...)`` such as the rollup's
        # ``points``) count rows as delivered, redeliveries after a fault included, on purpose:
        # rows > distinct steps sends a series to the exact read path. They are not a function
        # of the log, so a replay may lower them; every other column must be identical.
        columns = client.query(
            "SELECT name FROM system.columns WHERE database = {d:String} AND table = {t:String}"
            " AND type NOT LIKE 'SimpleAggregateFunction(sum,%' ORDER BY position",
            parameters={"d": database, "t": table},
        ).result_rows
        hashed = ", ".join(f"`{name}`" for (name,) in columns)
        row = client.query(
            f"SELECT count(), groupBitXor(cityHash64({hashed})) FROM `{database}`.`{table}` FINAL"
        ).result_rows[0]
        out[table] = f"{row[0]} rows, checksum {row[1]}"
    for view in ("runs", "metric_summary", "params_current", "tags_current"):
        out[view] = client.raw_query(
            f"SELECT * FROM `{database}`.`{view}` ORDER BY ALL", fmt="TabSeparatedWithNames"
        ).decode()
    return out


def start_cluster(endpoint: ClickHouseEndpoint, home: Path, cache_dir: Path) -> Cluster:
    config = kafka_cluster.ClusterConfig.on_ports(
        home / "kafka", [free_port() for _ in range(3)], [free_port() for _ in range(3)]
    )
    kafka = kafka_cluster.start(config, cache_dir=cache_dir, logs_dir=home)
    names = Topics.unique()
    try:

        async def prepare() -> str:
            await topics.ensure_topics(kafka.bootstrap, cluster_topics(names))
            return await issue_key_directly(
                kafka.bootstrap, team=TEAM, role="writer", topic=names.identity
            )

        stack = Stack(kafka.bootstrap, names.events, names.identity, asyncio.run(prepare()))
        database = f"cl_{uuid.uuid4().hex[:10]}"
        apply_migrations(store(f"{endpoint.url}/default"), database)
        url = f"{endpoint.url}/{database}"
        ingest = [stack.ingest(home).start() for _ in range(2)]
        workers = []
        for i in range(WORKERS):
            worker_home = home / f"worker-{i}"
            worker_home.mkdir()
            workers.append(Worker(kafka.bootstrap, url, names, worker_home, f"g-{database}"))
        for worker in workers:
            worker.start()
    except BaseException:
        kafka.stop()
        raise
    return Cluster(kafka, names, stack, ingest, workers, url, home)


def stop_cluster(cluster: Cluster, endpoint: ClickHouseEndpoint) -> None:
    for worker in cluster.workers:
        worker.stop()
    for server in cluster.ingest:
        server.stop()
    cluster.kafka.stop()
    drop_database(store(f"{endpoint.url}/default"), cluster.url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def cluster(
    clickhouse_endpoint: ClickHouseEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("cluster")
    running = start_cluster(clickhouse_endpoint, home, kafka_cache_dir())
    try:
        yield running
    finally:
        stop_cluster(running, clickhouse_endpoint)
