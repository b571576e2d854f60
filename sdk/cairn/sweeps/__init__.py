"""Hyperparameter sweeps on Optuna, recorded as Cairn runs (docs/sweeps.md).

::

    import cairn

    def objective(trial):
        model = make_model(**trial.params)
        for epoch in range(10):
            loss = train_one_epoch(model)
            trial.report(loss, step=epoch)          # the trial run's objective metric
            if trial.should_prune():
                trial.prune()
        return loss

    result = cairn.sweep(objective, space={"lr": {"type": "float", "low": 1e-4, "high": 0.1,
                         "log": True}}, n_trials=30, pruner="hyperband")

A sweep is a run; each trial is a child run with its params, objective metric and state
(:mod:`cairn.sweep_record`). Optuna's storage (a journal file under ``CAIRN_DIR`` by default, or
any ``storage=`` URL) lets several processes share one sweep and a restarted command resume it.
``cairn sweep sweep.yaml -- python train.py`` runs a script per trial; inside it
:func:`params`, :func:`report` and :func:`should_prune` reach the sweep.

Importing this package is light: Optuna loads when a sweep starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cairn.sweeps._result import SweepResult
from cairn.sweeps._script import TrialPruned, current_trial, params, report, should_prune
from cairn.sweeps._trial import Trial

if TYPE_CHECKING:
    from cairn.config import Settings

__all__ = [
    "SweepResult",
    "Trial",
    "TrialPruned",
    "current_trial",
    "params",
    "report",
    "should_prune",
    "sweep",
]


def sweep(
    objective: Callable[[Trial], Any],
    *,
    space: Mapping[str, Any],
    n_trials: int | None = None,
    timeout: float | None = None,
    sampler: str | Mapping[str, Any] | Any = None,
    pruner: str | Mapping[str, Any] | Any = None,
    seed: int | None = None,
    direction: str | None = None,
    directions: Sequence[str] | None = None,
    objective_metric: str | None = None,
    objective_metrics: Sequence[str] | None = None,
    study: str | None = None,
    storage: str | Any = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    project: str | None = None,
    settings: Settings | None = None,
    catch: tuple[type[Exception], ...] = (Exception,),
) -> SweepResult:
    """Run ``objective`` on sampled params until the sweep's budget is met; return the result.

    ``objective(trial)`` gets a :class:`Trial` (``trial.params``, ``trial.run``,
    ``trial.report(value, step)``, ``trial.should_prune()``, ``trial.prune()``) and returns the
    value to optimise, or a tuple of them with ``directions``/``objective_metrics``.

    - ``space``: param name to ``{"type": "float"|"int", "low", "high", "log", "step"}``,
      ``{"type": "categorical", "choices": [...]}`` or a list of choices.
    - ``n_trials``: the sweep's budget of complete + pruned trials, shared by every process
      (the grid sampler's default is the grid's size); ``timeout``: seconds for this process.
    - ``sampler``: ``"tpe"`` (default), ``"random"``, ``"grid"``, ``"gp"``, ``"cmaes"``,
      ``"nsga2"`` (default with several objectives), a ``{"name": ..., **options}`` mapping
      of constructor options, or an Optuna sampler; ``seed`` seeds a named sampler.
    - ``pruner``: None, ``"median"``, ``"hyperband"``, ``"asha"`` (successive halving), a
      mapping with options, or an Optuna pruner. Single objective only.
    - ``direction`` (``"minimize"``) and ``objective_metric`` (``"objective"``): the metric the
      trial runs log; or ``directions`` and ``objective_metrics``, one per objective.
    - ``study`` (default: the objective's name) and ``storage`` (a URL: ``sqlite:///x.db``,
      ``postgresql://...``, ``mysql://...``, ``journal:///path.log``; default: a journal file
      under ``CAIRN_DIR``): processes with the same study and storage share the sweep, and the
      same command run again resumes it. ``heartbeat_interval``/``grace_period`` (seconds)
      tune how fast database storages give up on a dead process's trial.
    - ``name``, ``config``, ``tags``: the sweep run's name and extra params/tags (also set on
      each trial run); ``project``/``settings`` as for :func:`cairn.init`.
    - ``catch``: exceptions that fail a trial and let the sweep go on (default: any Exception).

    Raises ValidationError for a bad definition, before anything is recorded.
    """
    from cairn.sweeps._config import define
    from cairn.sweeps._runner import run_sweep

    definition = define(
        space=space,
        n_trials=n_trials,
        timeout=timeout,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        direction=direction,
        directions=directions,
        objective_metric=objective_metric,
        objective_metrics=objective_metrics,
        study=study,
        storage=storage,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        name=name,
        config=config,
        tags=tags,
        catch=catch,
    )
    return run_sweep(
        objective,
        definition,
        default_study=_study_name(objective),
        settings=settings,
        project=project,
        optuna_log_level=logging.WARNING,
    )


def _study_name(objective: Callable[..., Any]) -> str:
    """A stable default, so running the same script again resumes the same sweep."""
    name = getattr(objective, "__name__", "")
    return name if name.isidentifier() else "sweep"
