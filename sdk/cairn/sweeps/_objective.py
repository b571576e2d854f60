"""The bridge between Optuna's trials and Cairn's trial runs.

Optuna calls :func:`objective_for`'s function once per trial. It samples the params from the
space, creates the trial's run (a child of the sweep run, recorded per :mod:`cairn.sweep_record`),
runs the user's objective and records how the trial ended, then hands Optuna the value or the
exception: Optuna's state and the run's state tag always agree.

Trials whose process died are failed in Optuna and their runs marked *killed* by the process
that notices: :func:`reap_dead_trials` checks the process ids recorded on running trials of this
machine (before every trial and when a process ends its share), and Optuna's heartbeat finds
dead processes on other machines for database storages (:class:`StaleTrials` is its callback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import cairn
from cairn._ids import uuid7
from cairn.sweep_record import ROLE_TAG, ROLE_TRIAL, STATE_TAG, TRIAL_TAG
from cairn.sweeps import _runs
from cairn.sweeps._config import DEFAULT_HEARTBEAT_S, SweepDefinition
from cairn.sweeps._script import TrialPruned, _current
from cairn.sweeps._space import suggest
from cairn.sweeps._trial import Trial, check_result

if TYPE_CHECKING:
    from cairn.config import Settings

log = logging.getLogger("cairn")

RUN_ATTR = "cairn.run_id"  # trial user attr: the trial's run
PROCESS_ATTR = "cairn.process"  # trial user attr: host, pid and start time of its process

Objective = Callable[[Trial], Any]


@dataclass
class SweepContext:
    """What every trial of this process needs to know about its sweep."""

    definition: SweepDefinition
    settings: Settings  # with the project the sweep records into
    sweep_run_id: str
    run_name: str
    process: dict[str, Any] = field(default_factory=_runs.this_process)


def objective_for(
    objective: Objective, context: SweepContext
) -> Callable[[optuna.Trial], float | list[float]]:
    """Optuna's objective: one trial run per call, ended the way the trial ended."""
    objectives = context.definition.objectives

    def run_trial(optuna_trial: optuna.Trial) -> float | list[float]:
        reap_dead_trials(optuna_trial.study, context)
        trial = start_trial(optuna_trial, context)
        token = _current.set(trial)
        try:
            values = check_result(objective(trial), objectives, trial.number)
        except (TrialPruned, optuna.TrialPruned) as exc:
            trial.end_pruned()
            raise optuna.TrialPruned(str(exc)) from None
        except BaseException as exc:
            trial.end_failed(exc)
            raise
        finally:
            _current.reset(token)
        trial.end_complete(values)
        return values[0] if len(values) == 1 else list(values)

    return run_trial


def start_trial(optuna_trial: optuna.Trial, context: SweepContext) -> Trial:
    """Sample the params and create the trial's run.

    The run's id is written to the Optuna trial *before* the run exists, so a process dying in
    between leaves nothing unaccounted for in the store."""
    definition = context.definition
    params = suggest(optuna_trial, definition.space)
    run_id = uuid7()
    optuna_trial.set_user_attr(RUN_ATTR, run_id)
    optuna_trial.set_user_attr(PROCESS_ATTR, context.process)
    number = optuna_trial.number
    run = cairn.init(
        name=f"{context.run_name}-{number}",
        config={**(definition.config or {}), **params},
        tags={
            **(definition.tags or {}),
            ROLE_TAG: ROLE_TRIAL,
            TRIAL_TAG: number,
            STATE_TAG: "running",
        },
        parent=context.sweep_run_id,
        sweep_id=context.sweep_run_id,
        run_id=run_id,
        settings=context.settings,
    )
    return Trial(optuna_trial, run, params, definition.objectives)


def reap_dead_trials(study: optuna.Study, context: SweepContext) -> None:
    """Fail running trials whose process on this machine is gone, and mark their runs killed
    (at once, on any storage; Optuna's heartbeat covers other machines, after its grace)."""
    host = context.process["host"]
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        process = trial.user_attrs.get(PROCESS_ATTR)
        if not _runs.is_dead(process, host):
            continue
        try:  # straight to the storage, as Optuna's fail_stale_trials does: exactly one
            # process wins, and no sampler hook runs outside an optimisation loop
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first
        pid = process["pid"] if isinstance(process, dict) else "?"
        mark_killed(trial, context, f"its sweep process (pid {pid} on {host}) is gone")


def mark_killed(trial: FrozenTrial, context: SweepContext, reason: str) -> None:
    run_id = trial.user_attrs.get(RUN_ATTR)
    if not isinstance(run_id, str):
        return
    log.warning("cairn: trial %d of the sweep failed: %s", trial.number, reason)
    run = _runs.resume(context.settings, run_id)
    if run is None:
        return
    run.set_tags({STATE_TAG: "failed"})
    run.finish("killed", reason=f"trial {trial.number}: {reason}", exit_code=137)


class StaleTrials:
    """Optuna's heartbeat callback: a trial it failed for lack of heartbeats is killed in Cairn
    too. Made before the study is open, so the context arrives later."""

    def __init__(self) -> None:
        self.context: SweepContext | None = None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.context is not None:
            definition = self.context.definition
            interval = definition.heartbeat_interval or DEFAULT_HEARTBEAT_S
            grace = definition.grace_period or 2 * interval  # Optuna's default
            mark_killed(trial, self.context, f"its sweep process sent no heartbeat for {grace}s")
