"""How ``cairn reproduce`` tells the re-run training process what it is.

The engine starts the recorded command with ``CAIRN_REPRODUCTION`` holding a JSON object; the
first ``cairn.init`` of that process reads it (as it reads ``CAIRN_RESUME``) and:

- records the run under the id the engine chose (so the engine can find it afterwards);
- replaces the values of ``config`` with the recorded params, then with the ``--set``
  overrides (text converted to the type of the value the code passed; keys the code does not
  pass are added);
- sets the reproduction tags and records the lineage edge ``reproduces -> original``.

Params are given as the store keeps them (text), so each value is converted to the type of the
value the training code passes for that key: ``"0.1"`` becomes ``0.1`` where the code passes a
float, stays ``"0.1"`` where it passes a string.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.config import REPRODUCTION_VARIABLE
from cairn.errors import ConfigError

VARIABLE = REPRODUCTION_VARIABLE


@dataclass(frozen=True, slots=True)
class ReproductionContext:
    original: str
    run_id: str
    params: Mapping[str, str] = field(default_factory=dict)  # recorded: only keys config has
    overrides: Mapping[str, str] = field(default_factory=dict)  # --set: added when missing
    tags: Mapping[str, str] = field(default_factory=dict)

    def apply(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        recorded = apply_params(config, self.params, add_missing=False)
        return apply_params(recorded, self.overrides, add_missing=True)

    def encode(self) -> str:
        return json.dumps(
            {
                "original": self.original,
                "run_id": self.run_id,
                "params": dict(self.params),
                "overrides": dict(self.overrides),
                "tags": dict(self.tags),
            }
        )

    @classmethod
    def decode(cls, raw: str) -> ReproductionContext:
        try:
            value = json.loads(raw)
            return cls(
                original=str(value["original"]),
                run_id=str(value["run_id"]),
                params={str(k): str(v) for k, v in dict(value.get("params", {})).items()},
                overrides={str(k): str(v) for k, v in dict(value.get("overrides", {})).items()},
                tags={str(k): str(v) for k, v in dict(value.get("tags", {})).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{VARIABLE} must hold a reproduction context (JSON with original and run_id):"
                f" {exc}",
                field=VARIABLE,
            ) from None


def parse_literal(text: str) -> Any:
    """``--set`` text for a key the code does not pass: number, bool, null or string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def coerce(text: str, like: Any, key: str) -> Any:
    """``text`` as the type of ``like`` (the value the training code passes)."""
    if isinstance(like, bool):
        if text.strip().lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"{key}: {text!r} is not a boolean (rule type)", field=key)
        return text.strip().lower() in ("true", "1")
    if isinstance(like, int | float):
        try:
            number = float(text) if isinstance(like, float) else int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ConfigError(
                    f"{key}: {text!r} is not a number (rule type)", field=key
                ) from None
        return number
    if like is None:
        return parse_literal(text)
    return text


def apply_params(
    config: Mapping[str, Any] | None, params: Mapping[str, str], *, add_missing: bool
) -> dict[str, Any]:
    """A copy of ``config`` with the dotted-key ``params`` put in (mappings only; keys that pass
    through a list or a scalar are skipped; keys it lacks are added only with ``add_missing``)."""
    result: dict[str, Any] = copy.deepcopy(dict(config or {}))
    for key, text in params.items():
        node: Any = result
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or (part not in node and not add_missing):
                node = None
                break
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            continue
        leaf = parts[-1]
        if (leaf in node and isinstance(node[leaf], dict | list)) or (
            leaf not in node and not add_missing
        ):
            continue  # a "{}"/"[]" placeholder for an empty container, or a key config lacks
        node[leaf] = coerce(text, node[leaf], key) if leaf in node else parse_literal(text)
    return result
