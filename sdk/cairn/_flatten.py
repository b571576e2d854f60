"""Nested run configuration flattened to the dotted, typed parameters events carry.

``{"optimizer": {"name": "adam", "lr": 1e-3}, "layers": [64, 32]}`` becomes ``optimizer.name``,
``optimizer.lr``, ``layers.0`` and ``layers.1`` (docs/events.md, "Parameters"). Values keep their
type (bool, int, float, str, None); anything else (a Path, an enum, a dtype) is recorded as its
``str()``; integers beyond 64 bits as their decimal text. Empty containers stay visible as the
strings ``"{}"`` and ``"[]"``. Keys and lengths are checked here, at the call site.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from cairn._checks import (
    INT64_MAX,
    INT64_MIN,
    MAX_CONFIG_DEPTH,
    MAX_ITEMS_PER_LIST,
    MAX_PARAM_VALUE_CHARS,
    check_key,
    check_text,
    fail,
)

Scalar = bool | int | float | str | None


def flatten(config: object, field: str = "config") -> dict[str, Scalar]:
    """Flatten ``config`` (a mapping, or a dataclass instance) into ``{dotted key: scalar}``."""
    if is_dataclass(config) and not isinstance(config, type):
        config = asdict(config)
    if not isinstance(config, Mapping):
        fail(field, "type", f"must be a mapping of names to values, got {type(config).__name__}")
    flat: dict[str, Scalar] = {}

    def visit(value: object, segments: list[str]) -> None:
        if len(segments) > MAX_CONFIG_DEPTH:
            key = ".".join(segments)
            fail(
                f"{field}.{key[:80]}",
                "max_config_depth",
                f"is {len(segments)}+ levels deep, at most {MAX_CONFIG_DEPTH}",
            )
        if isinstance(value, Mapping):
            if not value and segments:
                flat[".".join(segments)] = "{}"
            for k, v in value.items():
                visit(v, [*segments, str(k)])
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
            if not value:
                flat[".".join(segments)] = "[]"
            for index, v in enumerate(value):
                visit(v, [*segments, str(index)])
        else:
            flat[".".join(segments)] = scalar(value)

    visit(config, [])
    if len(flat) > MAX_ITEMS_PER_LIST:
        fail(field, "max_items", f"{len(flat)} parameters, at most {MAX_ITEMS_PER_LIST} allowed")
    for key, value in flat.items():
        check_key(key, f"{field}.{key}" if key else field)
        if isinstance(value, str):
            check_text(value, f"{field}.{key}", MAX_PARAM_VALUE_CHARS)
    return flat


def scalar(value: Any) -> Scalar:
    """One config value as a parameter scalar; numpy and torch scalars become Python numbers."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return int(value) if INT64_MIN <= value <= INT64_MAX else str(value)
    item = getattr(value, "item", None)  # numpy scalars, 0-d arrays, one-element tensors
    if callable(item):
        try:
            plain = item()
        except (TypeError, ValueError, RuntimeError):
            return str(value)
        if plain is None or isinstance(plain, bool | int | float | str):
            return scalar(plain)
    if isinstance(value, numbers.Rational):
        return scalar(value.numerator) if value.denominator == 1 else float(value)
    return str(value)
