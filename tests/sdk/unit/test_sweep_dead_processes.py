"""A trial whose process died is failed in Optuna and its run marked killed by the next process of
the sweep: by process id on the same machine (any storage), by Optuna's heartbeat on a database
storage (any machine). Offline runs; the spools show what was recorded."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna

import cairn
from cairn._capture import hostname
from cairn.config import Settings
from cairn.sweeps import SweepResult, Trial
from cairn.v1 import runs_pb2
from tests.sdk.helpers import offline_settings, payloads, spooled_events

SPACE = {"x": [1, 2, 3]}


def constant(trial: Trial) -> float:
    return float(trial.params["x"])


def abandoned_trial(
    storage: optuna.storages.BaseStorage, settings: Settings, process: dict[str, Any]
) -> str:
    """A running trial with a run, as a process that then vanished leaves them."""
    study = optuna.load_study(study_name="constant", storage=storage)
    trial = study.ask()
    run = cairn.init(name="lost", settings=settings)
    run.detach()
    trial.set_user_attr("cairn.run_id", run.id)
    trial.set_user_attr("cairn.process", process)
    return run.id


def final_status(settings: Settings, run_id: str) -> tuple[int, str, str]:
    """The run's last status and reason, and its last state tag."""
    events = spooled_events(settings.spool_root / run_id)
    change = payloads(events, "run_status_changed")[-1]
    tags = payloads(events, "tags_set")
    state = [t.value for m in tags for t in m.tags if t.key == "cairn.sweep.state"]
    return change.status, change.reason, state[-1]


def test_a_trial_of_a_dead_process_on_this_machine_is_killed_at_once(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    url = f"journal://{tmp_path / 'sweep.log'}"
    cairn.sweep(constant, space=SPACE, n_trials=1, storage=url, settings=settings)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = {"host": hostname(), "pid": int(gone.stdout), "started": 0.0}
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "sweep.log"))
    )
    run_id = abandoned_trial(storage, settings, dead)

    result = cairn.sweep(constant, space=SPACE, n_trials=2, storage=url, settings=settings)

    status, reason, state = final_status(settings, run_id)
    assert (status, state) == (runs_pb2.RUN_STATUS_KILLED, "failed")
    assert reason.startswith("trial 1: its sweep process (pid ")
    assert reason.endswith("is gone")
    assert [t.state.name for t in result.study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]


def test_a_trial_whose_process_stopped_beating_is_killed_after_the_grace_period(
    tmp_path: Path,
) -> None:
    settings = offline_settings(tmp_path)
    url = f"sqlite:///{tmp_path / 'sweep.db'}"

    def sweep(n_trials: int) -> SweepResult:
        return cairn.sweep(
            constant,
            space=SPACE,
            n_trials=n_trials,
            storage=url,
            heartbeat_interval=1,
            grace_period=1,
            settings=settings,
        )

    sweep(1)
    storage = optuna.storages.RDBStorage(url)
    elsewhere = {"host": "another-machine", "pid": 1, "started": 0.0}
    run_id = abandoned_trial(storage, settings, elsewhere)
    storage.record_heartbeat(
        storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name("constant"), 1
        )
    )
    time.sleep(2.5)  # longer than the grace period: the trial's heartbeat is stale

    result = sweep(2)

    status, reason, state = final_status(settings, run_id)
    assert (status, state) == (runs_pb2.RUN_STATUS_KILLED, "failed")
    assert reason == "trial 1: its sweep process sent no heartbeat for 1s"
    assert result.study.trials[1].state == optuna.trial.TrialState.FAIL
