"""Reading a hyperparameter sweep back from the runs it was recorded as.

A sweep is an ordinary run tagged ``cairn.sweep.role = sweep`` whose ``sweep.*`` params define
it; its trials are its child runs (``parent_run_id``) tagged ``cairn.sweep.role = trial``
(:mod:`cairn.sweep_record` fixes the names). Trials are found by parent and tag, never by
``sweep_id``, so a sweep recorded before that field existed reads the same.

Every function checks the sweep run against the caller's visibility first (a run that does not
exist and one the caller may not see are the same :class:`~cairn.errors.NotFoundError`), and
trials are filtered by the same rule (:mod:`query._sweep_trials` reads them). What is computed
from the trials (best trial, Pareto front, history, importances) lives in
:mod:`query.sweep_analysis`, pure and usable on the frame :func:`sweep_trials` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from cairn_contract import sweep_record as record
from cairn_contract.errors import ValidationError
from query import _execute, _records, _sweep_trials, series, sweep_analysis
from query._execute import LATEST
from query._records import RunSummary
from query.access import Caller, Visibility
from query.sweep_analysis import Evaluator, SweepDefinition

STATES = record.TRIAL_STATES
MAX_SWEEPS = 1_000
MAX_INTERMEDIATE_POINTS = 10_000
_SERIES_CHUNK = 500  # trials per metric_series call (it takes at most 1,000 runs)

_SWEEPS_SQL = """
SELECT run_id FROM (
    SELECT run_id, anyIf(value, field = 'team') AS team, anyIf(value, field = 'project') AS project,
        toInt64OrZero(anyIf(value, field = 'created_at')) AS created_ns
    FROM {run_fields}
    WHERE field IN ('team', 'project', 'created_at') AND run_id IN (
        SELECT run_id FROM {tags} WHERE key = {{role_tag:String}} GROUP BY run_id
        HAVING argMax(value, {latest}) = {{sweep_role:String}} AND NOT argMax(removed, {latest})
    )
    GROUP BY run_id
)
WHERE {visible}{scope}
ORDER BY created_ns DESC, run_id LIMIT {limit}
"""


@dataclass(frozen=True)
class BestTrial:
    number: int
    run_id: str
    name: str
    values: tuple[float, ...]  # one per objective, in the definition's order
    params: dict[str, Any]  # the sampled values, typed by the space


@dataclass(frozen=True)
class SweepSummary:
    run: RunSummary  # the sweep run itself
    definition: SweepDefinition
    counts: dict[str, int]  # trials per state (every state of STATES present)
    best: tuple[BestTrial, ...]  # the best trial, or the Pareto front when multi-objective

    @property
    def trials(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Sweep:
    vis: Visibility
    summary: SweepSummary
    trials: pd.DataFrame


def _best(trials: pd.DataFrame, definition: SweepDefinition) -> tuple[BestTrial, ...]:
    best = sweep_analysis.best_trials(trials, definition)
    return tuple(
        BestTrial(
            number=int(row["number"]),
            run_id=str(row["run_id"]),
            name=str(row["name"]),
            values=tuple(float(row[c]) for c in definition.value_columns),
            params={
                spec.name: sweep_analysis.plain_value(row[spec.column])
                for spec in definition.space
                if not sweep_analysis.is_missing(row[spec.column])
            },
        )
        for row in best.to_dict("records")
    )


def _load(client: Client, caller: Caller, sweep_run_id: str, database: str | None) -> _Sweep:
    if not isinstance(sweep_run_id, str) or not sweep_run_id:
        raise ValidationError("sweep_run_id must be a run id", field="sweep_run_id", rule="empty")
    vis = Visibility.load(client, caller, database)
    ids = [sweep_run_id]
    # Tags and params are read beside the visibility gate; the gate's verdict comes first.
    with ThreadPoolExecutor(max_workers=3) as pool:
        gate = pool.submit(_records.require_visible, client, vis, ids)
        tags = pool.submit(_records.tags, client, vis, ids)
        params = pool.submit(_records.params, client, vis, ids)
        run = gate.result()[sweep_run_id]
        role = tags.result().get(sweep_run_id, {}).get(record.ROLE_TAG)
        recorded = params.result().get(sweep_run_id, {})
    if role != record.ROLE_SWEEP:
        raise ValidationError(
            f"run {sweep_run_id} is not a sweep (no tag {record.ROLE_TAG} = {record.ROLE_SWEEP})",
            field="sweep_run_id",
            rule="sweep",
        )
    definition = SweepDefinition.from_params(recorded)
    trials = _sweep_trials.trial_frames(client, vis, {sweep_run_id: definition})[sweep_run_id]
    summary = SweepSummary(run, definition, _sweep_trials.counts(trials), _best(trials, definition))
    return _Sweep(vis, summary, trials)


def sweep(
    client: Client, caller: Caller, sweep_run_id: str, *, database: str | None = None
) -> SweepSummary:
    """The sweep's definition, its trials counted by state and its best trial(s).

    Raises NotFoundError naming the id when the run does not exist or is not visible to
    ``caller``, ValidationError when it is not a sweep run or its definition is malformed.
    """
    return _load(client, caller, sweep_run_id, database).summary


def sweep_trials(
    client: Client, caller: Caller, sweep_run_id: str, *, database: str | None = None
) -> pd.DataFrame:
    """One row per trial the caller may see, by trial number: ``number, run_id, name, state,
    status``, ``params.<name>`` per parameter of the space (float, Int64 or the categorical
    choice), ``metrics.<objective>`` per objective (the last value logged: the returned value
    for a complete trial, the last intermediate one for a pruned trial, NaN when none),
    ``pruned_step`` (Int64), ``started``, ``ended`` (UTC; NaT while running), ``duration_s``."""
    return _load(client, caller, sweep_run_id, database).trials


def sweep_with_trials(
    client: Client, caller: Caller, sweep_run_id: str, *, database: str | None = None
) -> tuple[SweepSummary, pd.DataFrame]:
    """:func:`sweep` and :func:`sweep_trials` from one read, for pages that show both."""
    found = _load(client, caller, sweep_run_id, database)
    return found.summary, found.trials


def best_trials(
    client: Client, caller: Caller, sweep_run_id: str, *, database: str | None = None
) -> pd.DataFrame:
    """Rows of :func:`sweep_trials`: the complete trial with the best value (ties: the lowest
    trial number) or, for several objectives, the Pareto front of the complete trials."""
    found = _load(client, caller, sweep_run_id, database)
    return sweep_analysis.best_trials(found.trials, found.summary.definition)


def optimisation_history(
    client: Client,
    caller: Caller,
    sweep_run_id: str,
    *,
    objective: str | None = None,
    database: str | None = None,
) -> pd.DataFrame:
    """Per complete trial, in number order: ``number, run_id, name, value, best_value`` (the
    best so far) for ``objective`` (default: the sweep's first)."""
    found = _load(client, caller, sweep_run_id, database)
    return sweep_analysis.optimisation_history(found.trials, found.summary.definition, objective)


def param_importances(
    client: Client,
    caller: Caller,
    sweep_run_id: str,
    *,
    evaluator: Evaluator = "fanova",
    objective: str | None = None,
    database: str | None = None,
) -> dict[str, float]:
    """Each parameter's importance for ``objective`` by Optuna's ``evaluator`` (``fanova``,
    ``ped_anova`` or ``mean_decrease_impurity``; seeded, so deterministic), most important
    first and summing to 1; empty with fewer than two complete trials."""
    sweep_analysis.check_evaluator(evaluator)
    found = _load(client, caller, sweep_run_id, database)
    return sweep_analysis.param_importances(
        found.trials, found.summary.definition, evaluator=evaluator, objective=objective
    )


def intermediate_values(
    client: Client,
    caller: Caller,
    sweep_run_id: str,
    *,
    objective: str | None = None,
    max_points: int = 200,
    database: str | None = None,
) -> pd.DataFrame:
    """The objective's points of every trial (what was reported for pruning; a complete
    trial's returned value is its last point): ``number, run_id, state, step, value``, at most
    ``max_points`` per trial (downsampled keeping the curve's shape, see :mod:`query.series`)."""
    if not 3 <= max_points <= MAX_INTERMEDIATE_POINTS:
        raise ValidationError(
            f"max_points must be between 3 and {MAX_INTERMEDIATE_POINTS}, got {max_points}",
            field="max_points",
            rule="range",
        )
    found = _load(client, caller, sweep_run_id, database)
    return trial_points(
        client, caller, found.trials, found.summary.definition, objective=objective,
        max_points=max_points, database=found.vis.database,
    )  # fmt: skip


def trial_points(
    client: Client,
    caller: Caller,
    trials: pd.DataFrame,
    definition: SweepDefinition,
    *,
    objective: str | None = None,
    max_points: int = 200,
    database: str | None = None,
) -> pd.DataFrame:
    """:func:`intermediate_values` for trials already read with :func:`sweep_with_trials`: the
    Sweep page reads the sweep once, not once per chart. The points are read with ``caller``'s
    visibility (:func:`query.series.metric_series`), whatever ``trials`` holds."""
    name, _ = definition.direction_of(objective)
    ids = [str(r) for r in trials["run_id"]]
    parts = [
        series.metric_series(client, caller, ids[i : i + _SERIES_CHUNK], [name], max_points,
                             database=database)
        for i in range(0, len(ids), _SERIES_CHUNK)
    ]  # fmt: skip
    points = pd.concat([p for p in parts if len(p)] or [pd.DataFrame(columns=series.COLUMNS)])
    merged = points.merge(trials[["run_id", "number", "state"]], on="run_id", how="inner")
    out = merged[["number", "run_id", "state", "step", "value"]].astype(
        {"number": "Int64", "step": np.int64, "value": np.float64}
    )
    return out.sort_values(["number", "run_id", "step"], kind="stable", ignore_index=True)


def sweeps(
    client: Client,
    caller: Caller,
    *,
    project: str | None = None,
    team: str | None = None,
    limit: int = 200,
    database: str | None = None,
) -> pd.DataFrame:
    """The sweeps the caller may see (of ``project``/``team`` when given), newest first: ``run_id,
    name, team, project, study, sampler, pruner, objectives, directions`` (tuples),
    ``n_trials`` (as defined), ``created, status``, ``trials`` and one count column per state,
    ``best_value`` (single objective; NaN otherwise or before a trial completes). A sweep whose
    definition is malformed is listed with what could be read."""
    if not 1 <= limit <= MAX_SWEEPS:
        raise ValidationError(
            f"limit must be between 1 and {MAX_SWEEPS}, got {limit}", field="limit", rule="range"
        )
    vis = Visibility.load(client, caller, database)
    sql = _SWEEPS_SQL.format(
        run_fields=vis.table("run_fields"),
        tags=vis.table("tags"),
        latest=LATEST,
        limit=int(limit),
        visible=vis.predicate("team", "project", kind="'run'", object_id="run_id"),
        scope=(" AND project = {project:String}" if project is not None else "")
        + (" AND team = {team:String}" if team is not None else ""),
    )
    parameters = {
        **vis.parameters,
        "role_tag": record.ROLE_TAG,
        "sweep_role": record.ROLE_SWEEP,
        "project": project or "",
        "team": team or "",
    }
    ids = [row["run_id"] for row in _execute.rows(client, sql, parameters)]
    runs = _records.visible_runs(client, vis, ids)
    ids = [run_id for run_id in ids if run_id in runs]
    params = _records.params(client, vis, ids)
    definitions = {run_id: _lenient(params.get(run_id, {})) for run_id in ids}
    trials = _sweep_trials.trial_frames(client, vis, definitions) if ids else {}
    return pd.DataFrame(
        [_listing(runs[run_id], definitions[run_id], trials[run_id]) for run_id in ids],
        columns=[
            "run_id", "name", "team", "project", "study", "sampler", "pruner", "objectives",
            "directions", "n_trials", "created", "status", "trials", *STATES, "best_value",
        ],
    )  # fmt: skip


def _lenient(params: Mapping[str, str]) -> SweepDefinition:
    try:
        return SweepDefinition.from_params(params)
    except ValidationError:
        return SweepDefinition(
            study=params.get(record.STUDY_PARAM, ""),
            sampler=params.get(record.SAMPLER_PARAM, ""),
            pruner=params.get(record.PRUNER_PARAM, ""),
        )


def _listing(run: RunSummary, definition: SweepDefinition, trials: pd.DataFrame) -> dict[str, Any]:
    counts = _sweep_trials.counts(trials)
    best = _best(trials, definition) if not definition.multi_objective else ()
    return {
        "run_id": run.run_id,
        "name": run.name,
        "team": run.team,
        "project": run.project,
        "study": definition.study,
        "sampler": definition.sampler,
        "pruner": definition.pruner,
        "objectives": definition.objectives,
        "directions": definition.directions,
        "n_trials": definition.n_trials,
        "created": run.created_at,
        "status": run.status,
        "trials": sum(counts.values()),
        **counts,
        "best_value": best[0].values[0] if best else float("nan"),
    }
