"""``cairn up --profile cluster`` from the command line, walking docs/deploy.md's section of it.

On a private home and free ports (every replica's port free too), the section's blocks run in
order: ``cairn up --profile cluster`` + ``cairn status`` (12 healthy lines: 3 Kafka nodes, the
endpoint, 2 ingest + their query services, 3 processors workers, the portal), the training script
(logs through the SDK, which finds both ingest replicas in the local-stack file, and reads the
run back through the query service), ``cairn replay`` (every projection table identical after,
row counts and checksums) and ``cairn down`` (no process, no port left).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localstack.ephemeral import RunningStack, cairn, stack_env
from localstack.processes import pid_alive, port_open
from localstack.settings import CLUSTER, StackSettings
from query.client import connect
from servicekit.topics import AUTOMATIONS, EVENTS_TOPIC, IDENTITY_TOPIC
from tests.cluster.harness import projection_snapshot
from tests.deploy.test_deploy_doc import PAGE, PROFILE_SECTION
from tests.docs.literate import sections

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def run_block(text: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + text],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


async def topic_layout(bootstrap: str) -> dict[str, tuple[int, set[int], str]]:
    """Per topic: (partitions, replica counts seen, min.insync.replicas)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [EVENTS_TOPIC, IDENTITY_TOPIC, AUTOMATIONS.name]
        described = await admin.describe_topics(names)
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    isr: dict[str, str] = {}
    for response in configs:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            isr[name] = next(str(e[1]) for e in entries if e[0] == "min.insync.replicas")
    return {
        t["topic"]: (
            len(t["partitions"]),
            {len(p["replicas"]) for p in t["partitions"]},
            isr[t["topic"]],
        )
        for t in described
    }


def resident_mib(pids: list[int]) -> float:
    """Resident memory of the parts' process groups (each part's children included)."""
    import psutil

    total = 0
    for pid in pids:
        process = psutil.Process(pid)
        total += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    return total / (1 << 20)


def stable_snapshot(url: str) -> dict[str, str]:
    """The projections once two reads a second apart agree (late flushes have landed)."""
    client = connect(url)
    previous = projection_snapshot(client, "cairn")
    for _ in range(30):
        time.sleep(1)
        current = projection_snapshot(client, "cairn")
        if current == previous:
            return current
        previous = current
    raise AssertionError("the projections kept changing with nothing being logged")


@pytest.mark.timeout(1500)  # ten processes, three of them JVMs, on two shared cores
def test_the_cluster_profile_comes_up_logs_replays_and_goes_down(tmp_path: Path) -> None:
    (section,) = [s for s in sections(PAGE) if s.title == PROFILE_SECTION]
    runnable = [b for b in section.blocks if b.runs]
    files = [b for b in section.blocks if b.file]
    assert (len(runnable), len(files)) == (4, 1), "docs/deploy.md's profile section changed"
    up_block, train_block, replay_block, down_block = runnable
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / files[0].file).write_text(files[0].text)  # type: ignore[operator]

    home = tmp_path / "home"
    env = stack_env(home, os.environ, CLUSTER)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    settings = StackSettings.from_env(env).with_profile(CLUSTER)
    try:
        started = time.monotonic()
        up = run_block(up_block.text, env, workdir)
        up_seconds = time.monotonic() - started
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Cairn is up (cluster profile):" in up.stdout
        status = up.stdout.split("Cairn is up")[1]
        assert status.count(" healthy ") == 12, status  # 3 kafka, ch, 2 ingest, 2 query, 3, portal
        assert "unhealthy" not in status
        assert "stopped" not in status

        discovery = json.loads((home / "local-stack.json").read_text())
        ingest = int(env["CAIRN_INGEST_PORT"])
        assert discovery["ingest_url"] == f"127.0.0.1:{ingest},127.0.0.1:{ingest + 10}"
        assert discovery["stack"]["profile"] == CLUSTER
        layout = asyncio.run(topic_layout(settings.kafka_bootstrap))
        assert layout[EVENTS_TOPIC] == (12, {3}, "2")
        assert layout[IDENTITY_TOPIC] == (1, {3}, "2")
        assert layout[AUTOMATIONS.name] == (3, {3}, "2")  # not the 1 replica the workers give

        trained = run_block(train_block.text, env, workdir)
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert " finished {'lr': 0.01} " in trained.stdout

        url = RunningStack(env, home).admin_clickhouse_url
        before = stable_snapshot(url)
        assert before["metrics"].startswith("1000 rows")
        replayed = run_block(replay_block.text, env, workdir)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "processors-1, processors-2, processors-3 stopped for the replay" in replayed.stdout
        assert "started again" in replayed.stdout
        assert stable_snapshot(url) == before
        again = cairn(env, "status")
        assert (again.returncode, again.stdout.count(" healthy ")) == (0, 12), again.stdout

        pids = [int(p.read_text()) for p in (home / "run").glob("*.pid")]
        assert len(pids) == 10  # 3 kafka, clickhouse, 2 ingest, 3 processors, portal
        print(
            f"\n[cluster profile] up in {up_seconds:.0f} s; 10 processes,"
            f" {resident_mib(pids):,.0f} MiB resident; load average {os.getloadavg()[0]:.1f}"
        )
        down = run_block(down_block.text, env, workdir)
        assert down.returncode == 0, down.stdout + down.stderr
        assert [pid for pid in pids if pid_alive(pid)] == []
        ports = [
            *settings.kafka_ports,
            *settings.kafka_controller_ports,
            *(int(a.rsplit(":", 1)[1]) for a in settings.ingest_addresses),
            *settings.processors_ports,
            settings.clickhouse_port,
            settings.portal_port,
        ]
        assert [p for p in ports if port_open("127.0.0.1", p)] == []
        assert cairn(env, "status").returncode == 1
    finally:
        cairn(env, "down", timeout=300)
