"""The Run page's Histograms section: one key's distributions over the steps, as a heatmap.

Shown only for runs that logged histograms (``run.log_histogram``, ``cairn.torch.watch``). Each
step's bins are put on one shared grid (:meth:`query.histograms.HistogramSeries.on_common_bins`),
so steps whose values moved or spread still line up: x is the step, y the value, colour the
count. The step last logged is drawn beside it as bars, in its own bins. The chosen key is kept
in the URL (``hist``), like the chart view.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import plotly.graph_objects as go
import streamlit as st

from query import histograms as histogram_reads
from query.access import Caller
from query.histograms import Histogram, HistogramGrid, HistogramSeries
from ui import context

SECTION = "Histograms"
MAX_STEPS = 200  # columns of the heatmap; longer runs show evenly spaced steps
GRID_BINS = 64  # rows of the heatmap
HEIGHT = 360


@st.cache_data(ttl=30, show_spinner=False)
def keys(caller: Caller, run_id: str) -> tuple[str, ...]:
    return histogram_reads.histogram_keys(context.client(), caller, run_id)


@st.cache_data(ttl=30, show_spinner=False)
def _series(caller: Caller, run_id: str, key: str) -> HistogramSeries:
    return histogram_reads.histograms(context.client(), caller, run_id, key, max_steps=MAX_STEPS)


def sections(base: Sequence[str], histogram_keys: Sequence[str]) -> tuple[str, ...]:
    """The Run page's sections, with Histograms right after Charts when the run has any."""
    if not histogram_keys:
        return tuple(base)
    at = base.index("Charts") + 1 if "Charts" in base else len(base)
    return (*base[:at], SECTION, *base[at:])


def heatmap(grid: HistogramGrid, key: str) -> go.Figure:
    """Steps across, values up, counts as colour (empty cells left blank)."""
    counts = grid.counts.T.copy()
    counts[counts == 0] = float("nan")
    fig = go.Figure(
        go.Heatmap(
            x=list(grid.steps), y=grid.centers, z=counts, colorscale="Viridis",
            colorbar={"title": {"text": "count"}},
            hovertemplate="step %{x}<br>value %{y:.4g}<br>count %{z:.4g}<extra></extra>",
        )
    )  # fmt: skip
    _layout(fig, key, "step", "value")
    return fig


def bars(histogram: Histogram, key: str) -> go.Figure:
    """One step's histogram in its own bins."""
    bins = list(pairwise(histogram.edges))
    fig = go.Figure(
        go.Bar(
            x=[(lo + hi) / 2 for lo, hi in bins], y=list(histogram.counts),
            width=[hi - lo for lo, hi in bins],
            marker={"color": "#4C78A8"},
            hovertemplate="value %{x:.4g}<br>count %{y:.4g}<extra></extra>",
        )
    )  # fmt: skip
    _layout(fig, f"{key} at step {histogram.step}", "value", "count")
    return fig


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> None:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        height=HEIGHT,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title=x_title,
        yaxis_title=y_title,
    )


def show(caller: Caller, run_id: str, histogram_keys: Sequence[str]) -> None:
    """The section's body: pick a key, see its heatmap over steps and its latest histogram."""
    if not histogram_keys:
        st.caption("No histograms were logged.")
        return
    wanted = st.query_params.get("hist", "")
    index = list(histogram_keys).index(wanted) if wanted in histogram_keys else 0
    key = st.selectbox("Histogram", histogram_keys, index=index, key="run.histogram")
    st.query_params["hist"] = key
    found = _series(caller, run_id, key)
    if not found.histograms:
        st.caption(f"No histograms of {key} are visible.")
        return
    if found.total_steps > len(found.histograms):
        st.caption(
            f"{len(found.histograms)} of {found.total_steps} steps shown, evenly spaced "
            "(the first and the last included)."
        )
    grid_column, last_column = st.columns([3, 2])
    grid_column.plotly_chart(
        heatmap(found.on_common_bins(GRID_BINS), key), key=f"run.histogram.heatmap.{key}"
    )
    last_column.plotly_chart(bars(found.histograms[-1], key), key=f"run.histogram.last.{key}")
