"""The SDK as a user meets it: `cairn up`, then a training script with no configuration at all
(`cairn.init` finds the stack through the file `cairn up` writes), then `cairn sql` shows the run
complete and correct in ClickHouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localstack.processes import free_port

pytestmark = pytest.mark.e2e

CAIRN = [sys.executable, "-m", "cairn.cli"]

TRAINING = """
import cairn, pathlib
data = pathlib.Path("train.csv"); data.write_text("x,y\\n1,2\\n")
model = pathlib.Path("model.pt"); model.write_bytes(b"weights")
with cairn.init(project="churn", name="baseline",
                config={"lr": 3e-4, "model": {"layers": 4}}, tags={"team": "risk"}) as run:
    for step in range(500):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 500}, step=step)
    run.log_params({"batch_size": 64})
    run.set_tags({"stage": "tuning"})
    run.use_dataset(data, name="train")
    run.log_artifact(model, kind="model")
    run.comment("Switched to cosine schedule after the plateau at step 3k")
print(run.id, run.url)
"""


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("sdk-stack-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(
        CAIRN_HOME=str(home),
        CAIRN_LOCAL_STACK_FILE=str(home / "local-stack.json"),
        CAIRN_DIR=str(home / "sdk"),
        CAIRN_KAFKA_PORT=str(free_port()),
        CAIRN_KAFKA_CONTROLLER_PORT=str(free_port()),
        CAIRN_CLICKHOUSE_PORT=str(free_port()),
        CAIRN_INGEST_PORT=str(free_port()),
        CAIRN_INGEST_METRICS_PORT=str(free_port()),
        CAIRN_PROCESSORS_PORT=str(free_port()),
        CAIRN_PORTAL_PORT=str(free_port()),
    )
    up = subprocess.run(
        [*CAIRN, "up"], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env
    finally:
        subprocess.run([*CAIRN, "down"], env=env, capture_output=True, timeout=180, check=False)


def sql(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*CAIRN, "sql", "--admin", "--format", "json", query],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_a_zero_config_training_script_lands_complete_in_clickhouse(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    trained = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TRAINING)],
        env=stack_env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run_id, url = trained.stdout.split()
    assert url == f"http://127.0.0.1:{stack_env['CAIRN_PORTAL_PORT']}/run?id={run_id}"
    assert "not delivered" not in trained.stderr

    query = (
        "SELECT name, team, project, status, params, tags, metrics_count, metrics_last_step"
        f" FROM cairn.runs WHERE run_id = '{run_id}'"
    )
    deadline = time.monotonic() + 120
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = sql(stack_env, query)
        if rows and rows[0]["status"] == "finished" and rows[0]["metrics_count"].get("loss") == 500:
            break
        time.sleep(1)
    assert rows == [
        {
            "name": "baseline",
            "team": "local",
            "project": "churn",
            "status": "finished",
            "params": {"lr": "0.0003", "model.layers": "4", "batch_size": "64"},
            "tags": {"team": "risk", "stage": "tuning"},
            "metrics_count": {"loss": 500, "acc": 500},
            "metrics_last_step": {"loss": 499, "acc": 499},
        }
    ]
    assert sql(
        stack_env,
        f"SELECT relation, target_kind, target_name FROM cairn.lineage FINAL"
        f" WHERE source_id = '{run_id}' ORDER BY relation",
    ) == [
        {"relation": "produced", "target_kind": "artifact", "target_name": "model.pt"},
        {"relation": "used", "target_kind": "dataset", "target_name": "train"},
    ]
