"""The non-Python client in examples/node-client: ``npm ci`` from its committed lockfile, then
it logs a run through cairn.v1.Ingest and reads it back through cairn.v1.Query, against the real
pipeline. Proof that the gRPC contract, not the Python SDK, is the interface."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipeline import TEAM, Pipeline

pytestmark = pytest.mark.integration

CLIENT = Path(__file__).resolve().parents[2] / "examples" / "node-client"


def test_the_node_client_logs_a_run_and_reads_it_back(pipeline: Pipeline) -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm, "npm is needed for examples/node-client (Debian: npm)"
    assert node, "Node.js is needed for examples/node-client (Debian: nodejs)"
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")},
        "CAIRN_INGEST_URL": pipeline.ingest.address,
        "CAIRN_API_KEY": pipeline.stack.api_key,
        "CAIRN_TEAM": TEAM,
        "CAIRN_PROJECT": "node-example",
    }
    done = subprocess.run(
        [node, "client.js"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["name"] == "from-node"
    assert (run["team"], run["project"], run["status"]) == (TEAM, "node-example", "finished")
    assert run["params"] == {"lr": 0.01, "optimizer": "adam"}
    assert run["tags"] == {"client": "node"}
    assert run["loss_points"] == 5
    assert run["loss_last"] == pytest.approx(0.2)
    # And Python sees the same run through the store.
    assert pipeline.wait_for_runs(project="node-example", count=1, status="finished") == [
        run["run_id"]
    ]
