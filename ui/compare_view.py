"""Helpers of the Compare page: the differing parameters as a table, numbers for plots, labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from query.compare import RunComparison

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
    """How many metrics to chart before the user picks: two, or one for a large comparison
    (fifty overlaid lines per chart already say a lot, and each chart costs the browser)."""
    return 1 if runs > 10 else 2


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
    """One row per run: its numeric differing params and its metrics (``last``/``min``/``max``),
    for parallel coordinates and scatter plots. Non-numeric params are left out."""
    data: dict[str, list[float | None]] = {}
    for differing in comparison.params_differing:
        values = [_number(v) for v in differing.values]
        if any(v is not None for v in values) and all(
            v is not None or raw is None for v, raw in zip(values, differing.values, strict=True)
        ):
            data[f"params.{differing.key}"] = values
    for metric in comparison.metrics:
        data[f"metrics.{metric.key}"] = list(getattr(metric, metric_stat))
    return pd.DataFrame(data, index=list(comparison.run_ids))


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
