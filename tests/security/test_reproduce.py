"""Rows R8 and R9 of docs/permissions.md: ``cairn reproduce`` and the portal's Reproduce section
read runs only as their caller may see them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cairn_contract.errors import NotFoundError
from cairn_contract.v1 import lineage_pb2, runs_pb2
from ingest.keys import issue_key_directly
from query.access import Caller
from query.client import connect
from query.migrations import apply_migrations
from query.reproduction import recorded_run, reproduction_links, reproduction_report
from tests.builders import event
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.pipeline import Pipeline
from tests.ui.conftest import project_events


def test_reproduce_of_another_teams_run_is_not_found(
    pipeline: Pipeline, kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = {**os.environ, **pipeline.env(tmp_path, "secret-project")}
    script = tmp_path / "train.py"
    script.write_text("import cairn\nrun = cairn.init()\nrun.log({'x': 1.0})\nprint(run.id)\n")
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    )
    run_id = done.stdout.strip().splitlines()[-1]
    pipeline.wait_for_runs(project="secret-project", count=1, status="finished")
    outsider = asyncio.run(
        issue_key_directly(
            kafka_bootstrap, team="outsiders", role="writer", topic=pipeline.stack.identity_topic
        )
    )

    def reproduce(key: str, target: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cairn.cli", "reproduce", target, "--dry-run"]
        command += ["--workdir", str(tmp_path / "w"), "--env", "current"]
        return subprocess.run(
            command, env={**env, "CAIRN_API_KEY": key}, capture_output=True, text=True, timeout=60
        )

    own = reproduce(pipeline.stack.api_key, run_id)
    assert own.returncode == 1  # visible; refused only because capture was off for git
    assert f"reproduce run {run_id}" in own.stdout
    foreign = reproduce(outsider, run_id)
    missing = reproduce(outsider, str(uuid.uuid4()))
    assert foreign.returncode == missing.returncode == 2
    # One readable line naming the code, the same for "not yours" and "does not exist".
    for refused in (foreign, missing):
        last_line = refused.stderr.strip().splitlines()[-1]
        assert last_line.startswith("cairn reproduce: ")
        assert last_line.endswith("[not_found]")
        assert "Traceback" not in refused.stderr
    assert foreign.stdout == ""
    assert not (tmp_path / "w").exists()


def _run(run_id: str, team: str, reproduces: str = "") -> list:
    payloads: list[tuple[str, object]] = [
        ("run_created", runs_pb2.RunCreated(name=f"run-of-{team}")),
        ("run_status_changed", runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED)),
    ]
    if reproduces:
        edge = lineage_pb2.LineageEdgeRecorded(
            source=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=run_id),
            relation=lineage_pb2.LINEAGE_RELATION_REPRODUCES,
            target=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=reproduces),
        )
        payloads.append(("lineage_edge_recorded", edge))
    return [
        event(field, payload, run_id=run_id, sequence=n + 1, team=team, project="p")
        for n, (field, payload) in enumerate(payloads)
    ]


def test_reproduce_section_hides_other_teams(clickhouse_endpoint: ClickHouseEndpoint) -> None:
    database = f"sec_{uuid.uuid4().hex[:10]}"
    apply_migrations(connect(clickhouse_endpoint.url, database="default"), database)
    url = f"{clickhouse_endpoint.url}/{database}"
    original, copy = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        project_events(url, database, [*_run(original, "risk"), *_run(copy, "vision", original)])
        client = connect(url)
        risk, vision = Caller("alice", frozenset({"risk"})), Caller("carol", frozenset({"vision"}))
        assert reproduction_links(client, risk, original).reproduced_by == ()
        assert reproduction_links(client, vision, copy).reproduces == ()
        with pytest.raises(NotFoundError):
            recorded_run(client, vision, original)
        with pytest.raises(NotFoundError):
            reproduction_report(client, vision, original, copy)
        both = Caller("admin", frozenset({"risk", "vision"}))
        assert reproduction_links(client, both, original).reproduced_by == (copy,)
    finally:
        connect(clickhouse_endpoint.url, database="default").command(
            f"DROP DATABASE IF EXISTS {database}"
        )
