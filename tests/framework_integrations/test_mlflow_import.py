"""``cairn import mlflow``: a store written by the real MLflow client becomes Cairn runs, artifacts
and registry entries, and importing it again adds nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cairn._registry import reads_for
from cairn.artifacts import open_store
from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is part of the dev install")
from mlflow.entities import Metric  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

pytestmark = pytest.mark.integration

STEPS = 10_000
EXPERIMENT = "Churn Model"
PROJECT = "churn-model"


def write_store(
    client: MlflowClient, workdir: Path, steps: int, experiment_name: str, model_name: str
) -> dict[str, Any]:
    """A parent run (``steps`` points of two metrics, a file and a model directory), a nested
    child run, a failed run, and a registered model with two versions and an alias."""
    experiment = client.create_experiment(experiment_name)
    start = int(time.time() * 1000) - 3_600_000
    parent = client.create_run(experiment, run_name="parent", start_time=start).info.run_id
    for first in range(0, steps, 1000):
        batch = []
        for step in range(first, min(steps, first + 1000)):
            batch.append(Metric("loss", 1.0 / (step + 1), start + step, step))
            batch.append(Metric("val acc", step / steps, start + step, step))
        client.log_batch(parent, metrics=batch)
    client.log_param(parent, "lr", "0.01")
    client.log_param(parent, "optimizer", "adam")
    client.set_tag(parent, "team.owner", "ml-platform")
    notes = workdir / "notes.txt"
    notes.write_text("trained on churn v3\n")
    client.log_artifact(parent, str(notes))
    model = workdir / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "model.pkl").write_bytes(os.urandom(4096))
    client.log_artifacts(parent, str(model), "model")
    client.set_terminated(parent, end_time=start + steps + 10)

    child = client.create_run(
        experiment,
        run_name="child",
        start_time=start + 100,
        tags={"mlflow.parentRunId": parent},
    ).info.run_id
    client.log_batch(
        child, metrics=[Metric("loss", 0.5 - s / 100, start + s, s) for s in range(30)]
    )
    client.log_artifacts(child, str(model), "model")
    client.set_terminated(child, end_time=start + 200)

    failed = client.create_run(experiment, run_name="failed", start_time=start + 300).info.run_id
    client.log_metric(failed, "loss", 9.0, timestamp=start + 301, step=0)
    client.set_terminated(failed, status="FAILED", end_time=start + 302)

    client.create_registered_model(model_name)
    client.create_model_version(model_name, source=f"runs:/{parent}/model", run_id=parent)
    client.create_model_version(model_name, source=f"runs:/{child}/model", run_id=child)
    client.set_registered_model_alias(model_name, "champion", "1")
    return {"parent": parent, "child": child, "failed": failed}


def import_cli(args: list[str], env: dict[str, str]) -> list[str]:
    """Run the command where the import writes its run spools (``CAIRN_DIR``'s parent), so
    nothing lands in the working tree."""
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "import", "mlflow", *args],
        env={**os.environ, **env},
        cwd=Path(env["CAIRN_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def project_counts(pipeline: Pipeline, project: str) -> tuple[int, int, int]:
    (row,) = pipeline.rows(
        "SELECT (SELECT count() FROM runs WHERE project = {p:String}),"
        " (SELECT count() FROM metric_points WHERE run_id IN"
        "   (SELECT run_id FROM runs WHERE project = {p:String})),"
        " (SELECT count() FROM events WHERE project = {p:String})",
        p=project,
    )
    return int(row[0]), int(row[1]), int(row[2])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.timeout(600)  # 10,000-step series imported twice, on a shared two-core machine
def test_file_store_imports_runs_points_artifacts_and_registry_once(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file://{tmp_path}/mlruns"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    ids = write_store(client, tmp_path, STEPS, EXPERIMENT, "churn")
    env = pipeline.env(tmp_path, "unused")

    dry = import_cli(["--tracking-uri", uri, "--dry-run"], env)
    assert dry[0].startswith(f"mlflow {uri}: would import 3 runs ({2 * STEPS + 31} points"), dry
    assert project_counts(pipeline, PROJECT) == (0, 0, 0)

    lines = import_cli(["--tracking-uri", uri, "--experiment", EXPERIMENT], env)
    assert lines[0].startswith(f"mlflow {uri}: imported 3 runs ({2 * STEPS + 31} points"), lines
    assert "2 model versions, 1 aliases; 0 runs already imported" in lines[0], lines

    pipeline.wait_for_runs(project=PROJECT, count=2, status="finished")
    pipeline.wait_for_runs(project=PROJECT, count=1, status="failed")
    runs = {
        tags["mlflow.run_id"]: (run_id, name, params, tags, parent)
        for run_id, name, params, tags, parent in pipeline.rows(
            "SELECT run_id, name, params, tags, parent_run_id FROM runs WHERE project = {p:String}",
            p=PROJECT,
        )
    }
    assert set(runs) == set(ids.values())
    parent_id, name, params, tags, _ = runs[ids["parent"]]
    assert name == "parent"
    assert params == {"lr": "0.01", "optimizer": "adam"}
    assert tags["team.owner"] == "ml-platform"
    assert tags["cairn.import.source"] == "mlflow"
    assert runs[ids["child"]][4] == parent_id  # the nested run keeps its parent

    # Every point, per run and key, with MLflow's values, steps and timestamps.
    for original, cairn_id in ((ids["parent"], parent_id), (ids["child"], runs[ids["child"]][0])):
        for key in client.get_run(original).data.metrics:
            history = sorted(client.get_metric_history(original, key), key=lambda m: m.step)
            stored = pipeline.rows(
                "SELECT step, value, toUnixTimestamp64Milli(timestamp) FROM metric_points"
                " WHERE run_id = {r:String} AND key = {k:String} ORDER BY step",
                r=cairn_id,
                k=key.replace(" ", "_"),
            )
            assert len(stored) == len(history), (original, key)
            assert [int(s) for s, _, _ in stored] == [m.step for m in history]
            assert [v for _, v, _ in stored] == [m.value for m in history]
            assert [int(t) for _, _, t in stored] == [m.timestamp for m in history]

    # Artifacts: the file's digest is MLflow's bytes' digest; the directory's manifest lists
    # every file with its digest.
    settings = pipeline.settings(tmp_path, project=PROJECT)
    reads = reads_for(settings)
    artifact_root = Path(client.get_run(ids["parent"]).info.artifact_uri.removeprefix("file://"))
    sha, _ = reads.artifact(parent_id, "notes.txt")
    assert sha == sha256_of(artifact_root / "notes.txt")
    tree_sha, _ = reads.artifact(parent_id, "model")
    tree = {e.path: e.sha256 for e in open_store(str(tmp_path / "artifacts")).read_tree(tree_sha)}
    assert tree == {
        name: sha256_of(artifact_root / "model" / name) for name in ("MLmodel", "model.pkl")
    }

    # The registry: two versions built by the two runs, the alias on version 1.
    versions = sorted(reads.versions("churn"), key=lambda v: v.version)
    assert [(v.version, v.run_id) for v in versions] == [
        (1, parent_id),
        (2, runs[ids["child"]][0]),
    ]
    deadline = time.monotonic() + 30
    while reads.resolve("churn", "champion").version != 1:
        assert time.monotonic() < deadline, "alias champion never reached version 1"
        time.sleep(0.3)

    # Again: nothing is sent, the summary says so.
    time.sleep(1.0)
    before = project_counts(pipeline, PROJECT)
    assert before[:2] == (3, 2 * STEPS + 31)
    again = import_cli(["--tracking-uri", uri], env)
    assert "imported 0 runs" in again[0], again
    assert "3 runs already imported" in again[0], again
    assert "0 model versions, 0 aliases" in again[0], again
    time.sleep(2.0)  # what a second import could have changed would be projected by now
    assert project_counts(pipeline, PROJECT) == before
    assert len(reads.versions("churn")) == 2
