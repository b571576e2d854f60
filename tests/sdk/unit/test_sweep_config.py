"""A sweep's definition from Python keywords or a YAML file: defaults, samplers and pruners by
name, storages by URL, and the error each mistake raises before anything is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from cairn.errors import ValidationError
from cairn.sweeps._cli import _arguments, _split_command
from cairn.sweeps._config import define, load
from cairn.sweeps._study import make_pruner, make_sampler, open_storage

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}, "depth": [2, 4]}


def rule_of(**options: Any) -> tuple[str | None, str | None]:
    with pytest.raises(ValidationError) as raised:
        define(**{"space": SPACE, "n_trials": 10, **options})
    return raised.value.field, raised.value.rule


def test_one_objective_defaults_to_minimising_objective_with_tpe_and_no_pruner() -> None:
    definition = define(space=SPACE, n_trials=10)

    assert definition.objectives == ("objective",)
    assert definition.directions == ("minimize",)
    assert isinstance(make_sampler(definition), optuna.samplers.TPESampler)
    assert isinstance(make_pruner(definition), optuna.pruners.NopPruner)


def test_several_objectives_default_to_nsga2() -> None:
    definition = define(
        space=SPACE,
        n_trials=10,
        directions=["minimize", "maximize"],
        objective_metrics=["loss", "accuracy"],
    )

    assert definition.multi_objective
    assert definition.directions == ("minimize", "maximize")
    assert isinstance(make_sampler(definition), optuna.samplers.NSGAIISampler)


@pytest.mark.parametrize(
    ("sampler", "kind"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("GP", optuna.samplers.GPSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
        ({"name": "tpe", "n_startup_trials": 3}, optuna.samplers.TPESampler),
        (optuna.samplers.RandomSampler(seed=1), optuna.samplers.RandomSampler),
    ],
)
def test_samplers_by_name_mapping_or_object(sampler: Any, kind: type) -> None:
    assert isinstance(make_sampler(define(space=SPACE, n_trials=5, sampler=sampler)), kind)


@pytest.mark.parametrize(
    ("pruner", "kind"),
    [
        (None, optuna.pruners.NopPruner),
        ("median", optuna.pruners.MedianPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("asha", optuna.pruners.SuccessiveHalvingPruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        (
            {"name": "hyperband", "min_resource": 1, "max_resource": 9},
            optuna.pruners.HyperbandPruner,
        ),
        (optuna.pruners.PercentilePruner(25.0), optuna.pruners.PercentilePruner),
    ],
)
def test_pruners_by_name_mapping_or_object(pruner: Any, kind: type) -> None:
    assert isinstance(make_pruner(define(space=SPACE, n_trials=5, pruner=pruner)), kind)


def test_the_grid_sampler_walks_the_space_and_its_size_is_the_default_budget() -> None:
    space = {"depth": [2, 4, 8], "layers": {"type": "int", "low": 1, "high": 2}}
    definition = define(space=space, sampler="grid")

    sampler = make_sampler(definition)

    assert definition.n_trials == 6
    assert isinstance(sampler, optuna.samplers.GridSampler)


def test_options_optuna_rejects_are_a_validation_error_naming_the_class() -> None:
    definition = define(space=SPACE, n_trials=5, sampler={"name": "tpe", "bogus": 1})

    with pytest.raises(ValidationError, match=r"sampler.options: TPESampler rejected the options"):
        make_sampler(definition)


@pytest.mark.parametrize(
    ("options", "field", "rule"),
    [
        ({"sampler": "bayes"}, "sampler.name", "sampler"),
        ({"sampler": {"n_startup_trials": 3}}, "sampler.name", "required"),
        ({"pruner": "patience"}, "pruner.name", "pruner"),
        ({"sampler": 3}, "sampler", "type"),
        ({"direction": "down"}, "direction", "direction"),
        ({"direction": "minimize", "directions": ["minimize"]}, "directions", "one_of"),
        ({"directions": ["minimize", "maximize"]}, "directions", "paired"),
        ({"directions": ["minimize"], "objective_metrics": ["a", "b"]}, "directions", "paired"),
        (
            {"directions": ["minimize"] * 2, "objective_metrics": ["a", "a"]},
            "objective_metrics",
            "unique",
        ),
        ({"objective_metric": "val loss"}, "objective_metric", "key_format"),
        (
            {"directions": ["minimize"] * 2, "objective_metrics": ["a", "b"], "pruner": "median"},
            "pruner",
            "pruning_single_objective",
        ),
        (
            {"directions": ["minimize"] * 2, "objective_metrics": ["a", "b"], "sampler": "cmaes"},
            "sampler",
            "cmaes_single_objective",
        ),
        ({"n_trials": None}, "n_trials", "budget_required"),
        ({"n_trials": 0}, "n_trials", "integer"),
        ({"timeout": -1}, "timeout", "positive"),
        ({"sampler": "grid"}, "space.lr.step", "grid_needs_step"),
        ({"storage": "sweep.db"}, "storage", "storage_url"),
        ({"study": "my study"}, "study", "id_format"),
        ({"heartbeat_interval": 0.5}, "heartbeat_interval", "integer"),
        ({"catch": (KeyboardInterrupt,)}, "catch", "type"),
        ({"params": "argv"}, "params", "params_mode"),
    ],
)
def test_each_mistake_names_its_key_and_rule(
    options: dict[str, Any], field: str, rule: str
) -> None:
    assert rule_of(**options) == (field, rule)


def test_a_grid_budget_beyond_the_grid_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"n_trials: 7 exceeds the 2 points of the grid"):
        define(space={"depth": [2, 4]}, sampler="grid", n_trials=7)


def test_a_yaml_file_defines_the_same_sweep_and_the_command_line_overrides_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "space:\n"
        "  lr: {type: float, low: 1e-4, high: 1e-1, log: true}\n"
        "  alpha: [0.0001, 0.001]\n"
        "objective_metric: val_loss\n"
        "direction: minimize\n"
        "n_trials: 12\n"
        "sampler: {name: tpe, n_startup_trials: 4}\n"
        "pruner: hyperband\n"
        "params: env\n"
        "command: python train.py --epochs 3\n"
    )

    definition = load(path, n_trials=20, storage=None)

    assert definition.space["lr"]["low"] == 1e-4
    assert definition.objectives == ("val_loss",)
    assert definition.n_trials == 20
    assert definition.sampler.options == {"n_startup_trials": 4}
    assert definition.params == "env"
    assert definition.command == ("python", "train.py", "--epochs", "3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "space: {x: [1, 2]}\nn_trials: 3\nsamplr: tpe\n",
            r"samplr: not a sweep key; known: space",
        ),
        ("space: {x: [1, 2]\n", r"sweep_file: .* is not valid YAML"),
        ("- space\n", r"sweep_file: .* must hold a mapping of sweep keys"),
        ("n_trials: 3\n", r"space: must map param names to specs, got NoneType"),
        ("space: {x: [1, 2]}\nn_trials: 3\ncommand: 3\n", r"command: must be a command line"),
    ],
)
def test_a_bad_yaml_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)

    with pytest.raises(ValidationError, match=message):
        load(path)


def test_a_missing_yaml_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"sweep_file: '.*nope.yaml' does not exist"):
        load(tmp_path / "nope.yaml")


def test_storages_by_url(tmp_path: Path) -> None:
    def stale(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        return None

    journal = define(space=SPACE, n_trials=3, storage=f"journal://{tmp_path}/a/sweep.log")
    sqlite = define(space=SPACE, n_trials=3, storage=f"sqlite:///{tmp_path}/sweep.db")
    default = define(space=SPACE, n_trials=3)

    assert isinstance(
        open_storage(journal, tmp_path / "unused.log", stale), optuna.storages.JournalStorage
    )
    assert (tmp_path / "a" / "sweep.log").exists()
    rdb = open_storage(sqlite, tmp_path / "unused.log", stale)
    assert isinstance(rdb, optuna.storages.RDBStorage)
    assert rdb.get_heartbeat_interval() == 60
    assert isinstance(
        open_storage(default, tmp_path / "d" / "s.log", stale), optuna.storages.JournalStorage
    )
    assert (tmp_path / "d" / "s.log").exists()
    redis = define(space=SPACE, n_trials=3, storage="redis://localhost:6379")
    with pytest.raises(ValidationError, match=r"storage: unsupported scheme 'redis'"):
        open_storage(redis, tmp_path / "unused.log", stale)


def test_params_become_arguments_booleans_and_none_as_json() -> None:
    assert _arguments({"lr": 0.01, "layers": 3, "opt": "adam", "bn": True, "x": None}) == [
        "--lr=0.01",
        "--layers=3",
        "--opt=adam",
        "--bn=true",
        "--x=null",
    ]


@pytest.mark.parametrize(
    ("argv", "count", "command"),
    [
        (
            ["s.yaml", "--count", "2", "--", "python", "t.py", "--lr", "3"],
            2,
            ["python", "t.py", "--lr", "3"],
        ),
        (["--count", "2", "s.yaml", "--", "python", "t.py"], 2, ["python", "t.py"]),
        (
            ["s.yaml", "--", "python", "t.py", "--count", "5"],
            None,
            ["python", "t.py", "--count", "5"],
        ),
        (["s.yaml", "--count", "3"], 3, []),
    ],
)
def test_options_may_come_before_or_after_the_file(
    argv: list[str], count: int | None, command: list[str]
) -> None:
    from cairn.cli import build_parser

    args = build_parser().parse_args(["sweep", *argv])

    assert _split_command(args) == command
    assert (args.sweep_file, args.count) == ("s.yaml", count)
