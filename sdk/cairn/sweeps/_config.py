"""A sweep's definition, checked in one place whether it comes from Python keywords or YAML.

The YAML file ``cairn sweep`` reads holds the keywords of :func:`cairn.sweeps.sweep` (minus the
objective and ``catch``) plus two for the command line: ``params`` (``args`` or ``env``: how a
trial's params reach the command) and ``command`` (used when none follows ``--``)::

    space:
      lr: {type: float, low: 1.0e-4, high: 0.1, log: true}
      alpha: [0.0001, 0.001]
    objective_metric: val_loss
    direction: minimize
    n_trials: 20
    sampler: tpe                          # or {name: tpe, n_startup_trials: 5}
    pruner: {name: hyperband, min_resource: 1, max_resource: 10}
    params: args

Everything is checked before a study or a run exists; errors name the key (``sampler.name``,
``space.lr.low``) and the rule.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn._checks import check_id, check_key, check_name, fail
from cairn.sweeps._script import DEFAULT_METRIC
from cairn.sweeps._space import Space, grid_size, parse_space

SAMPLERS = ("tpe", "random", "grid", "gp", "cmaes", "nsga2")
PRUNERS = ("none", "median", "hyperband", "asha", "successive_halving")
DIRECTIONS = ("minimize", "maximize")
PARAMS_MODES = ("args", "env")
DEFAULT_HEARTBEAT_S = 60  # seconds between a running trial's heartbeats (database storages)

# Keywords a YAML file may hold; the CLI-only ones are documented above.
YAML_KEYS = (
    "space",
    "n_trials",
    "timeout",
    "sampler",
    "pruner",
    "seed",
    "direction",
    "directions",
    "objective_metric",
    "objective_metrics",
    "study",
    "storage",
    "heartbeat_interval",
    "grace_period",
    "name",
    "config",
    "tags",
    "params",
    "command",
)


@dataclass(frozen=True, slots=True)
class Choice:
    """A sampler or pruner by name with keyword options for its Optuna constructor, or an
    Optuna object given directly (``instance``)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    instance: Any = None


@dataclass(frozen=True, slots=True)
class SweepDefinition:
    space: Space
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    sampler: Choice
    pruner: Choice
    n_trials: int | None = None
    timeout: float | None = None
    seed: int | None = None
    study: str | None = None
    storage: Any = None  # a URL, an Optuna storage object, or None for the default journal file
    heartbeat_interval: int | None = None
    grace_period: int | None = None
    name: str | None = None
    config: Mapping[str, Any] | None = None
    tags: Mapping[str, Any] | None = None
    catch: tuple[type[Exception], ...] = (Exception,)
    params: str = "args"
    command: tuple[str, ...] = ()

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


def define(
    *,
    space: object = None,
    n_trials: object = None,
    timeout: object = None,
    sampler: object = None,
    pruner: object = None,
    seed: object = None,
    direction: object = None,
    directions: object = None,
    objective_metric: object = None,
    objective_metrics: object = None,
    study: object = None,
    storage: object = None,
    heartbeat_interval: object = None,
    grace_period: object = None,
    name: object = None,
    config: object = None,
    tags: object = None,
    catch: object = (Exception,),
    params: object = "args",
    command: object = (),
) -> SweepDefinition:
    """Check every option and return the definition; raises ValidationError."""
    parsed_space = parse_space(space)
    objectives, goals = _objectives(direction, directions, objective_metric, objective_metrics)
    multi = len(objectives) > 1
    sampler_choice = _choice(
        sampler if sampler is not None else ("nsga2" if multi else "tpe"), "sampler", SAMPLERS
    )
    pruner_choice = _choice(pruner if pruner is not None else "none", "pruner", PRUNERS)
    if multi and (pruner_choice.instance is not None or pruner_choice.name != "none"):
        fail("pruner", "pruning_single_objective", "pruning needs a single objective (Optuna)")
    if multi and sampler_choice.name == "cmaes":
        fail("sampler", "cmaes_single_objective", "CMA-ES optimises a single objective only")
    budget = _optional_int(n_trials, "n_trials")
    if sampler_choice.name == "grid" and sampler_choice.instance is None:
        points = grid_size(parsed_space)
        if budget is not None and budget > points:
            fail("n_trials", "grid_budget", f"{budget} exceeds the {points} points of the grid")
        budget = points if budget is None else budget
    seconds = _optional_number(timeout, "timeout")
    if budget is None and seconds is None:
        fail("n_trials", "budget_required", "give n_trials (the sweep's budget), a timeout or both")
    return SweepDefinition(
        space=parsed_space,
        objectives=objectives,
        directions=goals,
        sampler=sampler_choice,
        pruner=pruner_choice,
        n_trials=budget,
        timeout=seconds,
        seed=_optional_int(seed, "seed", minimum=0),
        study=None if study is None else check_id(study, "study"),
        storage=_storage(storage),
        heartbeat_interval=_optional_int(heartbeat_interval, "heartbeat_interval"),
        grace_period=_optional_int(grace_period, "grace_period"),
        name=None if name is None else check_name(name, "name"),
        config=_mapping(config, "config"),
        tags=_mapping(tags, "tags"),
        catch=_catch(catch),
        params=_params_mode(params),
        command=_command(command),
    )


