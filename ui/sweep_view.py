"""Helpers of the Sweep page: its reads (cached briefly, like :mod:`ui.data`), the trials table
and the charts (optimisation history, parallel coordinates, param importance, intermediate
values, Pareto front).

Every text a person chose (run names, categorical param values, metric names) reaches plotly
through :func:`plain`: plotly renders a small HTML subset in names and labels (``<b>``,
``<a href>``), so it is escaped to show as typed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pandas.io.formats.style import Styler

from cairn_contract import sweep_record as record
from query import sweep_analysis, sweeps
from query.access import Caller
from query.sweep_analysis import Evaluator, SweepDefinition
from query.sweeps import SweepSummary
from reports.format import duration
from reports.format import number as compact
from ui import context
from ui.charts import PALETTE

STATE_COLOURS = {
    "complete": "#54A24B",
    "pruned": "#F58518",
    "failed": "#E45756",
    "running": "#4C78A8",
}
EVALUATOR_LABELS: dict[str, str] = {
    "fanova": "fANOVA",
    "ped_anova": "PED-ANOVA",
    "mean_decrease_impurity": "Mean decrease impurity",
}
INTERMEDIATE_POINTS = 200  # per trial
HEIGHT = 340


# --- reads ---------------------------------------------------------------------------------------


@st.cache_data(ttl=15, show_spinner=False)
def listed(caller: Caller) -> pd.DataFrame:
    return sweeps.sweeps(context.client(), caller)


@st.cache_data(ttl=15, show_spinner=False)
def load(caller: Caller, sweep_run_id: str) -> tuple[SweepSummary, pd.DataFrame]:
    return sweeps.sweep_with_trials(context.client(), caller, sweep_run_id)


# The charts' reads take the trials the page already has (:func:`load`): one read of the sweep
# per page, not one per chart (each is several statements). The sweep id and objective key the
# caches; the trials are not hashed (they come from ``load``'s cache of the same lifetime).


@st.cache_data(ttl=15, show_spinner=False)
def intermediate(
    caller: Caller, sweep_run_id: str, objective: str, _summary: SweepSummary, _trials: pd.DataFrame
) -> pd.DataFrame:
    return sweeps.trial_points(
        context.client(), caller, _trials, _summary.definition, objective=objective,
        max_points=INTERMEDIATE_POINTS,
    )  # fmt: skip


@st.cache_data(ttl=60, show_spinner="Computing param importance…")
def importances(
    caller: Caller,
    sweep_run_id: str,
    evaluator: Evaluator,
    objective: str,
    _summary: SweepSummary,
    _trials: pd.DataFrame,
) -> dict[str, float]:
    sweep_analysis.check_evaluator(evaluator)
    return sweep_analysis.param_importances(
        _trials, _summary.definition, evaluator=evaluator, objective=objective
    )


# --- what the page decides ------------------------------------------------------------------------


def sweep_of(run_id: str, parent_run_id: str, tags: Mapping[str, str]) -> str | None:
    """The sweep a run's page should link to: itself if it is a sweep, its parent if it is a
    trial, else None."""
    role = tags.get(record.ROLE_TAG)
    if role == record.ROLE_SWEEP:
        return run_id
    if role == record.ROLE_TRIAL and parent_run_id:
        return parent_run_id
    return None


def objective_label(definition: SweepDefinition, objective: str) -> str:
    """``val_loss ↓`` / ``accuracy ↑``."""
    _, direction = definition.direction_of(objective)
    return f"{objective} {'↓' if direction == 'minimize' else '↑'}"


def plain(text: object) -> str:
    """Text for plotly labels and names, shown literally."""
    return html.escape(str(text), quote=False)


def _missing(value: object) -> bool:
    return (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float | np.floating) and math.isnan(value))
    )


def cell(value: object) -> str:
    """A trials-table cell as people read it: empty when missing, numbers compact (``0.03``,
    ``0.8884``), times to the second in UTC."""
    if _missing(value):
        return ""
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return compact(float(value))
    return compact(value)


def trials_table(trials: pd.DataFrame) -> Styler:
    """The trials as shown: run id hidden, the state coloured, numbers compact, times to the
    second, durations in words, nothing for a missing value; the values underneath stay
    numbers and times, so those columns sort as such (a column with gaps sorts as text)."""
    shown = trials.drop(columns=["run_id"]).rename(columns={"duration_s": "duration"})
    short = [c.removeprefix("params.").removeprefix("metrics.") for c in shown.columns]
    if len(set(short)) == len(short):  # a param and an objective of the same name keep prefixes
        shown.columns = pd.Index(short)

    def colour(state: object) -> str:
        found = STATE_COLOURS.get(str(state))
        return f"color: {found}; font-weight: 600" if found else ""

    formats: dict[str, Any] = dict.fromkeys(shown.columns, cell)
    formats["duration"] = duration
    # The grid draws a missing value as "None" whatever the format says: a column with gaps
    # (a running trial's end, a pruned step) is shown as its formatted text instead.
    for column, show in list(formats.items()):
        if shown[column].isna().any():
            shown[column] = [show(value) if not _missing(value) else "" for value in shown[column]]
            formats[column] = str
    return shown.style.format(formats, na_rep="").map(colour, subset=["state"])


LIST_COLUMNS = ["name", "project", "objectives", "trials", "complete", "pruned", "failed",
                "running", "best_value", "status", "created"]  # fmt: skip


def sweep_list(found: pd.DataFrame) -> pd.DataFrame:
    """The sweeps list: what tells sweeps apart, narrow enough for the page (the sampler, pruner
    and study are on each sweep's own page)."""
    shown = found.assign(
        project=found["team"].astype(str) + "/" + found["project"].astype(str),
        objectives=[
            ", ".join(
                f"{o} {'↓' if d == 'minimize' else '↑'}" for o, d in zip(objs, dirs, strict=False)
            )
            for objs, dirs in zip(found["objectives"], found["directions"], strict=True)
        ],
        best_value=[compact(v) for v in found["best_value"]],
        created=[cell(t) for t in found["created"]],
    )
    return shown[[c for c in LIST_COLUMNS if c in shown.columns]]


# --- charts --------------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title={"text": plain(title), "font": {"size": 14}, "x": 0, "xanchor": "left"},
        height=HEIGHT,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title=plain(x_title),
        yaxis_title=plain(y_title),
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
    )
    return fig


