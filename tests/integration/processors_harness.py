"""Running the real processors worker against the real broker and endpoint, for tests.

Each test gets its own topics, consumer group and database, so workers of different tests never
see each other's events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_connect.driver.client import Client

from cairn.v1 import events_pb2
from localstack import health, processes
from query.client import connect
from query.migrations import apply_migrations, drop_database
from tests.integration.conftest_clickhouse import ClickHouseEndpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Topics:
    events: str
    identity: str
    dead_letter: str

    @classmethod
    def unique(cls) -> Topics:
        tag = uuid.uuid4().hex[:10]
        return cls(f"test.events.{tag}", f"test.identity.{tag}", f"test.dlq.{tag}")


async def create_topics(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.events, 3, 1, topic_configs={"retention.ms": "-1"}),
                NewTopic(topics.identity, 1, 1, topic_configs={"retention.ms": "-1"}),
                NewTopic(topics.dead_letter, 1, 1, topic_configs={"retention.ms": "-1"}),
            ]
        )
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, events: Iterable[events_pb2.Event | bytes]) -> int:
    """Send events keyed by aggregate id (raw bytes keyed ``poison``); acks=all. Returns the count."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    count = 0
    try:
        for item in events:
            if isinstance(item, bytes):
                await producer.send(topic, item, key=b"poison")
            else:
                await producer.send(
                    topic, item.SerializeToString(), key=item.envelope.aggregate_id.encode()
                )
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def eventually(
    check: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition"
) -> Any:
    """Poll ``check`` (sync, run in a thread) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


class Worker:
    """One ``python -m processors`` process."""

    def __init__(
        self, bootstrap: str, clickhouse_url: str, topics: Topics, home: Path, group: str
    ) -> None:
        self.port = processes.free_port()
        self.log_path = home / f"processors-{self.port}.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "CAIRN_KAFKA_BOOTSTRAP": bootstrap,
            "CAIRN_CLICKHOUSE_URL": clickhouse_url,
            "CAIRN_EVENTS_TOPIC": topics.events,
            "CAIRN_IDENTITY_TOPIC": topics.identity,
            "CAIRN_DEAD_LETTER_TOPIC": topics.dead_letter,
            "CAIRN_PROCESSORS_GROUP": group,
            "CAIRN_PROCESSORS_PORT": str(self.port),
            "CAIRN_PROCESSORS_DATA_DIR": str(home / "processors-data"),
            "CAIRN_KAFKA_SESSION_TIMEOUT_S": "6",
            "CAIRN_FLUSH_MAX_EVENTS": "200",
        }
        self.process: Any = None

    def start(self) -> Worker:
        self.process = processes.start_process(
            [sys.executable, "-m", "processors"],
            log_path=self.log_path,
            env=self.env,
            cwd=REPO_ROOT,
        )
        processes.wait_until(
            lambda: health.http_ok(f"http://127.0.0.1:{self.port}/health"),
            what="processors worker",
            timeout=90,
            process=self.process,
            log_path=self.log_path,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed or committed."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            processes.stop_process(self.process, grace=20)


def store(clickhouse_url: str) -> Client:
    return connect(clickhouse_url)


async def with_worker(worker: Worker, body: Callable[[], Awaitable[Any]]) -> Any:
    await asyncio.to_thread(worker.start)
    try:
        return await body()
    finally:
        await asyncio.to_thread(worker.stop)


@dataclass
class Setup:
    """A test's own topics and database on the session's broker and endpoint."""

    bootstrap: str
    topics: Topics
    url: str  # admin URL with the test's database
    database: str
    home: Path

    def worker(self, group: str = "") -> Worker:
        return Worker(
            self.bootstrap, self.url, self.topics, self.home, group or f"g-{self.database}"
        )


@pytest.fixture
async def setup(
    kafka_bootstrap: str, clickhouse_endpoint: ClickHouseEndpoint, tmp_path: Path
) -> AsyncIterator[Setup]:
    topics = Topics.unique()
    await create_topics(kafka_bootstrap, topics)
    database = f"t_{uuid.uuid4().hex[:10]}"
    admin = store(f"{clickhouse_endpoint.url}/default")
    await asyncio.to_thread(apply_migrations, admin, database)
    yield Setup(
        kafka_bootstrap, topics, f"{clickhouse_endpoint.url}/{database}", database, tmp_path
    )
    for db in (database, f"{database}_previous", f"{database}_replay"):
        drop_database(admin, db)
