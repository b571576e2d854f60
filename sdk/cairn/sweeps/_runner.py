"""One process's share of a sweep: open the study, take part in it, leave the record straight.

Any number of processes, on any machines sharing the storage, run the same sweep; each calls
:func:`run_sweep`. The budget (``n_trials``) counts complete and pruned trials of the whole
study, so the processes together run it, one or two trials over when several finish at once.
Failed trials do not count (a process that dies mid-trial gives its slot back), but as many
failures as the budget stop the sweep, so a broken objective cannot loop forever.

The sweep run is never held by one process for the whole sweep. Its creator records it and lets
it go; a process ending its share finishes it (with the best trial in its tags) when the budget is
met or no other process has a trial running, and otherwise leaves it running for the others; a
process joining a sweep that was ended that way marks it running again. Re-running the same command resumes the sweep: same
study, same sweep run, the trials so far kept.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

import cairn
from cairn._flatten import flatten
from cairn._payloads import tags_set
from cairn._start import _check_settings as check_settings
from cairn.config import Settings, resolve_settings
from cairn.sweep_record import (
    BEST_RUN_TAG,
    BEST_TRIAL_TAG,
    DIRECTIONS_PARAM,
    N_TRIALS_PARAM,
    OBJECTIVES_PARAM,
    PARETO_TRIALS_TAG,
    PRUNER_PARAM,
    ROLE_SWEEP,
    ROLE_TAG,
    SAMPLER_PARAM,
    SPACE_PARAM,
    STUDY_PARAM,
    space_json,
)
from cairn.sweeps import _runs, _study
from cairn.sweeps._config import SweepDefinition
from cairn.sweeps._objective import (
    RUN_ATTR,
    Objective,
    StaleTrials,
    SweepContext,
    objective_for,
    reap_dead_trials,
)
from cairn.sweeps._result import SweepResult

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

log = logging.getLogger("cairn")

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
# Study user attr: a process ended the sweep run, so the next one to join marks it running again.
# Joining processes never touch the sweep run otherwise: the creator may be recording it still.
ENDED_ATTR = "cairn.sweep_ended"


def run_sweep(
    objective: Objective,
    definition: SweepDefinition,
    *,
    default_study: str,
    settings: Settings | None = None,
    project: str | None = None,
    max_trials: int | None = None,
    optuna_log_level: int = logging.WARNING,
) -> SweepResult:
    """Take part in the sweep until its budget is met, the timeout passes, this process has run
    ``max_trials`` trials, or an error or Ctrl-C stops it (re-raised after the record is
    straight)."""
    if settings is None:
        settings = resolve_settings({"project": project})
    elif project is not None:
        settings = replace(settings, project=project)
    study_name = definition.study or default_study
    stale = StaleTrials()
    with _study.optuna_logging(optuna_log_level):
        journal = settings.dir / "sweeps" / settings.project / f"{study_name}.log"
        storage = _study.open_storage(definition, journal, stale)
        sampler = _study.make_sampler(definition)
        pruner = _study.make_pruner(definition)
        params = sweep_params(definition, study_name, sampler, pruner)
        _check_runs_can_start(settings, definition, params)
        study, created = _study.open_study(definition, study_name, storage, sampler, pruner)
        identity = _study.claim_identity(
            study, definition, created=created, project=settings.project
        )
        context = SweepContext(
            definition=definition,
            settings=replace(settings, project=identity.project),
            sweep_run_id=identity.run_id,
            run_name=definition.name or study_name,
        )
        stale.context = context
        if identity.create_run:
            _create_sweep_run(context, params)
        elif study.user_attrs.get(ENDED_ATTR) and not budget_reached(study, definition):
            _rejoin_sweep_run(context)
            study.set_user_attr(ENDED_ATTR, False)
        error: BaseException | None = None
        try:
            if budget_reached(study, definition):
                log.info("cairn: sweep %s has met its budget already", study_name)
            else:
                study.optimize(
                    objective_for(objective, context),
                    n_trials=max_trials,
                    timeout=definition.timeout,
                    catch=definition.catch,
                    callbacks=[_Budget(definition)],
                )
        except BaseException as exc:
            error = exc
            raise
        finally:
            reap_dead_trials(study, context)
            with warnings.catch_warnings():  # experimental in Optuna; a no-op without heartbeat
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            _end_share(study, context, error)
    return result_of(study, identity.run_id, definition)


def sweep_params(
    definition: SweepDefinition,
    study_name: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> dict[str, Any]:
    """The sweep run's params (see :mod:`cairn.sweep_record`)."""
    return {
        STUDY_PARAM: study_name,
        SAMPLER_PARAM: type(sampler).__name__,
        PRUNER_PARAM: type(pruner).__name__,
        OBJECTIVES_PARAM: json.dumps(list(definition.objectives)),
        DIRECTIONS_PARAM: json.dumps(list(definition.directions)),
        N_TRIALS_PARAM: definition.n_trials,
        SPACE_PARAM: space_json(definition.space),
    }


