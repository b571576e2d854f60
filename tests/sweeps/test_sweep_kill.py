"""The sweep the issue is done with: 30 trials over 3 params, TPE with Hyperband pruning, on a real
(tiny) classifier, in two OS processes sharing one storage. One process is SIGKILLed inside a
trial; the same command started again resumes the same sweep; the store then holds one sweep run,
every trial once, the killed trial marked killed, and the best trial named on the sweep run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import optuna
import pytest
from optuna.trial import TrialState

from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
STUDY = "digits-kill"
COLUMNS = ("run_id", "parent_run_id", "sweep_id", "status", "tags", "params", "metrics_last")


def start_worker(
    storage: str, env: dict[str, str], log: IO[str], pause_s: float = 0.03
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.sweeps.digits_worker", storage, STUDY, str(pause_s)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log, text=True)


def reap(process: subprocess.Popen[str]) -> None:
    """End a worker the test left running (it failed early): thawed, killed and waited for, so
    no frozen process keeps the storage locked or outlives the test."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
    process.wait(timeout=30)


def load_study(storage: str, timeout: float = 90) -> optuna.Study:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return optuna.load_study(study_name=STUDY, storage=storage)
        except Exception:  # not created yet (KeyError), or its tables are being created
            assert time.monotonic() < deadline, "the workers never created the study"
            time.sleep(0.2)


def trial_inside(study: optuna.Study, pid: int) -> optuna.trial.FrozenTrial | None:
    """A running trial of process ``pid`` that has reported a value (so its run exists)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        process = trial.user_attrs.get("cairn.process", {})
        if process.get("pid") == pid and trial.intermediate_values:
            return trial
    return None


def runs(pipeline: Pipeline, project: str) -> list[dict[str, Any]]:
    rows = pipeline.rows(
        f"SELECT {', '.join(COLUMNS)} FROM runs WHERE project = {{p:String}}", p=project
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def test_a_30_trial_sweep_in_two_processes_survives_a_killed_process_and_resumes(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        check_the_sweep(pipeline, tmp_path, stack)


def check_the_sweep(pipeline: Pipeline, tmp_path: Path, stack: contextlib.ExitStack) -> None:
    project = "sweep-kill"
    storage = f"sqlite:///{tmp_path / 'digits.db'}"
    env = {**os.environ, **pipeline.env(tmp_path, project)}
    logs = [stack.enter_context((tmp_path / f"worker-{i}.log").open("w")) for i in range(3)]
    # The victim's epochs are slow (0.25 s), so it is inside a trial nearly all the time.
    victim = start_worker(storage, env, logs[0], pause_s=0.25)
    stack.callback(reap, victim)
    survivor = start_worker(storage, env, logs[1])
    stack.callback(reap, survivor)
    study = load_study(storage)

    deadline = time.monotonic() + 240
    killed = None
    while killed is None:
        assert time.monotonic() < deadline, "never caught the victim inside a trial"
        assert victim.poll() is None, "the victim ended before it could be killed"
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if len(done) >= 6:
            # Frozen first, so the trial found running cannot finish between the look and the kill.
            victim.send_signal(signal.SIGSTOP)
            try:
                killed = trial_inside(study, victim.pid)
            except optuna.exceptions.StorageInternalError:
                killed = None  # frozen inside a write, holding SQLite's lock: thaw and look again
            if killed is None:
                victim.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    replacement = start_worker(storage, env, logs[2])  # the same command, started again
    stack.callback(reap, replacement)
    for process, log in ((survivor, "worker-1.log"), (replacement, "worker-2.log")):
        assert process.wait(timeout=240) == 0, (tmp_path / log).read_text()[-5000:]

    trials = {t.number: t for t in study.get_trials()}
    states = [t.state for t in trials.values()]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) >= 30
    assert trials[killed.number].state == TrialState.FAIL
    try:
        pipeline.wait_for_runs(project=project, count=1 + len(trials))
    except AssertionError as missing:
        stored = {r["run_id"] for r in runs(pipeline, project)}
        lost = {
            n: t.state.name
            for n, t in trials.items()
            if t.user_attrs.get("cairn.run_id") not in stored
        }
        raise AssertionError(
            f"{missing}; trials without a run: {lost} (killed: {killed.number})"
        ) from None
    deadline = time.monotonic() + 90
    while any(r["status"] == "running" for r in runs(pipeline, project)):
        assert time.monotonic() < deadline, "some runs never ended"
        time.sleep(0.3)
    recorded = runs(pipeline, project)
    (sweep,) = [r for r in recorded if r["tags"]["cairn.sweep.role"] == "sweep"]
    trial_runs = [r for r in recorded if r["tags"]["cairn.sweep.role"] == "trial"]

    assert sweep["status"] == "finished"
    assert int(sweep["params"]["sweep.n_trials"]) == 30
    assert (sweep["params"]["sweep.sampler"], sweep["params"]["sweep.pruner"]) == (
        "TPESampler",
        "HyperbandPruner",
    )
    numbers = [int(r["tags"]["cairn.sweep.trial"]) for r in trial_runs]
    assert sorted(numbers) == sorted(trials)  # every trial once: no duplicates, none missing
    state_of = {int(r["tags"]["cairn.sweep.trial"]): r for r in trial_runs}
    for number, run in state_of.items():
        assert (run["parent_run_id"], run["sweep_id"]) == (sweep["run_id"], sweep["run_id"])
        assert {"alpha", "eta0", "loss"} <= set(run["params"])
        assert run["run_id"] == trials[number].user_attrs["cairn.run_id"]
    finished = [r for r in trial_runs if r["tags"]["cairn.sweep.state"] in ("complete", "pruned")]
    assert len(finished) >= 30
    pruned = [r for r in trial_runs if r["tags"]["cairn.sweep.state"] == "pruned"]
    assert pruned
    for run in pruned:
        assert 0 <= int(run["tags"]["cairn.sweep.pruned_step"]) < 7
        assert (
            run["metrics_last"]["val_error"]
            == trials[int(run["tags"]["cairn.sweep.trial"])].intermediate_values[
                int(run["tags"]["cairn.sweep.pruned_step"])
            ]
        )
    victim_run = state_of[killed.number]
    assert (victim_run["status"], victim_run["tags"]["cairn.sweep.state"]) == ("killed", "failed")

    complete = [r for r in trial_runs if r["tags"]["cairn.sweep.state"] == "complete"]
    best_value = min(r["metrics_last"]["val_error"] for r in complete)
    best = state_of[int(sweep["tags"]["cairn.sweep.best_trial"])]
    assert best["tags"]["cairn.sweep.state"] == "complete"
    assert best["metrics_last"]["val_error"] == best_value
    assert sweep["tags"]["cairn.sweep.best_run"] == best["run_id"]
    assert best_value == study.best_value
