"""The search space: the canonical form a sweep records, the errors a bad spec raises (naming the
param and the rule), the grid the grid sampler walks, and suggestions through a real Optuna
trial."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from cairn.errors import ValidationError
from cairn.sweep_record import space_json
from cairn.sweeps._space import grid_values, parse_space, suggest


def test_every_kind_of_param_gets_its_canonical_form() -> None:
    space = parse_space(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            "dropout": {"type": "float", "low": 0, "high": 0.5, "step": 0.1},
            "layers": {"type": "int", "low": 1, "high": 4},
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            "batch": [16, 32],
        }
    )

    assert space == {
        "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True, "step": None},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "log": False, "step": 0.1},
        "layers": {"type": "int", "low": 1, "high": 4, "log": False, "step": 1},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "batch": {"type": "categorical", "choices": [16, 32]},
    }
    assert space_json(space).startswith('{"batch":{"choices":[16,32],"type":"categorical"}')


def test_numbers_yaml_reads_as_text_are_accepted_as_float_bounds() -> None:
    space = parse_space({"lr": {"type": "float", "low": "1e-4", "high": "1e-1", "log": True}})

    assert (space["lr"]["low"], space["lr"]["high"]) == (1e-4, 0.1)


@pytest.mark.parametrize(
    ("spec", "field", "rule"),
    [
        ({"type": "float", "low": 1, "high": 1}, "space.p.low", "low_below_high"),
        ({"type": "int", "low": 5, "high": 2}, "space.p.low", "low_below_high"),
        (
            {"type": "float", "low": 0, "high": 1, "log": True},
            "space.p.low",
            "log_needs_positive_low",
        ),
        (
            {"type": "float", "low": 0.1, "high": 1, "log": True, "step": 0.1},
            "space.p.step",
            "step_with_log",
        ),
        (
            {"type": "int", "low": 1, "high": 9, "log": True, "step": 2},
            "space.p.step",
            "step_with_log",
        ),
        ({"type": "float", "low": 0, "high": 1, "step": -0.5}, "space.p.step", "positive_step"),
        ({"type": "int", "low": 0.5, "high": 3}, "space.p.low", "integer"),
        ({"type": "float", "low": "tiny", "high": 3}, "space.p.low", "number"),
        ({"type": "float", "low": 0, "high": float("inf")}, "space.p.high", "finite"),
        ({"type": "float", "low": 0, "high": 1, "lg": True}, "space.p", "unknown_key"),
        ({"type": "uniform", "low": 0, "high": 1}, "space.p.type", "param_type"),
        ({"low": 0, "high": 1}, "space.p.type", "param_type"),
        ({"type": "float", "low": 0, "high": 1, "log": "yes"}, "space.p.log", "type"),
        ({"type": "categorical", "choices": []}, "space.p.choices", "required"),
        ({"type": "categorical", "choices": ["a", "a"]}, "space.p.choices.1", "unique_choices"),
        ({"type": "categorical", "choices": [[1, 2]]}, "space.p.choices.0", "choice_type"),
        (3.5, "space.p", "type"),
    ],
)
def test_a_bad_param_spec_names_the_param_key_and_rule(spec: Any, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_space({"p": spec})

    assert (raised.value.field, raised.value.rule) == (field, rule)
    assert str(raised.value).startswith(f"{field}: ")


def test_a_space_must_be_a_non_empty_mapping_of_valid_names() -> None:
    with pytest.raises(ValidationError, match=r"space: must map param names"):
        parse_space([("lr", 1)])
    with pytest.raises(ValidationError, match=r"space: must define at least one param"):
        parse_space({})
    with pytest.raises(ValidationError, match=r"space.learning rate: 'learning rate' is not valid"):
        parse_space({"learning rate": [1, 2]})


def test_the_grid_enumerates_ints_stepped_floats_and_choices() -> None:
    space = parse_space(
        {
            "layers": {"type": "int", "low": 1, "high": 7, "step": 3},
            "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
            "optimizer": ["sgd", "adam"],
        }
    )

    assert grid_values(space) == {
        "layers": [1, 4, 7],
        "dropout": [0.0, 0.1, 0.2, 0.3],
        "optimizer": ["sgd", "adam"],
    }


def test_the_grid_refuses_a_float_without_a_step() -> None:
    space = parse_space({"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}})

    with pytest.raises(ValidationError) as raised:
        grid_values(space)

    assert (raised.value.field, raised.value.rule) == ("space.lr.step", "grid_needs_step")


def test_the_grid_refuses_more_points_than_it_can_walk() -> None:
    space = parse_space({name: {"type": "int", "low": 0, "high": 99} for name in "abc"})

    with pytest.raises(ValidationError, match=r"1000000 grid points"):
        grid_values(space)


def test_suggestions_go_through_the_optuna_trial_for_every_param() -> None:
    space = parse_space(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 4},
            "optimizer": ["sgd", "adam"],
        }
    )
    fixed = optuna.trial.FixedTrial({"lr": 0.01, "layers": 3, "optimizer": "adam"})

    assert suggest(fixed, space) == {"lr": 0.01, "layers": 3, "optimizer": "adam"}
    assert set(fixed.distributions) == {"lr", "layers", "optimizer"}
    assert fixed.distributions["lr"] == optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)
