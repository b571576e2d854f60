"""``cairn sweep SWEEP.yaml -- python train.py`` as a user runs it: the script's own
``cairn.init()`` lands on the trial's run, ``cairn.sweeps.report``/``should_prune`` reach the
pruner, and params arrive as arguments or as environment variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)
from tests.sdk.helpers import default_signals

pytestmark = pytest.mark.integration

TRAIN = """
import argparse
import json
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

import cairn

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1e-4)
parser.add_argument("--eta0", type=float, default=0.05)
parser.add_argument("--loss", default="hinge")
args = parser.parse_args()
if "CAIRN_PARAM_LOSS" in os.environ:  # `params: env`
    args.alpha = float(os.environ["CAIRN_PARAM_ALPHA"])
    args.loss = os.environ["CAIRN_PARAM_LOSS"]
    assert json.loads(os.environ["CAIRN_SWEEP_PARAMS"])["loss"] == args.loss

x, y = load_digits(return_X_y=True)
x = x / 16.0
model = SGDClassifier(
    loss=args.loss, alpha=args.alpha, eta0=args.eta0, learning_rate="constant", random_state=0
)
with cairn.init(config=vars(args)) as run:
    for epoch in range(6):
        model.partial_fit(x[:1200], y[:1200], classes=np.unique(y))
        run.log({"train_error": 1 - model.score(x[:1200], y[:1200])}, step=epoch)
        cairn.sweeps.report(1 - model.score(x[1200:], y[1200:]), step=epoch)
        if cairn.sweeps.should_prune():
            break
"""

ARGS_SWEEP = """
space:
  alpha: {type: float, low: 1e-6, high: 1e-1, log: true}
  eta0: {type: float, low: 1e-4, high: 1.0, log: true}
  loss: [hinge, log_loss]
objective_metric: val_error
n_trials: 6
sampler: {name: tpe, n_startup_trials: 3}
seed: 5
pruner: {name: median, n_startup_trials: 2}
params: args
"""

ENV_SWEEP = """
space:
  alpha: [0.0001]
  loss: [hinge, modified_huber, no_such_loss]
objective_metric: val_error
sampler: grid
seed: 1
params: env
command: python train.py
"""

SLOW = """
import pathlib
import time

import cairn

params = cairn.sweeps.params()
with cairn.init() as run:
    for step in range(100):
        cairn.sweeps.report(params["x"] / (step + 1), step=step)
        pathlib.Path("reported").touch()
        time.sleep(0.1)
"""

SLOW_SWEEP = """
space:
  x: {type: float, low: 0.0, high: 1.0}
