"""The real pieces the SDK talks to: Kafka (session broker), topics of our own, an API key issued
the way an operator does, and ingest as its own process (``python -m ingest``) on a free port,
so fault tests can kill and restart it exactly as an outage would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cairn.config import Capture, Mode, Settings
from cairn.v1 import events_pb2
from ingest.keys import issue_key_directly
from localstack import health, processes
from servicekit import topics

REPO_ROOT = Path(__file__).resolve().parents[3]
TEAM = "vision"
PROJECT = "churn"


@dataclass
class IngestProcess:
    """One ``python -m ingest`` process; ``start`` may be called again after ``stop``/``kill``."""

    bootstrap: str
    events_topic: str
    identity_topic: str
    log_path: Path
    clickhouse_url: str = ""  # set: it also serves the query service over this database
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. automations settings
    port: int = field(default_factory=processes.free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> IngestProcess:
        env = {
            **os.environ,
            "CAIRN_INGEST_LISTEN": self.address,
            "CAIRN_KAFKA_BOOTSTRAP": self.bootstrap,
            "CAIRN_EVENTS_TOPIC": self.events_topic,
            "CAIRN_IDENTITY_TOPIC": self.identity_topic,
            "CAIRN_INGEST_METRICS_PORT": "-1",
            "CAIRN_INGEST_SHUTDOWN_GRACE_S": "2",
            "CAIRN_CLICKHOUSE_URL": self.clickhouse_url,
            **self.extra_env,
        }
        self.process = processes.start_process(
            [sys.executable, "-m", "ingest"], log_path=self.log_path, env=env, cwd=REPO_ROOT
        )
        processes.wait_until(
            lambda: health.grpc_serving(self.address),
            what="ingest",
            timeout=60,
            process=self.process,
            log_path=self.log_path,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: in-flight batches are lost or written without their acks."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            processes.stop_process(self.process, grace=10)


@dataclass(frozen=True)
class Stack:
    bootstrap: str
    events_topic: str
    identity_topic: str
    api_key: str

    def ingest(self, log_dir: Path, *, clickhouse_url: str = "") -> IngestProcess:
        log_path = log_dir / f"ingest-{uuid.uuid4().hex[:6]}.log"
        return IngestProcess(
            self.bootstrap, self.events_topic, self.identity_topic, log_path, clickhouse_url
        )

    def settings(self, directory: Path, ingest_url: str, **changes: Any) -> Settings:
        base = Settings(
            ingest_url=ingest_url,
            api_key=self.api_key,
            team=TEAM,
            project=PROJECT,
            dir=directory,
            mode=Mode.ONLINE,
            capture=Capture.nothing(),
            finish_timeout_s=60,
        )
        return replace(base, **changes)

    def events(self, run_id: str) -> list[events_pb2.Event]:
        """Every record of the run on the events topic, duplicates included, in topic order."""
        return [
            e
            for e in asyncio.run(_read_topic(self.bootstrap, self.events_topic))
            if e.envelope.aggregate_id == run_id
        ]


async def _read_topic(bootstrap: str, topic: str) -> list[events_pb2.Event]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in await topics.partitions_of(bootstrap, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found: list[events_pb2.Event] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                found.extend(events_pb2.Event.FromString(r.value) for r in records if r.value)
        return found
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
def sdk_stack(kafka_bootstrap: str) -> Stack:
    """Topics of our own and a writer key for team ``vision``, issued before any ingest starts."""
    suffix = uuid.uuid4().hex[:10]
    events_topic, identity_topic = f"test.sdk.events.{suffix}", f"test.sdk.identity.{suffix}"

    async def prepare() -> str:
        await topics.ensure_topics(
            kafka_bootstrap,
            [topics.EVENTS.renamed(events_topic), topics.IDENTITY.renamed(identity_topic)],
        )
        return await issue_key_directly(
            kafka_bootstrap, team=TEAM, role="writer", name="sdk-tests", topic=identity_topic
        )

    return Stack(kafka_bootstrap, events_topic, identity_topic, asyncio.run(prepare()))


@pytest.fixture(scope="session")
def ingest(sdk_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    """An ingest process shared by the tests that do not stop it."""
    server = sdk_stack.ingest(tmp_path_factory.mktemp("ingest")).start()
    try:
        yield server
    finally:
        server.stop()


def unique_points(events: list[events_pb2.Event]) -> dict[str, list[int]]:
    """Steps per metric key over the *distinct* events (a redelivered event counts once), sorted;
    a step that appears twice means a point really was recorded twice."""
    seen: set[str] = set()
    steps: dict[str, list[int]] = {}
    for event in events:
        if event.envelope.event_id in seen or event.WhichOneof("payload") != "metrics":
            continue
        seen.add(event.envelope.event_id)
        for series in event.metrics.series:
            steps.setdefault(series.key, []).extend(series.steps)
    return {key: sorted(values) for key, values in steps.items()}
