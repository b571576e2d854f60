"""The pure rules behind reading a sweep: the definition from params, typed trial values, best
trial, Pareto front, best-so-far history, importances, and a trial's state."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from cairn import sweep_record as record
from cairn.errors import ValidationError
from query._sweep_trials import trial_state
from query.sweep_analysis import (
    ParamSpec,
    SweepDefinition,
    best_so_far,
    best_trials,
    optimisation_history,
    param_importances,
    pareto_front,
)

SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True, "step": None},
    "depth": {"type": "int", "low": 2, "high": 8, "log": False, "step": 2},
    "flag": {"type": "categorical", "choices": [True, 1, "1", None]},
}


def definition(objectives: list[str], directions: list[str] | None = None) -> SweepDefinition:
    params = {
        record.OBJECTIVES_PARAM: json.dumps(objectives),
        record.SPACE_PARAM: record.space_json(SPACE),
        record.N_TRIALS_PARAM: "30",
        record.SAMPLER_PARAM: "TPESampler",
    }
    if directions is not None:
        params[record.DIRECTIONS_PARAM] = json.dumps(directions)
    return SweepDefinition.from_params(params)


def trials(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"run_id": f"r{r['number']}", "name": f"t{r['number']}", **r} for r in rows]
    )


def test_definition_is_parsed_from_the_sweep_params_in_name_order() -> None:
    found = definition(["loss"])
    assert found.directions == ("minimize",)  # Optuna's default when none is recorded
    assert found.n_trials == 30
    assert found.value_columns == ("metrics.loss",)
    assert found.param_columns == ("params.depth", "params.flag", "params.lr")
    depth = found.space[0]
    assert (depth.kind, depth.low, depth.high, depth.step) == ("int", 2, 8, 2)
    assert SweepDefinition.from_params({}) == SweepDefinition()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({record.OBJECTIVES_PARAM: "loss"}, record.OBJECTIVES_PARAM),
        ({record.OBJECTIVES_PARAM: '["a"]', record.DIRECTIONS_PARAM: '["up"]'}, record.DIRECTIONS_PARAM),
        ({record.OBJECTIVES_PARAM: '["a", "b"]', record.DIRECTIONS_PARAM: '["minimize"]'}, record.DIRECTIONS_PARAM),
        ({record.SPACE_PARAM: "{"}, record.SPACE_PARAM),
        ({record.SPACE_PARAM: '{"x": {"type": "uniform"}}'}, "sweep.space.x"),
        ({record.SPACE_PARAM: '{"x": {"type": "float", "low": 1}}'}, "sweep.space.x"),
    ],
)  # fmt: skip
def test_a_malformed_definition_names_the_param_at_fault(
    params: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        SweepDefinition.from_params(params)
    assert caught.value.field == field


def test_recorded_values_take_the_type_of_their_parameter() -> None:
    lr, depth, flag = (
        ParamSpec("lr", "float"),
        ParamSpec("depth", "int"),
        ParamSpec("flag", "categorical", choices=(True, 1, "1", None)),
    )
    assert lr.typed("float", "0.001") == 0.001
    assert depth.typed("int", "4") == 4
    assert depth.typed("float", "4.5") is None  # no longer fits the space
    assert flag.typed("bool", "true") is True
    assert flag.typed("int", "1") == 1
    assert flag.typed("int", "1") is not True
    assert flag.typed("string", "1") == "1"
    assert flag.typed("null", "") is None


def test_best_trial_is_the_best_complete_value_with_ties_to_the_lowest_number() -> None:
    rows = trials(
        [
            {"number": 0, "state": "complete", "metrics.loss": 0.5},
            {"number": 1, "state": "pruned", "metrics.loss": 0.1},  # pruned: never the best
            {"number": 2, "state": "complete", "metrics.loss": 0.3},
            {"number": 3, "state": "complete", "metrics.loss": 0.3},
            {"number": 4, "state": "failed", "metrics.loss": None},
        ]
    )
    assert list(best_trials(rows, definition(["loss"]))["number"]) == [2]
    assert list(best_trials(rows, definition(["loss"], ["maximize"]))["number"]) == [0]
    assert best_trials(rows.iloc[[1, 4]], definition(["loss"])).empty


def test_pareto_front_keeps_every_non_dominated_point_and_equal_ones() -> None:
    losses = [[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [1, 6]]
    assert pareto_front(losses) == [0, 1, 2, 4]
    rows = trials(
        [
            {"number": i, "state": "complete", "metrics.loss": loss, "metrics.acc": acc}
            for i, (loss, acc) in enumerate([(0.3, 0.8), (0.2, 0.7), (0.35, 0.75), (0.2, 0.6)])
        ]
    )
    multi = definition(["loss", "acc"], ["minimize", "maximize"])
    assert list(best_trials(rows, multi)["number"]) == [0, 1]


def test_history_is_each_complete_value_and_the_best_so_far() -> None:
    assert best_so_far([3, 1, 2, 0.5], "minimize") == [3, 1, 1, 0.5]
    assert best_so_far([1, 3, 2], "maximize") == [1, 3, 3]
    rows = trials(
        [
            {"number": 1, "state": "complete", "metrics.loss": 0.4},
            {"number": 0, "state": "complete", "metrics.loss": 0.6},
            {"number": 2, "state": "pruned", "metrics.loss": 0.1},
        ]
    )
    history = optimisation_history(rows, definition(["loss"]))
    assert list(history["number"]) == [0, 1]
    assert list(history["best_value"]) == [0.6, 0.4]


def test_importances_need_two_complete_trials_and_ignore_values_outside_the_space() -> None:
    sweep = definition(["loss"])
    rows = trials(
        [
            {"number": i, "state": "complete", "metrics.loss": 0.1 * i + (i % 2),
             "params.lr": 10 ** -(1 + i % 3), "params.depth": 2 + 2 * (i % 4),
             "params.flag": True if i % 2 else "1"}
            for i in range(8)
        ]
    )  # fmt: skip
    found = param_importances(rows, sweep, evaluator="fanova")
    assert set(found) == {"lr", "depth", "flag"}
    assert found == param_importances(rows, sweep, evaluator="fanova")  # seeded
    assert param_importances(rows.iloc[:1], sweep) == {}
    outside = rows.assign(**{"params.depth": 3})  # odd depths are off the step-2 grid
    assert param_importances(outside, sweep) == {}
    with pytest.raises(ValidationError, match="evaluator"):
        param_importances(rows, sweep, evaluator="shap")  # type: ignore[arg-type]


def test_a_trial_whose_run_ended_while_marked_running_counts_as_failed() -> None:
    assert trial_state("running", "killed") == "failed"
    assert trial_state("running", "failed") == "failed"
    assert trial_state("running", "running") == "running"
    assert trial_state("", "running") == "running"
    assert trial_state("pruned", "finished") == "pruned"
