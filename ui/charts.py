"""Plotly figures: metric curves (already downsampled by ``query.series``) and comparisons.

Curves are SVG lines up to a point budget and WebGL beyond it (see :data:`WEBGL_POINTS`); a
chart of many runs drops its legend (hovering names the line). Comments anchored on a metric's
step range are shaded bands on its chart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from query.collaboration import Comment

PALETTE = (
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
    "#9D755D", "#BAB0AC",
)  # fmt: skip
HEIGHT = 320
# Above this many points in one chart, draw with WebGL; below it, SVG is faster to first paint
# (a WebGL context per chart is costly, very much so on machines without a GPU).
WEBGL_POINTS = 200_000
LEGEND_MAX_RUNS = 12


def _scatter(points: int) -> Callable[..., Any]:
    """The trace type for a chart of ``points`` points."""
    trace: Callable[..., Any] = go.Scattergl if points > WEBGL_POINTS else go.Scatter
    return trace


def _layout(fig: go.Figure, title: str, x_title: str, log_y: bool, height: int = HEIGHT) -> None:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 0.98},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "xanchor": "right",
            "x": 1,
            "font": {"size": 11},
        },
        hovermode="x unified",
        xaxis_title=x_title,
    )
    fig.update_yaxes(type="log" if log_y else "linear")


def metric_figure(
    points: pd.DataFrame,
    key: str,
    labels: Mapping[str, str],
    *,
    x: str = "step",
    log_y: bool = False,
    smoothed: bool = False,
    anchors: Sequence[Comment] = (),
    names: Mapping[str, str] | None = None,
    marks: Sequence[tuple[int, str]] = (),
    attempts: pd.DataFrame | None = None,
) -> go.Figure:
    """One metric across runs: a line per run (labels by run id); with ``smoothed``, the EMA
    line solid over the raw one faded. ``anchors`` are comments shaded on their step range;
    ``marks`` (step, label) are vertical lines (a fork step, rewind points); ``attempts`` (the
    columns of ``query.branches.earlier_attempts``) are drawn dotted and grey, per attempt."""
    fig = go.Figure()
    series = points[points["key"] == key]
    x_column = "step" if x == "step" else "timestamp"
    trace = _scatter(len(series) * (2 if smoothed else 1))
    for i, (run_id, run_points) in enumerate(series.groupby("run_id", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        label = labels.get(str(run_id), str(run_id))
        fig.add_trace(
            trace(
                x=run_points[x_column], y=run_points["value"], mode="lines", name=label,
                line={"color": color, "width": 1.5}, opacity=0.3 if smoothed else 1.0,
                showlegend=not smoothed, legendgroup=label,
            )
        )  # fmt: skip
        if smoothed and "smoothed" in run_points:
            fig.add_trace(
                trace(
                    x=run_points[x_column], y=run_points["smoothed"], mode="lines", name=label,
                    line={"color": color, "width": 2}, legendgroup=label,
                )
            )  # fmt: skip
    if x == "step" and attempts is not None and not attempts.empty:
        mine = attempts[attempts["key"] == key]
        for attempt, points in mine.groupby("attempt", sort=True):
            fig.add_trace(
                go.Scatter(
                    x=points["step"], y=points["value"], mode="lines",
                    name=f"earlier attempt {attempt}",
                    line={"color": "#9AA0A6", "width": 1.2, "dash": "dot"},
                )
            )  # fmt: skip
    if x == "step":
        for index, (step, label) in enumerate(marks):  # labels alternate sides: no overlap
            fig.add_vline(
                x=step, line_width=1, line_dash="dash", line_color="#5F6368",
                annotation_text=label, annotation_font_size=11,
                annotation_position="top left" if index % 2 == 0 else "top right",
            )  # fmt: skip
        for comment in anchors:
            who = (names or {}).get(comment.author, comment.author)
            fig.add_vrect(
                x0=comment.anchor_step_min, x1=max(comment.anchor_step_max, comment.anchor_step_min + 1),
                fillcolor="#FFBD45", opacity=0.18, line_width=0,
                annotation_text=f"comment: {who}", annotation_position="top left",
                annotation_font_size=11,
            )  # fmt: skip
    _layout(fig, key, "step" if x == "step" else "time (UTC)", log_y)
    if (
        len(labels) > LEGEND_MAX_RUNS
    ):  # fifty legend entries cost more than the lines; hover names them
        fig.update_layout(showlegend=False)
    return fig


def system_figure(samples: pd.DataFrame, metric: str) -> go.Figure:
    fig = go.Figure()
    rows = samples[samples["metric"] == metric]
    for i, (device, points) in enumerate(rows.groupby("device", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=points["timestamp"], y=points["value"], mode="lines",
                name=str(device) or "host", line={"color": PALETTE[i % len(PALETTE)]},
            )
        )  # fmt: skip
    _layout(fig, metric.replace("_", " "), "time (UTC)", False, height=240)
    return fig


def parallel_coordinates(frame: pd.DataFrame, color: str | None) -> go.Figure:
    """One axis per numeric column, one line per run, coloured by ``color``."""
    dimensions = [
        {"label": column, "values": frame[column]}
        for column in frame.columns
        if pd.api.types.is_numeric_dtype(frame[column])
    ]
    line: dict[str, object] = {}
    if color and color in frame:
        line = {"color": frame[color], "colorscale": "Viridis", "showscale": True}
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    fig.update_layout(height=380, margin={"l": 60, "r": 60, "t": 50, "b": 20})
    return fig


def scatter(frame: pd.DataFrame, x: str, y: str, labels: Sequence[str]) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=frame[x], y=frame[y], mode="markers", text=list(labels),
            marker={"size": 11, "color": PALETTE[0], "line": {"width": 1, "color": "white"}},
            hovertemplate="%{text}<br>" + f"{x}=%{{x}}<br>{y}=%{{y}}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title=x, yaxis_title=y
    )
    return fig
