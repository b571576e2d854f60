"""The Runs page's chart panels (W&B-style): one panel per metric key, drawing the selected runs
(or, with none selected, the first shown ones) against step, wall time, time since the run's
first point, or another metric the runs logged (``epoch``, ``tokens``).

The panels' settings live in the URL (``ckeys``, ``cx``, ``clog``, ``csmooth``) like the
table's. Series come downsampled from the store (``query.series``): each x bucket keeps its
lowest and highest point. A downsampled series is drawn as a line through the middle of each
bucket inside a band from the bucket's min to its max, so a spike stays visible without the
line zig-zagging; a short series is drawn point by point. Smoothing is an EMA of the drawn line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from query.series import ema
from ui.charts import LEGEND_MAX_RUNS, PALETTE

MAX_RUNS = 20  # runs a panel draws: more lines than this are no longer told apart
MAX_PANELS = 12
POINTS = 300  # per series: enough for a panel a third of a screen wide
DEFAULT_KEYS = 2
X_AXES = {"step": "step", "wall": "wall time", "relative": "relative time"}
METRIC_X = "metric:"  # cx=metric:epoch plots against the run's epoch metric


@dataclass(frozen=True)
class ChartsView:
    keys: tuple[str, ...] = ()  # () = the default keys
    x: str = "step"  # a key of X_AXES, or METRIC_X + a metric key
    log: bool = False
    smooth: float = 0.0  # EMA weight in [0, 0.99]

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ChartsView:
        x = params.get("cx", "step")
        if x not in X_AXES and not (x.startswith(METRIC_X) and len(x) > len(METRIC_X)):
            x = "step"
        try:
            smooth = min(max(float(params.get("csmooth", 0)), 0.0), 0.99)
        except ValueError:
            smooth = 0.0
        keys = tuple(dict.fromkeys(k for k in params.get("ckeys", "").split(",") if k))
        return cls(keys[:MAX_PANELS], x, params.get("clog") == "1", smooth)

    def to_params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.keys:
            out["ckeys"] = ",".join(self.keys)
        if self.x != "step":
            out["cx"] = self.x
        if self.log:
            out["clog"] = "1"
        if self.smooth:
            out["csmooth"] = f"{self.smooth:g}"
        return out

    @property
    def x_metric(self) -> str | None:
        return self.x.removeprefix(METRIC_X) if self.x.startswith(METRIC_X) else None


def x_label(x: str) -> str:
    return X_AXES.get(x) or f"metric {x.removeprefix(METRIC_X)}"


def default_keys(shown_columns: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    """The metrics shown as table columns, else the most logged ones; two of them."""
    shown = [c.removeprefix("metrics.") for c in shown_columns if c.startswith("metrics.")]
    return tuple(dict.fromkeys([*shown, *known]))[:DEFAULT_KEYS]


def chart_runs(selected: Sequence[str], shown: Sequence[str]) -> tuple[list[str], str]:
    """The runs the panels draw and a caption saying which."""
    if selected:
        runs = list(dict.fromkeys(selected))[:MAX_RUNS]
        more = f" (the first {MAX_RUNS})" if len(selected) > MAX_RUNS else ""
        return runs, f"{len(selected)} selected runs{more}"
    runs = list(shown[:MAX_RUNS])
    if len(shown) > MAX_RUNS:
        return runs, f"the first {MAX_RUNS} of {len(shown):,} runs: select rows to choose"
    return runs, f"all {len(runs)} shown runs"


def combine(*parts: pd.DataFrame) -> pd.DataFrame:
    """The points of several reads (finished runs' cached, running runs' fresh) as one frame."""
    found = [part for part in parts if len(part)]
    if not found:
        return pd.DataFrame(columns=["run_id", "key", "step", "timestamp", "x", "value", "bucket"])
    return pd.concat(found, ignore_index=True)


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds < 120:
        return 1.0, "s"
    if seconds < 7_200:
        return 60.0, "min"
    return 3_600.0, "h"


def x_values(points: pd.DataFrame, x: str, tz: str) -> tuple[pd.Series, str]:
    """The x of every point and the axis title."""
    if x == "step":
        return points["step"], "step"
    if x == "wall":
        times = pd.to_datetime(points["timestamp"], utc=True)
        try:
            return times.dt.tz_convert(tz), f"time ({tz})"
        except (KeyError, ValueError, TypeError):
            return times, "time (UTC)"
    if x == "relative":
        times = pd.to_datetime(points["timestamp"], utc=True)
        start = times.groupby(points["run_id"]).transform("min")
        seconds = (times - start).dt.total_seconds()
        scale, unit = _time_unit(float(seconds.max()) if len(seconds) else 0.0)
        return seconds / scale, f"relative time ({unit})"
    return points["x"], x.removeprefix(METRIC_X)


def _line_and_band(run: pd.DataFrame, smooth: float) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(x, y) of the line and, for a downsampled series, (x, low, high) of its band."""
    downsampled = "bucket" in run and run["bucket"].duplicated().any()
    if downsampled:
        grouped = run.groupby("bucket", sort=True)
        band = pd.DataFrame(
            {
                "x": grouped["xv"].mean() if run["xv"].dtype.kind in "fiu" else grouped["xv"].min(),
                "low": grouped["value"].min(),
                "high": grouped["value"].max(),
            }
        )
        line = pd.DataFrame({"x": band["x"], "y": (band["low"] + band["high"]) / 2})
    else:
        band = None
        line = pd.DataFrame({"x": run["xv"], "y": run["value"]})
    if smooth:
        line["y"] = ema(line["y"].to_numpy(dtype=np.float64), smooth)
    return line, band


def _faded(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def panel_figure(
    points: pd.DataFrame,
    key: str,
    labels: Mapping[str, str],
    order: Sequence[str],
    *,
    x: str,
    tz: str,
    log_y: bool,
    smooth: float,
) -> go.Figure:
    """One metric's panel: a line per run (colours by the run's place in ``order``, the same in
    every panel), min/max bands where the series was downsampled."""
    fig = go.Figure()
    series = points[points["key"] == key]
    xs, x_title = x_values(series, x, tz) if len(series) else (series.get("step"), x_label(x))
    series = series.assign(xv=xs)
    if x in ("step", "relative") or x.startswith(METRIC_X):
        series = series.sort_values(["run_id", "xv"], kind="stable")
    colors = {run: PALETTE[i % len(PALETTE)] for i, run in enumerate(order)}
    for run_id, run in series.groupby("run_id", sort=False):
        color = colors.get(str(run_id), PALETTE[0])
        label = labels.get(str(run_id), str(run_id))
        line, band = _line_and_band(run, smooth)
        if band is not None:
            fig.add_trace(
                go.Scatter(
                    x=band["x"], y=band["high"], mode="lines", line={"width": 0},
                    showlegend=False, hoverinfo="skip", legendgroup=label,
                )
            )  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=band["x"], y=band["low"], mode="lines", line={"width": 0},
                    fill="tonexty", fillcolor=_faded(color, 0.18), showlegend=False,
                    hoverinfo="skip", legendgroup=label, name=f"{label} min-max",
                )
            )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=line["x"], y=line["y"], mode="lines", name=label, legendgroup=label,
                line={"color": color, "width": 1.6},
            )
        )  # fmt: skip
    fig.update_layout(
        title={"text": key, "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 0.98},
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "font": {"size": 11}},
        hovermode="closest",
        xaxis_title=x_title,
        showlegend=len(order) <= LEGEND_MAX_RUNS,
    )
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig
