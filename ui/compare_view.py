"""Helpers of the Compare page: the differing parameters as a table, numbers for plots, labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from pandas.io.formats.style import Styler

from query.compare import RunComparison
from query.diff_matrix import DiffMatrix
from reports.format import short
from ui.compare_groups import NOT_SET

SECTIONS = (
    "Metrics",
    "Params",
    "Parallel coordinates",
    "Scatter",
    "Media",
    "Code",
    "Environment",
    "Datasets",
)
POINTS_BUDGET = 20_000  # points per chart across all runs; at least MIN_POINTS per run
MIN_POINTS = 200
MAX_POINTS = 1_000


def labels(comparison: RunComparison) -> dict[str, str]:
    """A readable, unique label per run: its name, suffixed when two runs share a name."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for run in comparison.runs:
        name = run.name or run.run_id[:8]
        seen[name] = seen.get(name, 0) + 1
        out[run.run_id] = name if seen[name] == 1 else f"{name} ({run.run_id[:6]})"
    return out


def default_charts(runs: int) -> int:
    """How many metrics to chart before the user picks (the first keys in preferred order, one
    panel each): four, or three for a large comparison (each chart of fifty lines costs the
    browser; see bench/portal_render.py)."""
    return 3 if runs > 10 else 4


def points_per_run(runs: int) -> int:
    """How finely to downsample each series so a chart of ``runs`` lines stays light."""
    return max(MIN_POINTS, min(MAX_POINTS, POINTS_BUDGET // max(runs, 1)))


def params_diff(comparison: RunComparison, names: Mapping[str, str]) -> pd.DataFrame:
    """Only the parameters that differ: one row per key, one column per run ('' = not set)."""
    columns = [names[run_id] for run_id in comparison.run_ids]
    rows = [
        [differing.key, *("" if v is None else str(v) for v in differing.values)]
        for differing in comparison.params_differing
    ]
    return pd.DataFrame(rows, columns=["param", *columns])


def numbers(comparison: RunComparison, metric_stat: str = "last") -> pd.DataFrame:
    """One row per run: its differing params and its metrics (``last``/``min``/``max``), for
    parallel coordinates and scatter plots. A param whose every value is a number is a float
    column (None where a run lacks it); any other (``optimizer = adam``) is a text column, a run
    without it in the category :data:`NOT_SET`, so it is drawn on a categorical axis."""
    data: dict[str, list[float | None] | list[str]] = {}
    for differing in comparison.params_differing:
        values = [_number(v) for v in differing.values]
        if any(v is not None for v in values) and all(
            v is not None or raw is None for v, raw in zip(values, differing.values, strict=True)
        ):
            data[f"params.{differing.key}"] = values
        else:
            data[f"params.{differing.key}"] = [
                NOT_SET if v is None else str(v) for v in differing.values
            ]
    for metric in comparison.metrics:
        data[f"metrics.{metric.key}"] = list(getattr(metric, metric_stat))
    return pd.DataFrame(data, index=list(comparison.run_ids))


def last_values(comparison: RunComparison, names: Mapping[str, str]) -> pd.DataFrame:
    """The last value of every metric: one row per run (so 100 runs scroll down, not off the
    side), one column per metric key; empty where a run never logged the key."""
    return pd.DataFrame(
        {m.key: list(m.last) for m in comparison.metrics},
        index=pd.Index([names[r] for r in comparison.run_ids], name="run"),
    )


def summary_line(comparison: RunComparison) -> str:
    """What the runs share, in words: the same code/environment/datasets, what differs, and what
    no run recorded (never "same environment" when there was none to compare)."""
    n = len(comparison.run_ids)
    parts = []
    recorded = {
        "code": sum(1 for i in comparison.identities if i.code is not None),
        "environment": comparison.environment_recorded,
        "datasets": sum(1 for i in comparison.identities if i.datasets),
    }
    same = {
        "code": comparison.same_code,
        "environment": comparison.same_environment,
        "datasets": comparison.same_datasets,
    }
    for what, count in recorded.items():
        if count == 0:
            parts.append(f"no {what} recorded")
        elif count < n:
            parts.append(f"{what} recorded for {count} of {n} runs")
        elif same[what]:
            parts.append(f"same {what}" if n > 1 else f"{what} recorded")
        else:
            parts.append(f"{what} differs")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def not_visible(hidden: int) -> str:
    """The notice for runs of a link the caller may not see (nothing else about them)."""
    return f"{hidden} run{'s' if hidden != 1 else ''} not visible to you"


DIFFERS_STYLE = "background-color: #FDE2A7; font-weight: 600"  # a cell unlike the baseline's
SECTION_KINDS = {
    "Code": ("code",),
    "Environment": ("environment", "packages"),
    "Datasets": ("datasets",),
}
_SHORTENED = {("code", "commit"): 10, ("code", "patch"): 10}


def matrix_table(matrix: DiffMatrix, kinds: Sequence[str], names: Mapping[str, str]) -> Styler:
    """The N-way diff of ``kinds`` as a table: one row per run (the baseline marked), one column
    per field that is not the same everywhere, cells unlike the baseline's highlighted."""
    columns = matrix.of_kind(*kinds)
    rows = [names[r] + (" (baseline)" if r == matrix.baseline else "") for r in matrix.run_ids]
    shown: dict[str, list[str]] = {}
    marks: dict[str, list[str]] = {}
    for column in columns:
        header = f"package: {column.name}" if column.kind == "packages" else column.name
        width = _SHORTENED.get((column.kind, column.name), 12 if column.kind == "datasets" else 0)
        shown[header] = [short(v, width) if width and v else v or "—" for v in column.values]
        marks[header] = [DIFFERS_STYLE if d else "" for d in matrix.differs(column)]
    frame = pd.DataFrame(shown, index=pd.Index(rows, name="run"))
    styles = pd.DataFrame(marks, index=frame.index)
    return frame.style.apply(lambda _: styles, axis=None)


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(str(value))
    except ValueError:
        return None


def pick_pair(run_ids: Sequence[str], a: str | None, b: str | None) -> tuple[str, str]:
    """The two runs to diff: the URL's ``a``/``b`` when they are compared runs, else the first two."""
    first = a if a is not None and a in run_ids else run_ids[0]
    rest = [r for r in run_ids if r != first]
    second = b if b is not None and b in rest else rest[0]
    return first, second