def _check_runs_can_start(
    settings: Settings, definition: SweepDefinition, params: Mapping[str, Any]
) -> None:
    """What would stop the sweep run from being created, checked before the study exists (a
    study whose run never started could not get one later)."""
    check_settings(settings)
    flatten({**(definition.config or {}), **params}, "config")
    if definition.tags:
        tags_set(definition.tags)


def budget_reached(study: optuna.Study, definition: SweepDefinition) -> bool:
    if definition.n_trials is None:
        return False
    return len(study.get_trials(deepcopy=False, states=FINISHED_STATES)) >= definition.n_trials


class _Budget:
    """Stops this process's loop once the sweep's budget is met, or the failures reach it."""

    def __init__(self, definition: SweepDefinition) -> None:
        self.definition = definition

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        limit = self.definition.n_trials
        if limit is None:
            return
        if budget_reached(study, self.definition):
            study.stop()
        elif len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))) >= limit:
            log.error("cairn: stopping sweep %s: %d trials failed", study.study_name, limit)
            study.stop()


def _create_sweep_run(context: SweepContext, params: Mapping[str, Any]) -> None:
    definition = context.definition
    run = cairn.init(
        name=context.run_name,
        config={**(definition.config or {}), **params},
        tags={**(definition.tags or {}), ROLE_TAG: ROLE_SWEEP},
        run_id=context.sweep_run_id,
        settings=context.settings,
    )
    run.detach()


def _rejoin_sweep_run(context: SweepContext) -> None:
    """Mark the sweep running again (an earlier session may have finished it) with the budget
    this process works towards."""
    run = _runs.resume(context.settings, context.sweep_run_id)
    if run is not None:
        run.log_params({N_TRIALS_PARAM: context.definition.n_trials})
        run.detach()


def _end_share(study: optuna.Study, context: SweepContext, error: BaseException | None) -> None:
    """Finish the sweep run when it is over; leave it running while others still work."""
    reached = budget_reached(study, context.definition)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if running and not reached:
        return
    run = _runs.resume(context.settings, context.sweep_run_id)
    if run is None:
        return
    run.set_tags(best_tags(study))
    study.set_user_attr(ENDED_ATTR, True)
    if reached or error is None:
        run.finish(reason=_summary(study))
    elif isinstance(error, KeyboardInterrupt):
        run.finish("killed", reason="interrupted", exit_code=130)
    else:
        run.fail_with(error)


def best_tags(study: optuna.Study) -> dict[str, Any]:
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return {}
    if len(study.directions) > 1:
        numbers = sorted(trial.number for trial in study.best_trials)
        return {PARETO_TRIALS_TAG: ",".join(str(n) for n in numbers)}
    best = study.best_trial
    return {BEST_TRIAL_TAG: best.number, BEST_RUN_TAG: best.user_attrs.get(RUN_ATTR, "")}


def _summary(study: optuna.Study) -> str:
    counts = dict.fromkeys(TrialState, 0)
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] += 1
    return (
        f"{counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, "
        f"{counts[TrialState.FAIL]} failed trials"
    )


def result_of(study: optuna.Study, run_id: str, definition: SweepDefinition) -> SweepResult:
    trials = study.get_trials(deepcopy=False)
    count = {state: sum(1 for t in trials if t.state == state) for state in TrialState}
    complete = count[TrialState.COMPLETE] > 0
    single = len(study.directions) == 1
    best = study.best_trial if complete and single else None
    return SweepResult(
        run_id=run_id,
        study_name=study.study_name,
        study=study,
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAIL],
        budget_reached=budget_reached(study, definition),
        best_trial=best,
        best_run_id=None if best is None else best.user_attrs.get(RUN_ATTR),
        pareto_trials=tuple(study.best_trials) if complete and not single else (),
    )
