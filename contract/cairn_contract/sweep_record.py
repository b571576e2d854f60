"""How a sweep is recorded as ordinary runs: the names the SDK writes and ``query/`` reads.

A sweep is a *parent run*; each trial is a *child run* of it. Nothing lives in a side database:
Optuna's storage only coordinates the processes, the runs are the record.

Sweep run (the parent)
    tag ``cairn.sweep.role`` = ``"sweep"``; its params are the sweep's definition:
    ``sweep.study`` (Optuna study name), ``sweep.sampler`` / ``sweep.pruner`` (class names, pruner
    ``"NopPruner"`` when none), ``sweep.objectives`` and ``sweep.directions`` (JSON lists, one
    entry per objective: metric names and ``"minimize"``/``"maximize"``), ``sweep.n_trials`` and
    ``sweep.space`` (the canonical search space as JSON, see :func:`space_json`). Once trials
    complete, tags name the best one: ``cairn.sweep.best_trial`` (its number) and
    ``cairn.sweep.best_run`` (its run id) for a single objective, ``cairn.sweep.pareto_trials``
    (comma-separated numbers) for several; they are written when a process ends its share of
    the sweep, so they lag the trials while the sweep runs.

Trial run (a child)
    ``parent_run_id`` = the sweep run's id and ``sweep_id`` = the same id; tags
    ``cairn.sweep.role`` = ``"trial"``, ``cairn.sweep.trial`` = the trial number,
    ``cairn.sweep.state`` = one of :data:`TRIAL_STATES` and, for a pruned trial,
    ``cairn.sweep.pruned_step``. Its params are the sampled values under their own names. Every
    intermediate value reported for pruning is the objective metric (named in
    ``sweep.objectives``) at its step; the value(s) the trial returned are logged as the same
    metric(s) after the last reported step, so a complete trial's objective value is the *last*
    value of each objective metric. Run status: complete and pruned trials ``finished``, failed
    ones ``failed``, trials whose process died ``killed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

ROLE_TAG: Final = "cairn.sweep.role"
TRIAL_TAG: Final = "cairn.sweep.trial"
STATE_TAG: Final = "cairn.sweep.state"
PRUNED_STEP_TAG: Final = "cairn.sweep.pruned_step"
BEST_TRIAL_TAG: Final = "cairn.sweep.best_trial"
BEST_RUN_TAG: Final = "cairn.sweep.best_run"
PARETO_TRIALS_TAG: Final = "cairn.sweep.pareto_trials"

ROLE_SWEEP: Final = "sweep"
ROLE_TRIAL: Final = "trial"

TRIAL_STATES: Final = ("running", "complete", "pruned", "failed")

STUDY_PARAM: Final = "sweep.study"
SAMPLER_PARAM: Final = "sweep.sampler"
PRUNER_PARAM: Final = "sweep.pruner"
OBJECTIVES_PARAM: Final = "sweep.objectives"
DIRECTIONS_PARAM: Final = "sweep.directions"
N_TRIALS_PARAM: Final = "sweep.n_trials"
SPACE_PARAM: Final = "sweep.space"


def space_json(space: Mapping[str, Mapping[str, Any]]) -> str:
    """The canonical text of a search space: keys sorted, no whitespace.

    A space maps each param name to one of ``{"type": "float", "low": .., "high": ..,
    "log": bool, "step": float|None}``, ``{"type": "int", "low": .., "high": .., "log": bool,
    "step": int}`` or ``{"type": "categorical", "choices": [..]}``.
    """
    return json.dumps(space, sort_keys=True, separators=(",", ":"))
