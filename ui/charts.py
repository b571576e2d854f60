"""Plotly figures: metric curves (already downsampled by ``query.series``) and comparisons.

Curves are SVG lines up to a point budget and WebGL beyond it (see :data:`WEBGL_POINTS`). Every
chart of runs has a legend (clicking an entry hides that run; beyond :data:`LEGEND_MAX_RUNS` runs
it stands right of the plot and scrolls); each run keeps one colour on every chart of a page
(:func:`run_colors`). Comments anchored on a metric's step range are shaded bands on its chart.
User text (run names, param values) is shown literally (:func:`plain`).
"""

from __future__ import annotations

import colorsys
import html
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
LEGEND_MAX_RUNS = 12  # beyond this many entries the legend moves right of the plot and scrolls
# Run colours (run_colors): HUES hues, consecutive ones far apart on the wheel, then the same hues
# again a step lighter or darker: no colour repeats within 100 runs, none of its hue within 20.
HUES = 20
HUE_STRIDE = 7  # coprime with HUES: visits every hue, 126 degrees between neighbours
LIGHTNESS = (0.45, 0.30, 0.62, 0.37, 0.54)
SATURATION = (0.70, 0.80, 0.65, 0.75, 0.60)


def run_colors(count: int) -> tuple[str, ...]:
    """``count`` distinct colours for runs or groups, in order (``#rrggbb``): hue cycling with
    lightness steps, so the first 20 have 20 hues 18 degrees apart or more and up to 100 stay
    distinct; beyond 100 they repeat."""
    out = []
    for i in range(count):
        cycle = (i // HUES) % len(LIGHTNESS)
        hue = ((i * HUE_STRIDE) % HUES) / HUES
        r, g, b = colorsys.hls_to_rgb(hue, LIGHTNESS[cycle], SATURATION[cycle])
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return tuple(out)


def plain(text: object) -> str:
    """Text for plotly names, labels and tooltips, shown literally (plotly reads a few HTML tags
    in them, links included)."""
    return html.escape(str(text), quote=False)


def _legend(fig: go.Figure, entries: int) -> None:
    """A legend for every chart: above the plot for a few entries, right of it (scrolling) for
    many. Clicking an entry hides its run; a double click shows only that run."""
    if entries > LEGEND_MAX_RUNS:
        fig.update_layout(
            showlegend=True,
            legend={"orientation": "v", "yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02,
                    "font": {"size": 10}, "itemclick": "toggle", "itemdoubleclick": "toggleothers"},
        )  # fmt: skip
    else:
        fig.update_layout(showlegend=True)


def _scatter(points: int) -> Callable[..., Any]:
    """The trace type for a chart of ``points`` points."""
    trace: Callable[..., Any] = go.Scattergl if points > WEBGL_POINTS else go.Scatter
    return trace


def _layout(fig: go.Figure, title: str, x_title: str, log_y: bool, height: int = HEIGHT) -> None:
    fig.update_layout(
        title={"text": plain(title), "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 0.98},
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
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """One metric across runs: a line per run (labels by run id, colours by run id from
    ``colors``, else :func:`run_colors` in ``labels``' order); with ``smoothed``, the EMA
    line solid over the raw one faded. ``anchors`` are comments shaded on their step range;
    ``marks`` (step, label) are vertical lines (a fork step, rewind points); ``attempts`` (the
    columns of ``query.branches.earlier_attempts``) are drawn dotted and grey, per attempt."""
    fig = go.Figure()
    series = points[points["key"] == key]
    x_column = "step" if x == "step" else "timestamp"
    trace = _scatter(len(series) * (2 if smoothed else 1))
    palette = colors or dict(zip(labels, run_colors(len(labels)), strict=True))
    order = {run_id: index for index, run_id in enumerate(labels)}  # legend in the page's order
    by_run = sorted(series.groupby("run_id", sort=False), key=lambda g: order.get(str(g[0]), 1e9))
    for i, (run_id, run_points) in enumerate(by_run):
        color = palette.get(str(run_id), PALETTE[i % len(PALETTE)])
        label = plain(labels.get(str(run_id), str(run_id)))
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
    _legend(fig, series["run_id"].nunique())
    return fig


def band_figure(
    bands: pd.DataFrame,
    key: str,
    colors: Mapping[str, str],
    *,
    x: str = "step",
    log_y: bool = False,
    spread: str = "minmax",
) -> go.Figure:
    """Groups of runs on one metric: each group's mean line over a shaded band (``minmax``: the
    group's lowest to highest run, ``std``: mean ± one standard deviation); ``bands`` has the
    columns of :func:`ui.compare_groups.bands`."""
    fig = go.Figure()
    for group, rows in bands.groupby("group", sort=False):
        color = colors.get(str(group), PALETTE[0])
        label = plain(f"{group} ({int(rows['members'].iloc[0])} runs)")
        low, high = (rows["lo"], rows["hi"]) if spread == "minmax" else (
            rows["mean"] - rows["std"], rows["mean"] + rows["std"])  # fmt: skip
        fig.add_trace(
            go.Scatter(x=rows["x"], y=high, mode="lines", line={"width": 0}, hoverinfo="skip",
                       showlegend=False, legendgroup=label)
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=rows["x"], y=low, mode="lines", line={"width": 0}, fill="tonexty",
                       fillcolor=_fade(color), hoverinfo="skip", showlegend=False,
                       legendgroup=label)
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=rows["x"], y=rows["mean"], mode="lines", name=label,
                       line={"color": color, "width": 2}, legendgroup=label)
        )  # fmt: skip
    _layout(fig, f"{key} · mean and {'min-max' if spread == 'minmax' else '± std'}",
            "step" if x == "step" else "time (UTC)", log_y)  # fmt: skip
    _legend(fig, bands["group"].nunique() if not bands.empty else 0)
    return fig


def _fade(color: str, alpha: float = 0.2) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


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
    """One axis per column, one line per run, coloured by ``color``: numeric columns as they
    are, any other column (a string param such as ``optimizer``) as a categorical axis with one
    tick per value, in sorted order."""
    dimensions: list[dict[str, object]] = []
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            dimensions.append({"label": plain(column), "values": frame[column]})
            continue
        values = frame[column].astype(str)
        categories = sorted(set(values))
        codes = {value: index for index, value in enumerate(categories)}
        dimensions.append(
            {"label": plain(column), "values": [codes[v] for v in values],
             "tickvals": list(range(len(categories))),
             "ticktext": [plain(c) for c in categories],
             "range": [-0.5, len(categories) - 0.5] if len(categories) == 1 else [0, len(categories) - 1]}
        )  # fmt: skip
    line: dict[str, object] = {}
    if color and color in frame:
        line = {"color": frame[color], "colorscale": "Viridis", "showscale": True}
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    fig.update_layout(height=380, margin={"l": 60, "r": 60, "t": 50, "b": 20})
    return fig


def scatter(frame: pd.DataFrame, x: str, y: str, labels: Sequence[str]) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=frame[x], y=frame[y], mode="markers", text=[plain(label) for label in labels],
            marker={"size": 11, "color": PALETTE[0], "line": {"width": 1, "color": "white"}},
            hovertemplate="%{text}<br>" + f"{x}=%{{x}}<br>{y}=%{{y}}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title=x, yaxis_title=y
    )
    return fig
