"""Names and values that frameworks produce, made acceptable as Cairn metric keys and params.

Frameworks name metrics freely (``error@0.7``, ``ndcg@5``, ``Loss (train)``) and keep objects
among their hyperparameters (an estimator, a callable, a kernel). The integrations never let such
a value fail a user's training: a key keeps its allowed characters and has the others replaced by
``_``; a value that is not a plain scalar is recorded as its ``repr``, cut to a readable length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cairn._checks import MAX_KEY_CHARS
from cairn._flatten import Scalar, scalar

MAX_REPR_CHARS = 500  # an object's repr beyond this is cut: params are for reading and filtering
_NOT_KEY_CHARACTER = re.compile(r"[^A-Za-z0-9_\-/:.]")


def safe_key(name: object) -> str:
    """``name`` as a valid metric, param or tag key: characters outside letters, digits,
    ``_ - / :`` and ``.`` become ``_``, empty dot-separated segments become ``_``."""
    text = _NOT_KEY_CHARACTER.sub("_", str(name))
    key = ".".join(segment or "_" for segment in text.split("."))
    return key[:MAX_KEY_CHARS].rstrip(".") or "_"


def param_value(value: object) -> Scalar:
    """A framework's hyperparameter as a param scalar: numbers, text, booleans and None keep
    their type (numpy scalars become Python numbers); anything else becomes its ``repr``."""
    if value is None or isinstance(value, bool | int | float):
        return scalar(value)
    if isinstance(value, str):
        return _cut(value)
    converted = scalar(value)  # numpy scalars and 0-d arrays have .item()
    if isinstance(converted, str):
        return _cut(repr(value))
    return converted


def safe_params(params: Mapping[Any, object], prefix: str = "") -> dict[str, Scalar]:
    """A flat mapping of hyperparameters as ``{safe key: scalar}``; nested mappings are kept as
    their repr (frameworks' nested params are objects, not configuration trees)."""
    return {safe_key(f"{prefix}{key}"): param_value(value) for key, value in params.items()}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REPR_CHARS else text[: MAX_REPR_CHARS - 1] + "\u2026"