def history_figure(history: pd.DataFrame, objective: str, direction: str) -> go.Figure:
    """Each complete trial's value by trial number, and the best value so far as a step line."""
    labels = [
        f"#{n} {plain(name)}" for n, name in zip(history["number"], history["name"], strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=history["number"], y=history["value"], mode="markers", name="trial value",
            marker={"color": PALETTE[0], "size": 8}, text=labels,
            hovertemplate="%{text}<br>value=%{y}<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=history["number"], y=history["best_value"], mode="lines", name="best so far",
            line={"color": PALETTE[3], "shape": "hv", "width": 2},
        )
    )  # fmt: skip
    arrow = "lower" if direction == "minimize" else "higher"
    return _layout(fig, f"Optimisation history ({arrow} is better)", "trial", objective)


def parallel_figure(trials: pd.DataFrame, definition: SweepDefinition, objective: str) -> go.Figure:
    """One line per complete trial through its params to the objective, coloured by it.
    Categorical params are spaced evenly with their choices as ticks; log-scaled ones are
    drawn on a log10 axis."""
    column = "metrics." + objective
    done = trials[(trials["state"] == "complete") & trials[column].notna()]
    dimensions: list[dict[str, Any]] = []
    for spec in definition.space:
        values = done[spec.column]
        if spec.kind == "categorical":
            choices = list(spec.choices)
            codes = [_choice_index(choices, v) for v in values]
            dimensions.append(
                {"label": plain(spec.name), "values": codes, "tickvals": list(range(len(choices))),
                 "ticktext": [plain(c) for c in choices]}
            )  # fmt: skip
        elif spec.log:
            logs = np.log10(values.astype("float64").to_numpy())
            dimensions.append({"label": plain(f"{spec.name} (log10)"), "values": logs})
        else:
            dimensions.append({"label": plain(spec.name), "values": values.astype("float64")})
    dimensions.append({"label": plain(objective), "values": done[column]})
    fig = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={"color": done[column], "colorscale": "Viridis", "showscale": True},
        )
    )
    fig.update_layout(height=HEIGHT + 40, margin={"l": 60, "r": 60, "t": 50, "b": 20})
    return fig


