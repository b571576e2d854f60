"""The Runs table's columns: which ones it shows by default, and the headers people read.

A column is named as in the filter language (``status``, ``params.learning_rate``,
``metrics.val/auc``, ``metrics_min.val/loss``, ``tags.stage``): that name is what the URL, the
query and downloads' machine-readable side use. People read a header instead: the key alone for
params and metrics (``val/auc``), ``(min)``/``(max)`` for a metric's extremes, ``(tag)`` for
tags, and ``(param)``/``(metric)`` only where a param and a metric share a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cairn_contract.errors import ValidationError
from domain.filters import ATTRIBUTES, parse_field

# Always shown, first: the name links to the run (the table's way to open one).
NAME = "name"
BASE_COLUMNS = ("name", "project", "owner", "status", "created", "duration")
ATTRIBUTE_COLUMNS = tuple(
    dict.fromkeys(name for name, _ in ATTRIBUTES.values() if name != "run_id")
)
# How many of the most common metric and param keys a table shows when nobody chose columns:
# enough to compare runs at a glance, few enough to fit a laptop screen.
DEFAULT_METRICS = 3
DEFAULT_PARAMS = 3

_NAMESPACES = {
    "params": "param",
    "metrics": "metric",
    "metrics_min": "metric min",
    "metrics_max": "metric max",
    "tags": "tag",
}


def split(column: str) -> tuple[str, str]:
    """``metrics.val/auc`` -> (``metrics``, ``val/auc``); an attribute -> (``""``, name)."""
    namespace, dot, key = column.partition(".")
    return (namespace, key) if dot and namespace in _NAMESPACES else ("", column)


def default_columns(
    params: Sequence[str], metrics: Sequence[str], saved: Sequence[str] | None = None
) -> tuple[str, ...]:
    """What the table shows when the URL names no columns: the person's saved columns if they
    saved some, else the run's main attributes and the metric and param keys most runs have
    (``params`` and ``metrics`` come most used first, as ``query.runs.known_keys`` orders them).
    Keys a column cannot name (see :func:`valid`) are skipped."""
    if saved:
        return with_name(saved)
    metric_columns = valid(f"metrics.{key}" for key in metrics)
    param_columns = valid(f"params.{key}" for key in params)
    return (
        *BASE_COLUMNS,
        *metric_columns[:DEFAULT_METRICS],
        *param_columns[:DEFAULT_PARAMS],
    )


def with_name(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns with ``name`` first (the link that opens a run is never hidden)."""
    return tuple(dict.fromkeys([NAME, *columns]))


def choices(params: Sequence[str], tags: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """Every column the chooser offers: the run's attributes, then metrics, params and tags
    (keys a column cannot name are left out)."""
    return [
        *ATTRIBUTE_COLUMNS,
        *valid(
            [
                *(f"metrics.{k}" for k in metrics),
                *(f"params.{k}" for k in params),
                *(f"tags.{k}" for k in tags),
                *(f"metrics_min.{k}" for k in metrics),
                *(f"metrics_max.{k}" for k in metrics),
            ]
        ),
    ]


def valid(columns: Iterable[str]) -> list[str]:
    """The columns the filter language can name bare: result columns are named by the bare
    field (``query.runs.search_runs``), so a key such as ``batch size`` cannot be a column yet
    (it can be filtered, quoted: ``params.`batch size```); a column from a URL may be anything."""
    out = []
    for column in columns:
        try:
            parse_field(column)
        except ValidationError:
            continue
        out.append(column)
    return out


def choice_label(column: str) -> str:
    """How the chooser lists a column: ``val/auc · metric``."""
    namespace, key = split(column)
    return f"{key} · {_NAMESPACES[namespace]}" if namespace else column


def headers(columns: Sequence[str]) -> dict[str, str]:
    """A readable, unique header for every column."""
    plain: dict[str, str] = {}
    for column in columns:
        namespace, key = split(column)
        if namespace in ("params", "metrics"):
            plain[column] = key
        elif namespace in ("metrics_min", "metrics_max"):
            plain[column] = f"{key} ({namespace.removeprefix('metrics_')})"
        elif namespace == "tags":
            plain[column] = f"{key} (tag)"
        else:
            plain[column] = column
    counts: dict[str, int] = {}
    for label in plain.values():
        counts[label] = counts.get(label, 0) + 1
    for column, label in plain.items():
        if counts[label] > 1 and split(column)[0]:
            plain[column] = f"{label} ({_NAMESPACES[split(column)[0]]})"
    return plain


def describe(column: str) -> str:
    """The header's tooltip: what the value is and how the filter language names it."""
    namespace, key = split(column)
    what = {
        "params": f"parameter {key}",
        "metrics": f"metric {key}: last logged value",
        "metrics_min": f"metric {key}: smallest logged value",
        "metrics_max": f"metric {key}: largest logged value",
        "tags": f"tag {key}",
    }.get(namespace, column)
    return f"{what} (in filters: {field_text(column)})"


def field_text(column: str) -> str:
    """The column as the filter language writes it: keys it cannot spell bare are quoted
    with backquotes (``params.`my key```)."""
    namespace, key = split(column)
    if not namespace:
        return column
    bare = all(part and all(c.isalnum() or c in "_-/:" for c in part) for part in key.split("."))
    return f"{namespace}.{key}" if bare and key.isascii() else f"{namespace}.`{key}`"
