"""The pure half of reading a sweep: its definition parsed from the sweep run's params, trial
values typed by the search space, and what is computed from the trials (best trial, Pareto
front, optimisation history, param importances). No I/O: :mod:`query.sweeps` reads the store
and hands the trials over as a DataFrame (one row per trial, see :data:`query.sweeps`).

The recording conventions are :mod:`cairn.sweep_record`'s; a trial table has the columns
``number, run_id, name, state, status``, one ``params.<name>`` column per parameter of the
space, one ``metrics.<objective>`` column per objective, then ``pruned_step, started, ended,
duration_s``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from cairn_contract import sweep_record as record
from cairn_contract.errors import ValidationError

DIRECTIONS: Final = ("minimize", "maximize")
EVALUATORS: Final = ("fanova", "ped_anova", "mean_decrease_impurity")
Evaluator = Literal["fanova", "ped_anova", "mean_decrease_impurity"]
IMPORTANCE_SEED: Final = 0  # the random forests behind fanova and MDI: same trials, same answer
PARAM_PREFIX: Final = "params."
METRIC_PREFIX: Final = "metrics."


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of the search space (see :func:`cairn.sweep_record.space_json`)."""

    name: str
    kind: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def column(self) -> str:
        return PARAM_PREFIX + self.name

    def typed(self, value_type: str, text: str) -> Any:
        """A recorded param (its ``value_type`` and text, as the ``params`` table holds it) as
        this parameter's type: float, int, or the matching categorical choice. None when the
        text does not fit (a space edited after the trial ran)."""
        if self.kind == "float":
            return _float(text)
        if self.kind == "int":
            number = _float(text)
            return int(number) if number is not None and number.is_integer() else None
        recorded = _recorded(value_type, text)
        return next((c for c in self.choices if _same(c, recorded)), recorded)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _recorded(value_type: str, text: str) -> Any:
    """A param's value as the SDK logged it (the ``params`` table keeps it as text)."""
    if value_type == "int":
        return int(text)
    if value_type == "float":
        return float(text)
    if value_type == "bool":
        return text == "true"
    if value_type == "null":
        return None
    return text


def _same(choice: Any, value: Any) -> bool:
    """Equal and of the same kind: ``True`` is not the choice ``1``, ``"1"`` is not ``1``."""
    if isinstance(choice, bool) or isinstance(value, bool):
        return isinstance(choice, bool) and isinstance(value, bool) and choice == value
    if isinstance(choice, int | float) and isinstance(value, int | float):
        return bool(choice == value)
    return type(choice) is type(value) and bool(choice == value)


@dataclass(frozen=True)
class SweepDefinition:
    """What the sweep run's ``sweep.*`` params say the sweep is."""

    study: str = ""
    sampler: str = ""
    pruner: str = ""
    objectives: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    n_trials: int | None = None
    space: tuple[ParamSpec, ...] = field(default=())

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(METRIC_PREFIX + name for name in self.objectives)

    @property
    def param_columns(self) -> tuple[str, ...]:
        return tuple(spec.column for spec in self.space)

    def direction_of(self, objective: str | None) -> tuple[str, str]:
        """``(objective, direction)`` for ``objective`` (default: the first one)."""
        if not self.objectives:
            raise ValidationError("the sweep names no objective", field=record.OBJECTIVES_PARAM)
        name = self.objectives[0] if objective is None else objective
        if name not in self.objectives:
            raise ValidationError(
                f"{name!r} is not an objective of this sweep (objectives: "
                f"{', '.join(self.objectives)})",
                field="objective",
                rule="enum",
            )
        return name, self.directions[self.objectives.index(name)]

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> SweepDefinition:
        """Parse the definition. Missing params take defaults (empty, directions
        ``minimize``); a present but malformed one raises ValidationError naming it."""
        objectives = tuple(str(o) for o in _json_list(params, record.OBJECTIVES_PARAM))
        directions = tuple(str(d) for d in _json_list(params, record.DIRECTIONS_PARAM))
        if not directions:
            directions = ("minimize",) * len(objectives)
        if len(directions) != len(objectives) or not set(directions) <= set(DIRECTIONS):
            raise ValidationError(
                f"{record.DIRECTIONS_PARAM} must give minimize or maximize for each of the "
                f"{len(objectives)} objectives, got {list(directions)}",
                field=record.DIRECTIONS_PARAM,
                rule="directions",
            )
        n_trials = _float(params.get(record.N_TRIALS_PARAM, ""))
        return cls(
            study=params.get(record.STUDY_PARAM, ""),
            sampler=params.get(record.SAMPLER_PARAM, ""),
            pruner=params.get(record.PRUNER_PARAM, ""),
            objectives=objectives,
            directions=directions,
            n_trials=int(n_trials) if n_trials is not None and n_trials.is_integer() else None,
            space=parse_space(params.get(record.SPACE_PARAM, "")),
        )


