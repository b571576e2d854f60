"""The whole write path for tests that check what *lands in the store*: topics of their own, a
writer key, ``python -m ingest`` and ``python -m processors`` as real processes, and a fresh
database, against the session's real Kafka broker and ClickHouse endpoint. Ingest also serves
the query service (``cairn.v1.Query``) over that database, so ``cairn.Api`` reads it back.

Use the ``pipeline`` fixture (registered for every test by ``tests/conftest.py``; one per test module: starting the processes costs seconds), give
each test its own project so tests never see each other's runs, and read back through ``query/``
or SQL on the views::

    def test_x(pipeline, tmp_path, monkeypatch):
        pipeline.configure(monkeypatch, tmp_path, project="x")   # CAIRN_* for cairn.init()
        ... train ...
        pipeline.wait_for_runs(project="x", count=1, status="finished")
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from cairn.config import Capture, Settings
from ingest.keys import issue_key_directly
from query.access import Caller
from query.migrations import apply_migrations, drop_database
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.integration.processors_harness import Topics, Worker, create_topics, store
from tests.sdk.integration.conftest import TEAM, IngestProcess, Stack

__all__ = [
    "TEAM",
    "Pipeline",
    "open_pipeline",
    "pipeline",
]  # the fixture is registered in tests/conftest.py


@dataclass
class Pipeline:
    stack: Stack
    ingest: IngestProcess
    url: str  # ClickHouse URL of this pipeline's database
    worker: Worker

    @property
    def caller(self) -> Caller:
        """A member of the team the writer key belongs to, for ``query/`` functions."""
        return Caller("tester", frozenset({TEAM}))

    def client(self) -> Client:
        return store(self.url)

    def settings(self, directory: Path, **changes: Any) -> Settings:
        """SDK settings for this pipeline (capture off: tests assert on what they log)."""
        return replace(
            self.stack.settings(directory, self.ingest.address),
            capture=Capture.nothing(),
            **changes,
        )

    def env(self, directory: Path, project: str) -> dict[str, str]:
        """``CAIRN_*`` variables that make a bare ``cairn.init()`` (and child processes) use this
        pipeline; artifacts go to ``directory/artifacts``."""
        return {
            "CAIRN_INGEST_URL": self.ingest.address,
            "CAIRN_API_KEY": self.stack.api_key,
            "CAIRN_TEAM": TEAM,
            "CAIRN_PROJECT": project,
            # Not ".../cairn": a directory named cairn in the working directory shadows the SDK.
            "CAIRN_DIR": str(directory / "cairn-home"),
            "CAIRN_MODE": "online",
            "CAIRN_ARTIFACT_STORE": str(directory / "artifacts"),
            "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
            "CAIRN_LOCAL_STACK_FILE": str(directory / "no-local-stack.json"),
            "CAIRN_FINISH_TIMEOUT": "60",
        }

    def configure(self, monkeypatch: pytest.MonkeyPatch, directory: Path, project: str) -> None:
        for name, value in self.env(directory, project).items():
            monkeypatch.setenv(name, value)

    def rows(self, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.client().query(sql, parameters=parameters).result_rows]

    def wait_for_runs(
        self, *, project: str, count: int, status: str | None = None, timeout: float = 90.0
    ) -> list[str]:
        """Block until ``count`` runs of ``project`` are in the ``runs`` view (with ``status``
        when given); returns their ids, oldest first."""
        sql = (
            "SELECT run_id FROM runs WHERE project = {p:String}"
            + (" AND status = {s:String}" if status else "")
            + " ORDER BY created_at, run_id"
        )
        deadline = time.monotonic() + timeout
        found: list[str] = []
        while time.monotonic() < deadline:
            found = [r[0] for r in self.rows(sql, p=project, s=status or "")]
            if len(found) >= count:
                return found
            time.sleep(0.3)
        raise AssertionError(
            f"{count} runs of project {project!r}"
            + (f" with status {status!r}" if status else "")
            + f" not in the store within {timeout}s (found {len(found)})"
        )


@contextmanager
def open_pipeline(
    kafka_bootstrap: str, clickhouse_endpoint: ClickHouseEndpoint, home: Path
) -> Iterator[Pipeline]:
    """A whole write path of its own (topics, identity, key, database, ingest, processors):
    what the fixture yields; a test that needs two installations opens a second one."""
    names = Topics.unique()

    async def prepare() -> str:
        await create_topics(kafka_bootstrap, names)
        return await issue_key_directly(
            kafka_bootstrap, team=TEAM, role="writer", topic=names.identity
        )

    stack = Stack(kafka_bootstrap, names.events, names.identity, asyncio.run(prepare()))
    database = f"p_{uuid.uuid4().hex[:10]}"
    apply_migrations(store(f"{clickhouse_endpoint.url}/default"), database)
    url = f"{clickhouse_endpoint.url}/{database}"
    server = stack.ingest(home, clickhouse_url=url).start()
    worker = Worker(kafka_bootstrap, url, names, home, f"g-{database}").start()
    try:
        yield Pipeline(stack, server, url, worker)
    finally:
        worker.stop()
        server.stop()
        drop_database(store(f"{clickhouse_endpoint.url}/default"), database)


@pytest.fixture(scope="module")
def pipeline(
    kafka_bootstrap: str,
    clickhouse_endpoint: ClickHouseEndpoint,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    with open_pipeline(
        kafka_bootstrap, clickhouse_endpoint, tmp_path_factory.mktemp("pipeline")
    ) as opened:
        yield opened