n_trials: 3
command: python slow.py
"""

COLUMNS = (
    "run_id",
    "parent_run_id",
    "sweep_id",
    "status",
    "status_reason",
    "tags",
    "params",
    "traceback",
)


def workdir(tmp_path: Path, files: dict[str, str]) -> Path:
    """The directory the user works in, with their files (not ``tmp_path``, which holds
    ``CAIRN_DIR`` as ``cairn/``: a script next to it would import that directory as cairn)."""
    work = tmp_path / "work"
    work.mkdir()
    for name, text in files.items():
        (work / name).write_text(text)
    return work


def cairn_sweep(
    pipeline: Pipeline, tmp_path: Path, project: str, files: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **pipeline.env(tmp_path, project)}
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", "sweep", *args],
        cwd=workdir(tmp_path, {"train.py": TRAIN, **files}),
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def trial_runs(pipeline: Pipeline, project: str, expected: int) -> list[dict[str, Any]]:
    """The trial runs, once all ``expected`` have ended and the sweep run too."""
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM runs WHERE project = {{p:String}}"
        " AND tags['cairn.sweep.role'] = 'trial' AND status != 'running'"
        " AND tags['cairn.sweep.state'] != 'running' ORDER BY run_id"
    )
    pipeline.wait_for_runs(project=project, count=1 + expected)
    deadline = time.monotonic() + 90
    while True:
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in pipeline.rows(sql, p=project)]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def sweep_run(pipeline: Pipeline, project: str) -> dict[str, Any]:
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM runs WHERE project = {{p:String}}"
        " AND tags['cairn.sweep.role'] = 'sweep'"
    )
    (row,) = pipeline.rows(sql, p=project)
    return dict(zip(COLUMNS, row, strict=True))


def keys_of(pipeline: Pipeline, run_id: str) -> set[str]:
    rows = pipeline.rows(
        "SELECT DISTINCT key FROM metric_points WHERE run_id = {r:String}", r=run_id
    )
    return {key for (key,) in rows}


def test_params_as_arguments_and_pruning_reach_the_script_and_its_run(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    project = "sweep-cli-args"
    files = {"digits.yaml": ARGS_SWEEP}

    done = cairn_sweep(
        pipeline, tmp_path, project, files, "digits.yaml", "--", "python", "train.py"
    )

    assert done.returncode == 0, done.stderr
    assert "sweep digits (run " in done.stdout
    trials = trial_runs(pipeline, project, 6)
    sweep = sweep_run(pipeline, project)
    assert len(trials) == 6, done.stdout + done.stderr[-6000:]
    states = sorted(run["tags"]["cairn.sweep.state"] for run in trials)
    assert set(states) <= {"complete", "pruned"}, done.stdout + done.stderr[-4000:]
    assert "pruned" in states
    assert sweep["status"] == "finished"
    for run in trials:
        assert (run["parent_run_id"], run["sweep_id"]) == (sweep["run_id"], sweep["run_id"])
        assert run["status"] == "finished"
        assert {"alpha", "eta0", "loss"} <= set(run["params"])
        assert keys_of(pipeline, run["run_id"]) == {"train_error", "val_error"}
        if run["tags"]["cairn.sweep.state"] == "pruned":
            assert int(run["tags"]["cairn.sweep.pruned_step"]) < 5
    assert sweep["tags"]["cairn.sweep.best_run"] in {run["run_id"] for run in trials}


def test_params_as_environment_and_a_failing_command_fails_only_its_trial(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    project = "sweep-cli-env"
    done = cairn_sweep(pipeline, tmp_path, project, {"losses.yaml": ENV_SWEEP}, "losses.yaml")

    assert done.returncode == 0, done.stderr
    assert "InvalidParameterError" in done.stderr  # the script's own error, passed through
    trials = trial_runs(pipeline, project, 3)
    by_loss = {run["params"]["loss"]: run for run in trials}
    assert set(by_loss) == {"hinge", "modified_huber", "no_such_loss"}
    failed = by_loss["no_such_loss"]
    assert (failed["status"], failed["tags"]["cairn.sweep.state"]) == ("failed", "failed")
    assert failed["status_reason"] == "TrialCommandFailed: the trial's command exited with status 1"
    assert "InvalidParameterError" in failed["traceback"]
    for loss in ("hinge", "modified_huber"):
        assert by_loss[loss]["status"] == "finished"
        assert by_loss[loss]["tags"]["cairn.sweep.state"] == "complete"
        assert keys_of(pipeline, by_loss[loss]["run_id"]) == {"train_error", "val_error"}


def test_ctrl_c_stops_the_sweep_and_marks_the_running_trial_and_the_sweep_killed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    project = "sweep-cli-interrupt"
    work = workdir(tmp_path, {"slow.yaml": SLOW_SWEEP, "slow.py": SLOW})
    env = {**os.environ, **pipeline.env(tmp_path, project)}
    command = [sys.executable, "-m", "cairn.cli", "sweep", "slow.yaml"]
    # A session of its own: the signal goes to its whole process group, as a terminal's Ctrl-C.
    sweep = subprocess.Popen(
        command,
        cwd=work,
        env=env,
        start_new_session=True,
        text=True,
        preexec_fn=default_signals,  # Ctrl-C must not be inherited as ignored
    )
    deadline = time.monotonic() + 60
    while not (work / "reported").exists():
        assert sweep.poll() is None, "the sweep ended before its trial reported"
        assert time.monotonic() < deadline, "the trial never reported"
        time.sleep(0.05)

    os.killpg(sweep.pid, signal.SIGINT)

    assert sweep.wait(timeout=60) == 130
    (trial,) = trial_runs(pipeline, project, 1)
    assert (trial["status"], trial["tags"]["cairn.sweep.state"]) == ("killed", "failed")
    deadline = time.monotonic() + 60
    while sweep_run(pipeline, project)["status"] == "running":
        assert time.monotonic() < deadline, "the sweep run stayed running"
        time.sleep(0.2)
    assert sweep_run(pipeline, project)["status"] == "killed"