def _choice_index(choices: list[Any], value: Any) -> float:
    for i, choice in enumerate(choices):
        if type(choice) is type(value) and choice == value:
            return float(i)
    return math.nan


def importance_figure(found: Mapping[str, float], evaluator: str) -> go.Figure:
    names = list(found)[::-1]  # most important at the top
    fig = go.Figure(
        go.Bar(
            x=[found[n] for n in names], y=[plain(n) for n in names], orientation="h",
            marker={"color": PALETTE[0]}, hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )  # fmt: skip
    label = EVALUATOR_LABELS.get(evaluator, evaluator)
    return _layout(fig, f"Param importance ({label})", "importance", "")


def intermediate_figure(points: pd.DataFrame, trials: pd.DataFrame, objective: str) -> go.Figure:
    """The reported values per trial by step, coloured by state; a pruned trial ends in a cross
    at the step it was stopped."""
    names = dict(zip(trials["run_id"], trials["name"], strict=True))
    fig = go.Figure()
    shown_states: set[str] = set()
    for (number, run_id, state), curve in points.groupby(["number", "run_id", "state"], sort=True):
        state = str(state)
        pruned = state == "pruned"
        fig.add_trace(
            go.Scatter(
                x=curve["step"], y=curve["value"], mode="lines", name=state, legendgroup=state,
                showlegend=state not in shown_states,
                line={"color": STATE_COLOURS.get(state, PALETTE[-1]), "width": 1.5,
                      "dash": "dot" if pruned else "solid"},
                opacity=0.9 if pruned else 0.6,
                text=[f"#{number} {plain(names.get(run_id, run_id))} ({state})"] * len(curve),
                hovertemplate="%{text}<br>step=%{x}<br>value=%{y}<extra></extra>",
            )
        )  # fmt: skip
        shown_states.add(state)
        if pruned and len(curve):
            fig.add_trace(
                go.Scatter(
                    x=[curve["step"].iloc[-1]], y=[curve["value"].iloc[-1]], mode="markers",
                    marker={"symbol": "x", "size": 10, "color": STATE_COLOURS["pruned"]},
                    showlegend=False, legendgroup=state, hoverinfo="skip",
                )
            )  # fmt: skip
    return _layout(
        fig, "Intermediate values (pruned trials dotted, stopped at x)", "step", objective
    )


def pareto_figure(trials: pd.DataFrame, definition: SweepDefinition, front: list[int]) -> go.Figure:
    """The complete trials on the first two objectives, the Pareto front highlighted."""
    x_name, y_name = definition.objectives[:2]
    x_col, y_col = "metrics." + x_name, "metrics." + y_name
    done = trials[(trials["state"] == "complete") & trials[x_col].notna() & trials[y_col].notna()]
    on_front = done["number"].isin(front)
    fig = go.Figure()
    for mask, label, colour in (
        (~on_front, "dominated", PALETTE[9]),
        (on_front, "Pareto front", PALETTE[3]),
    ):
        part = done[mask]
        fig.add_trace(
            go.Scatter(
                x=part[x_col], y=part[y_col], mode="markers", name=label,
                marker={"color": colour, "size": 10},
                text=[f"#{n} {plain(name)}" for n, name in zip(part["number"], part["name"], strict=True)],
                hovertemplate="%{text}<br>%{x}, %{y}<extra></extra>",
            )
        )  # fmt: skip
    return _layout(
        fig,
        "Pareto front",
        objective_label(definition, x_name),
        objective_label(definition, y_name),
    )