def load(path: str | Path, **overrides: Any) -> SweepDefinition:
    """Read a sweep YAML file; ``overrides`` (from the command line) replace its keys."""
    import yaml

    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text())
    except FileNotFoundError:
        fail("sweep_file", "exists", f"{str(source)!r} does not exist")
    except yaml.YAMLError as exc:
        fail("sweep_file", "yaml", f"{source} is not valid YAML: {exc}")
    if not isinstance(raw, dict):
        fail("sweep_file", "type", f"{source} must hold a mapping of sweep keys")
    unknown = sorted(str(key) for key in raw if key not in YAML_KEYS)
    if unknown:
        fail(unknown[0], "unknown_key", f"not a sweep key; known: {', '.join(YAML_KEYS)}")
    values = {str(k): v for k, v in raw.items()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return define(**values)


def _objectives(
    direction: object, directions: object, metric: object, metrics: object
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if direction is not None and directions is not None:
        fail("directions", "one_of", "give direction (one objective) or directions, not both")
    if metric is not None and metrics is not None:
        fail("objective_metrics", "one_of", "give objective_metric or objective_metrics, not both")
    if directions is None and metrics is None:
        goal = "minimize" if direction is None else direction
        name = DEFAULT_METRIC if metric is None else metric
        return (check_key(name, "objective_metric"),), (_direction(goal, "direction"),)
    if directions is None or metrics is None:
        fail(
            "directions",
            "paired",
            "several objectives need both directions and objective_metrics, one entry each",
        )
    goals = _list(directions, "directions")
    names = _list(metrics, "objective_metrics")
    if len(goals) != len(names):
        fail(
            "directions",
            "paired",
            f"{len(goals)} directions for {len(names)} objective_metrics: give one per metric",
        )
    checked = [check_key(n, f"objective_metrics.{i}") for i, n in enumerate(names)]
    if len(set(checked)) != len(checked):
        fail("objective_metrics", "unique", "each objective needs its own metric")
    return tuple(checked), tuple(_direction(g, f"directions.{i}") for i, g in enumerate(goals))


def _direction(value: object, field_name: str) -> str:
    if value not in DIRECTIONS:
        fail(field_name, "direction", f"must be minimize or maximize, got {value!r}")
    return str(value)


def _choice(value: object, field_name: str, names: Sequence[str]) -> Choice:
    """A name, a ``{name: ..., **options}`` mapping, or an Optuna sampler/pruner object."""
    if isinstance(value, str):
        label, options = value, {}
    elif isinstance(value, Mapping):
        options = {str(k): v for k, v in value.items() if k != "name"}
        given = value.get("name")
        if not isinstance(given, str):
            fail(f"{field_name}.name", "required", f"name the {field_name}: {', '.join(names)}")
        label = given
    elif _is_optuna(value, field_name):
        return Choice(name=type(value).__name__, instance=value)
    else:
        fail(
            field_name, "type", f"must be a name, a mapping with a name, or an Optuna {field_name}"
        )
    label = label.strip().lower()
    if label not in names:
        fail(f"{field_name}.name", field_name, f"unknown {label!r}; known: {', '.join(names)}")
    return Choice(name=label, options=options)


def _is_optuna(value: object, kind: str) -> bool:
    import optuna

    base = optuna.samplers.BaseSampler if kind == "sampler" else optuna.pruners.BasePruner
    return isinstance(value, base)


def _storage(value: object) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        if "://" not in value:
            fail(
                "storage", "storage_url", f"must be a URL such as sqlite:///sweep.db, got {value!r}"
            )
        return value.strip()
    import optuna

    if not isinstance(value, optuna.storages.BaseStorage):
        kind = type(value).__name__
        fail("storage", "type", f"must be a storage URL or an Optuna storage, got {kind}")
    return value


def _optional_int(value: object, field_name: str, *, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(field_name, "integer", f"must be an integer of at least {minimum}, got {value!r}")
    return value


def _optional_number(value: object, field_name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        fail(field_name, "positive", f"must be a number of seconds above 0, got {value!r}")
    return float(value)


def _mapping(value: object, field_name: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        fail(field_name, "type", f"must be a mapping, got {type(value).__name__}")
    return dict(value)


def _list(value: object, field_name: str) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        fail(field_name, "type", "must be a non-empty list")
    return list(value)


def _catch(value: object) -> tuple[type[Exception], ...]:
    items = value if isinstance(value, tuple) else (value,)
    classes: list[type[Exception]] = []
    for item in items:
        if not (isinstance(item, type) and issubclass(item, Exception)):
            fail("catch", "type", f"must be exception classes, got {item!r}")
        classes.append(item)
    return tuple(classes)


def _params_mode(value: object) -> str:
    if value not in PARAMS_MODES:
        fail("params", "params_mode", f"must be args or env, got {value!r}")
    return str(value)


def _command(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if not isinstance(value, Sequence) or not all(isinstance(part, str) for part in value):
        fail("command", "type", "must be a command line: a string or a list of strings")
    return tuple(value)
