"""The search space: one declarative mapping, checked once, turned into Optuna suggestions.

A space maps each param name to a spec (the same schema in Python and in YAML)::

    {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
     "layers": {"type": "int", "low": 1, "high": 4},
     "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
     "batch_size": [16, 32, 64]}            # a list is short for a categorical

:func:`parse_space` returns the canonical form :func:`cairn.sweep_record.space_json` documents
(every key present, numbers typed), which is what the sweep run records as ``sweep.space`` and
what ``query/`` rebuilds Optuna distributions from. Suggestions come from the space only, never
from ad-hoc ``suggest_*`` calls in the objective, so that record is always complete.

Rules mirror Optuna's own: ``low`` below ``high``; ``log`` needs ``low > 0`` and excludes a float
``step`` (and an int ``step`` other than 1). The grid sampler needs a finite set of values per
param: ints and categoricals have one, floats need a ``step`` (or a categorical of the values).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cairn._checks import check_key, fail

Space = dict[str, dict[str, Any]]
Choice = None | bool | int | float | str

_KEYS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "log", "step"),
    "categorical": ("type", "choices"),
}
MAX_GRID_POINTS = 100_000


class Suggester(Protocol):
    """What :func:`suggest` needs of an ``optuna.Trial``."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = ..., log: bool = ...
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = ..., log: bool = ...
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


def parse_space(raw: object) -> Space:
    """Check a user's space and return its canonical form; raises ValidationError naming the
    param (``space.<name>.<key>``) and the rule it broke."""
    if not isinstance(raw, Mapping):
        fail("space", "type", f"must map param names to specs, got {type(raw).__name__}")
    if not raw:
        fail("space", "required", "must define at least one param")
    space: Space = {}
    for name, spec in raw.items():
        field = f"space.{name}"
        check_key(name, field)
        space[name] = _parse_param(spec, field)
    return space


def suggest(trial: Suggester, space: Space) -> dict[str, Any]:
    """Sample every param of ``space`` through the trial (so the sampler decides)."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "float":
            params[name] = trial.suggest_float(
                name, spec["low"], spec["high"], step=spec["step"], log=spec["log"]
            )
        elif kind == "int":
            params[name] = trial.suggest_int(
                name, spec["low"], spec["high"], step=spec["step"], log=spec["log"]
            )
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params


def grid_values(space: Space) -> dict[str, list[Choice]]:
    """Every value of every param, for the grid sampler; ValidationError for a float without a
    ``step`` or a grid too large to enumerate."""
    grid: dict[str, list[Choice]] = {}
    points = 1
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            values: list[Choice] = list(spec["choices"])
        elif kind == "int":
            values = list(range(spec["low"], spec["high"] + 1, spec["step"]))
        elif spec["step"] is None:
            fail(
                f"space.{name}.step",
                "grid_needs_step",
                "the grid sampler needs a finite set of values: give this float a step, "
                "or make it a categorical of the values to try",
            )
        else:
            low, high, step = spec["low"], spec["high"], spec["step"]
            count = math.floor((high - low) / step + 1e-9) + 1
            values = [min(high, round(low + i * step, 12)) for i in range(count)]
        grid[name] = values
        points *= len(values)
    if points > MAX_GRID_POINTS:
        fail("space", "grid_too_large", f"{points} grid points, at most {MAX_GRID_POINTS}")
    return grid


def grid_size(space: Space) -> int:
    return math.prod(len(values) for values in grid_values(space).values())


def _parse_param(spec: object, field: str) -> dict[str, Any]:
    if isinstance(spec, list | tuple):
        spec = {"type": "categorical", "choices": list(spec)}
    if not isinstance(spec, Mapping):
        fail(
            field, "type", f"must be a spec mapping or a list of choices, got {type(spec).__name__}"
        )
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        fail(f"{field}.type", "param_type", f"must be float, int or categorical, got {kind!r}")
    unknown = sorted(str(k) for k in spec if k not in _KEYS[kind])
    if unknown:
        known = ", ".join(_KEYS[kind])
        fail(field, "unknown_key", f"unknown key {unknown[0]!r} for a {kind} param; known: {known}")
    if kind == "categorical":
        return {"type": "categorical", "choices": _choices(spec.get("choices"), field)}
    log = spec.get("log", False)
    if not isinstance(log, bool):
        fail(f"{field}.log", "type", f"must be true or false, got {log!r}")
    if kind == "float":
        low, high = _float(spec, "low", field), _float(spec, "high", field)
        step = None if spec.get("step") is None else _float(spec, "step", field)
        if step is not None and step <= 0:
            fail(f"{field}.step", "positive_step", f"must be above 0, got {step}")
        if step is not None and log:
            fail(f"{field}.step", "step_with_log", "a float param cannot have both step and log")
    else:
        low, high = _int(spec, "low", field), _int(spec, "high", field)
        step = 1 if spec.get("step") is None else _int(spec, "step", field)
        if step <= 0:
            fail(f"{field}.step", "positive_step", f"must be at least 1, got {step}")
        if step != 1 and log:
            fail(f"{field}.step", "step_with_log", "an int param with log needs step 1")
    if not low < high:
        fail(f"{field}.low", "low_below_high", f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        fail(f"{field}.low", "log_needs_positive_low", f"log scale needs low > 0, got {low}")
    return {"type": kind, "low": low, "high": high, "log": log, "step": step}


def _float(spec: Mapping[str, Any], key: str, field: str) -> float:
    value = spec.get(key)
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as text
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"{field}.{key}", "number", f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        fail(f"{field}.{key}", "finite", f"must be finite, got {number}")
    return number


def _int(spec: Mapping[str, Any], key: str, field: str) -> int:
    value = spec.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        fail(f"{field}.{key}", "integer", f"must be an integer, got {value!r}")
    return value


def _choices(raw: object, field: str) -> list[Choice]:
    if not isinstance(raw, list | tuple) or not raw:
        fail(f"{field}.choices", "required", "must be a non-empty list of values")
    choices: list[Choice] = []
    for index, value in enumerate(raw):
        if value is not None and not isinstance(value, bool | int | float | str):
            kind = type(value).__name__
            fail(
                f"{field}.choices.{index}",
                "choice_type",
                f"must be a string, number, boolean or null, got {kind}",
            )
        if any(type(value) is type(seen) and value == seen for seen in choices):
            fail(f"{field}.choices.{index}", "unique_choices", f"{value!r} is listed twice")
        choices.append(value)
    return choices
