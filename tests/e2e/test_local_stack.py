"""`cairn up` / `status` / `sql` / `down` as a user runs them, on free ports in a temporary home.

This is the foundation's promise: five real parts come up healthy, SQL reaches the real engine,
a second `up` is harmless, and `down` leaves no process behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack.ephemeral import cairn
from localstack.ephemeral import stack_env as stack_env_for
from localstack.processes import pid_alive, port_open

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = stack_env_for(tmp_path_factory.mktemp("stack-home"), os.environ)
    yield env
    cairn(env, "down", timeout=120)


def test_up_starts_all_five_parts_healthy_and_down_leaves_nothing(
    stack_env: dict[str, str],
) -> None:
    up = cairn(stack_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    for part in ("kafka", "clickhouse", "ingest", "query", "processors", "portal", "api key"):
        assert part in up.stdout
    assert f"127.0.0.1:{stack_env['CAIRN_INGEST_PORT']}" in up.stdout
    assert f"http://127.0.0.1:{stack_env['CAIRN_PORTAL_PORT']}" in up.stdout

    discovery = Path(stack_env["CAIRN_LOCAL_STACK_FILE"])
    assert discovery.stat().st_mode & 0o777 == 0o600  # it holds the admin API key
    assert (
        json.loads(discovery.read_text())["ingest_url"]
        == f"127.0.0.1:{stack_env['CAIRN_INGEST_PORT']}"
    )

    status = cairn(stack_env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("healthy") == 6  # five processes and the query service in ingest
    assert "query" in status.stdout
    assert "unhealthy" not in status.stdout

    version = cairn(stack_env, "sql", "SELECT version() AS v")
    assert version.returncode == 0, version.stderr
    assert version.stdout.splitlines()[2].startswith("26.")

    csv = cairn(stack_env, "sql", "SELECT number AS n FROM numbers(3)", "--format", "csv")
    assert csv.stdout.splitlines() == ['"n"', "0", "1", "2"]

    # The reporting user cannot write.
    denied = cairn(stack_env, "sql", "CREATE TABLE cairn.x (a UInt8) ENGINE = Memory")
    assert denied.returncode != 0
    assert "164" in denied.stderr or "readonly" in denied.stderr.lower()

    again = cairn(stack_env, "up")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already running") == 5

    run_dir = Path(stack_env["CAIRN_HOME"]) / "run"
    pids = [int(p.read_text()) for p in run_dir.glob("*.pid")]
    assert len(pids) == 5

    down = cairn(stack_env, "down", timeout=180)
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if pid_alive(pid)]
    for port in (
        "CAIRN_KAFKA_PORT",
        "CAIRN_CLICKHOUSE_PORT",
        "CAIRN_INGEST_PORT",
        "CAIRN_PORTAL_PORT",
    ):
        assert not port_open("127.0.0.1", int(stack_env[port]))
    assert cairn(stack_env, "status").returncode == 1
