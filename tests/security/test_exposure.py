"""Every local-stack process listens on 127.0.0.1 only (docs/permissions.md, X3), and ``finish()``
with ingest unreachable right after logging returns within the 10 s docs/sdk.md promises."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from ingest.server import IngestServer
from ingest.settings import IngestSettings
from localstack.kafka_broker import RunningBroker
from query.migrations import apply_migrations, drop_database
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.integration.processors_harness import Topics, Worker, create_topics, store

pytestmark = pytest.mark.integration


def listening(pid: int) -> set[str]:
    """The addresses a process (and its children) listens on, as ``host:port``."""
    found = set()
    process = psutil.Process(pid)
    for proc in [process, *process.children(recursive=True)]:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                ip = conn.laddr.ip.removeprefix("::ffff:")  # Java's IPv4-mapped sockets
                found.add(f"{ip}:{conn.laddr.port}")
    return found


def assert_loopback(addresses: set[str], what: str) -> None:
    assert addresses, f"{what} listens nowhere"
    assert {a.rsplit(":", 1)[0] for a in addresses} == {"127.0.0.1"}, (what, addresses)


async def test_local_stack_binds_loopback(
    kafka_broker: RunningBroker,
    kafka_bootstrap: str,
    clickhouse_endpoint: ClickHouseEndpoint,
    tmp_path: Path,
) -> None:
    assert_loopback(listening(kafka_broker.process.pid), "kafka")
    assert_loopback(listening(clickhouse_endpoint.pid), "clickhouse endpoint")
    topics = Topics.unique()
    await create_topics(kafka_bootstrap, topics)
    database = f"x_{uuid.uuid4().hex[:8]}"
    apply_migrations(store(f"{clickhouse_endpoint.url}/default"), database)
    worker = Worker(
        kafka_bootstrap, f"{clickhouse_endpoint.url}/{database}", topics, tmp_path, database
    )
    worker.start()
    try:
        assert_loopback(listening(worker.process.pid), "processors")
    finally:
        worker.stop()
        drop_database(store(f"{clickhouse_endpoint.url}/default"), database)
    server = IngestServer(
        IngestSettings(
            listen="127.0.0.1:0",
            kafka_bootstrap=kafka_bootstrap,
            events_topic=topics.events,
            identity_topic=topics.identity,
            metrics_port=0,
        )
    )
    await server.start()
    try:
        ports = {server.port, server.metrics_port}
        mine = {a for a in listening(os.getpid()) if int(a.rsplit(":", 1)[1]) in ports}
        assert len(mine) == 2
        assert_loopback(mine, "ingest")
    finally:
        await server.stop(grace=1)


FINISH_SCRIPT = """
import os, sys, time
import cairn
run = cairn.init(project="p")
for step in range(200):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
started = time.monotonic()
run.finish()
print(f"finish {time.monotonic() - started:.2f}")
"""


def test_finish_with_ingest_unreachable_returns_within_ten_seconds(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "CAIRN_DIR": str(tmp_path / "cairn"),
        "CAIRN_INGEST_URL": f"127.0.0.1:{port}",
        "CAIRN_API_KEY": "cairn_0123456789ab_secret",
        "CAIRN_TEAM": "alpha",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", FINISH_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    took = float(done.stdout.split("finish ")[1])
    assert took <= 10.0, done.stderr
    assert time.monotonic() - started < 40
    assert "stay in" in done.stderr  # the events are kept for cairn sync
