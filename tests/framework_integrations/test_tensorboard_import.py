"""``cairn import tensorboard LOGDIR``: event files written by PyTorch's ``SummaryWriter`` become
runs in the store, and importing them again adds nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from torch.utils.tensorboard import SummaryWriter

from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)

pytestmark = pytest.mark.integration

PROJECT = "tb-import"


def write_logs(logdir: Path) -> dict[str, dict[int, float]]:
    """Two runs of 50 steps; run_a also records hparams. Returns run_a's losses by step."""
    losses: dict[str, dict[int, float]] = {"run_a": {}, "run_b": {}}
    for name, scale in (("run_a", 1.0), ("run_b", 2.0)):
        writer = SummaryWriter(str(logdir / name))
        for step in range(50):
            loss = scale / (step + 1)
            losses[name][step] = loss
            writer.add_scalar("loss/train", loss, step)
            writer.add_scalar("accuracy", step / 50, step)
        if name == "run_a":
            writer.add_hparams(
                {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}, {"hparam/accuracy": 0.9}
            )
        writer.close()
    return losses


def import_cli(logdir: Path, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "import", "tensorboard", str(logdir)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def counts(pipeline: Pipeline) -> tuple[int, int]:
    runs = pipeline.rows("SELECT count() FROM runs WHERE project = {p:String}", p=PROJECT)
    points = pipeline.rows(
        "SELECT count() FROM metric_points WHERE run_id IN"
        " (SELECT run_id FROM runs WHERE project = {p:String})",
        p=PROJECT,
    )
    return int(runs[0][0]), int(points[0][0])


def events_of(pipeline: Pipeline, run_ids: list[str]) -> int:
    found = pipeline.rows(
        "SELECT count() FROM events WHERE aggregate_id IN {ids:Array(String)}", ids=run_ids
    )
    return int(found[0][0])


def test_event_files_become_runs_with_metrics_and_hparams_and_import_once(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    logdir = tmp_path / "logs"
    written_from = time.time()
    losses = write_logs(logdir)
    written_until = time.time()
    time.sleep(1.0)  # so a point stamped at import time could not pass for one written above

    lines = import_cli(logdir, pipeline.env(tmp_path, PROJECT))

    assert len(lines) == 2, lines
    assert all("  imported" in line for line in lines), lines
    run_ids = pipeline.wait_for_runs(project=PROJECT, count=2, status="finished")
    rows: dict[str, Any] = {
        name: (run_id, params, tags)
        for run_id, name, params, tags in pipeline.rows(
            "SELECT run_id, name, params, tags FROM runs WHERE project = {p:String}", p=PROJECT
        )
    }
    assert set(rows) == {"run_a", "run_b"}
    run_a, params_a, tags_a = rows["run_a"]
    assert params_a == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}
    assert tags_a == {"cairn.import.source": "tensorboard", "tensorboard.run": "run_a"}
    assert rows["run_b"][1] == {}

    for name in ("run_a", "run_b"):
        run_id = rows[name][0]
        recorded = pipeline.rows(
            "SELECT step, value FROM metric_points WHERE run_id = {r:String}"
            " AND key = 'loss/train' ORDER BY step",
            r=run_id,
        )
        assert [int(step) for step, _ in recorded] == list(range(50))
        assert [value for _, value in recorded] == pytest.approx(
            [losses[name][step] for step in range(50)], rel=1e-6
        )
    keys = pipeline.rows(
        "SELECT DISTINCT key FROM metric_points WHERE run_id = {r:String}", r=run_a
    )
    assert {key for (key,) in keys} == {"loss/train", "accuracy", "hparam/accuracy"}
    # The points keep TensorBoard's wall times, not the time of the import.
    (first_time,) = pipeline.rows(
        "SELECT min(timestamp) FROM metric_points WHERE run_id = {r:String}", r=run_a
    )[0]
    if first_time.tzinfo is None:
        first_time = first_time.replace(tzinfo=UTC)
    assert written_from - 0.01 <= first_time.timestamp() <= written_until

    before = counts(pipeline)
    assert before == (2, 50 * 2 * 2 + 1)

    # Again on this machine: nothing is sent.
    again = import_cli(logdir, pipeline.env(tmp_path, PROJECT))
    assert len(again) == 2, again
    assert all("already imported" in line for line in again), again

    # Again from a machine that never imported it: the same run ids, which the query service
    # already knows, so the importer says so and sends nothing (were a run sent anyway, ingest
    # would refuse its second creation, docs/permissions.md W2): the store keeps exactly one
    # copy of each run and its points, and the log no second copy of its events.
    sent_before = events_of(pipeline, run_ids)
    elsewhere = import_cli(logdir, pipeline.env(tmp_path / "elsewhere", PROJECT))
    assert len(elsewhere) == 2, elsewhere
    assert all("already imported" in line for line in elsewhere), elsewhere
    time.sleep(2.0)  # what a re-import could have changed would be projected by now
    pipeline.wait_for_runs(project=PROJECT, count=2, status="finished")
    assert counts(pipeline) == before
    assert events_of(pipeline, run_ids) == sent_before