def _json_list(params: Mapping[str, str], key: str) -> list[Any]:
    text = params.get(key, "")
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise ValidationError(f"{key} must be a JSON list, got {text[:80]!r}", field=key)
    return value


def parse_space(text: str) -> tuple[ParamSpec, ...]:
    """The search space's JSON (``sweep.space``) as specs in name order; '' is no space."""
    if not text:
        return ()
    try:
        space = json.loads(text)
    except ValueError as exc:
        raise ValidationError(
            f"{record.SPACE_PARAM} is not JSON: {exc}", field=record.SPACE_PARAM
        ) from exc
    if not isinstance(space, dict):
        raise ValidationError(
            f"{record.SPACE_PARAM} must be a JSON object", field=record.SPACE_PARAM
        )
    return tuple(_spec(name, space[name]) for name in sorted(space))


def _spec(name: str, raw: Any) -> ParamSpec:
    where = f"{record.SPACE_PARAM}.{name}"
    kind = raw.get("type") if isinstance(raw, dict) else None
    try:
        if kind in ("float", "int"):
            step = raw.get("step")
            return ParamSpec(
                name,
                kind,
                low=float(raw["low"]),
                high=float(raw["high"]),
                log=bool(raw.get("log", False)),
                step=float(step) if step is not None else None,
            )
        if kind == "categorical":
            return ParamSpec(name, "categorical", choices=tuple(raw["choices"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"{where} is malformed: {exc!r}", field=where) from exc
    raise ValidationError(
        f"{where} has type {kind!r}; expected float, int or categorical", field=where, rule="type"
    )


# --- results -----------------------------------------------------------------------------------


def _complete(trials: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Complete trials that have every value in ``columns``, in trial-number order."""
    done = trials[trials["state"] == "complete"].dropna(subset=list(columns))
    return done.sort_values(["number", "run_id"], kind="stable")


def _losses(frame: pd.DataFrame, columns: Sequence[str], directions: Sequence[str]) -> Any:
    """Values turned into quantities to minimise (maximised ones negated), shape (n, k)."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    return frame[list(columns)].to_numpy(dtype=np.float64) * signs


def pareto_front(losses: Any) -> list[int]:
    """Row indices of ``losses`` (n x k, lower is better) that no other row dominates (no
    worse in every objective and better in one). Equal rows are all on the front."""
    points = np.asarray(losses, dtype=np.float64)
    front = []
    for i, point in enumerate(points):
        no_worse = np.all(points <= point, axis=1)
        better = np.any(points < point, axis=1)
        if not np.any(no_worse & better):
            front.append(i)
    return front


def best_trials(trials: pd.DataFrame, definition: SweepDefinition) -> pd.DataFrame:
    """Single objective: the complete trial with the best value (ties: the lowest number).
    Several objectives: the Pareto front of the complete trials, in number order."""
    columns = definition.value_columns
    if not columns:
        return trials.iloc[0:0]
    done = _complete(trials, columns)
    if done.empty:
        return done
    losses = _losses(done, columns, definition.directions)
    if not definition.multi_objective:
        return done.iloc[[int(np.argmin(losses[:, 0]))]]  # argmin takes the first of equals
    return done.iloc[pareto_front(losses)]


def best_so_far(values: Sequence[float], direction: str) -> list[float]:
    """The best value among the first 1, 2, ... values."""
    series = pd.Series(values, dtype="float64")
    best = series.cummin() if direction == "minimize" else series.cummax()
    return [float(v) for v in best]


def optimisation_history(
    trials: pd.DataFrame, definition: SweepDefinition, objective: str | None = None
) -> pd.DataFrame:
    """Per complete trial, in number order: ``number, run_id, name, value, best_value``."""
    name, direction = definition.direction_of(objective)
    column = METRIC_PREFIX + name
    done = _complete(trials, [column])
    values = [float(v) for v in done[column]]
    return pd.DataFrame(
        {
            "number": done["number"].astype("Int64").to_numpy(),
            "run_id": done["run_id"].astype(str).to_numpy(),
            "name": done["name"].astype(str).to_numpy(),
            "value": np.array(values, dtype=np.float64),
            "best_value": np.array(best_so_far(values, direction), dtype=np.float64),
        }
    ).astype({"number": "Int64"})


def param_importances(
    trials: pd.DataFrame,
    definition: SweepDefinition,
    *,
    evaluator: Evaluator = "fanova",
    objective: str | None = None,
) -> dict[str, float]:
    """Optuna's importance of each parameter for ``objective`` (default: the first), from the
    complete trials, most important first, summing to 1. Empty with fewer than two complete
    trials or no parameters: there is nothing to attribute a difference to. Trials whose values
    no longer fit the space are left out."""
    check_evaluator(evaluator)
    name, direction = definition.direction_of(objective)
    column = METRIC_PREFIX + name
    done = _complete(trials, [column])
    if len(done) < 2 or not definition.space:
        return {}
    import optuna  # heavy, and only this function needs it

    distributions = {spec.name: _distribution(optuna, spec) for spec in definition.space}
    frozen = []
    for row in done.to_dict("records"):
        params = {
            spec.name: plain_value(row[spec.column])
            for spec in definition.space
            if not is_missing(row.get(spec.column))
        }
        try:
            frozen.append(
                optuna.trial.create_trial(
                    params=params,
                    distributions={k: distributions[k] for k in params},
                    value=float(row[column]),
                )
            )
        except ValueError:
            continue  # outside the space: the space changed after this trial ran
    if len(frozen) < 2:
        return {}
    # A single-objective study even for a multi-objective sweep: the chosen objective's
    # values and direction are all the evaluators need.
    study = optuna.create_study(
        direction=optuna.study.StudyDirection.MINIMIZE
        if direction == "minimize"
        else optuna.study.StudyDirection.MAXIMIZE
    )
    study.add_trials(frozen)
    found = optuna.importance.get_param_importances(study, evaluator=_evaluator(optuna, evaluator))
    return {key: float(value) for key, value in found.items()}


def check_evaluator(evaluator: str) -> None:
    if evaluator not in EVALUATORS:
        raise ValidationError(
            f"evaluator must be one of {', '.join(EVALUATORS)}, got {evaluator!r}",
            field="evaluator",
            rule="enum",
        )


def _evaluator(optuna: Any, name: str) -> Any:
    importance = optuna.importance
    if name == "fanova":
        return importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
    if name == "mean_decrease_impurity":
        return importance.MeanDecreaseImpurityImportanceEvaluator(seed=IMPORTANCE_SEED)
    return importance.PedAnovaImportanceEvaluator()


def _distribution(optuna: Any, spec: ParamSpec) -> Any:
    distributions = optuna.distributions
    try:
        if spec.kind == "categorical":
            return distributions.CategoricalDistribution(list(spec.choices))
        if spec.kind == "int":
            return distributions.IntDistribution(
                int(spec.low or 0), int(spec.high or 0), log=spec.log, step=int(spec.step or 1)
            )
        return distributions.FloatDistribution(
            spec.low or 0.0, spec.high or 0.0, log=spec.log, step=spec.step
        )
    except ValueError as exc:
        where = f"{record.SPACE_PARAM}.{spec.name}"
        raise ValidationError(f"{where} is not a valid distribution: {exc}", field=where) from exc


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def plain_value(value: Any) -> Any:
    """numpy and pandas scalars as the Python values Optuna's distributions compare with."""
    return value.item() if isinstance(value, np.generic) else value
