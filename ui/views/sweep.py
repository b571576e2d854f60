"""Sweep: a hyperparameter sweep's definition, its trials, its best trial and its charts."""

from __future__ import annotations

from typing import cast

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from query import sweep_analysis
from query.sweep_analysis import EVALUATORS, Evaluator
from reports.format import duration, md, number, when
from ui import context, links, sweep_view

caller = context.caller()
sweep_id = st.query_params.get("sweep", "")

if not sweep_id:
    st.title("Sweeps")
    found = sweep_view.listed(caller)
    if found.empty:
        st.info(
            "No sweeps yet. Start one with `cairn.sweep(objective, space=..., n_trials=...)` "
            "or `cairn sweep sweep.yaml -- python train.py`."
        )
        st.stop()
    labels = {
        str(r.run_id): f"{r.name} · {r.team}/{r.project} · {r.trials} trials"
        for r in found.itertuples()
    }
    picked = st.selectbox(
        "Open a sweep", list(labels), format_func=lambda k: labels.get(k, k), index=None,
        key="sweep.pick",
    )  # fmt: skip
    if picked:
        st.query_params["sweep"] = picked
        st.rerun()
    st.dataframe(sweep_view.sweep_list(found), hide_index=True, key="sweep.list")
    st.stop()

try:
    summary, trials = sweep_view.load(caller, sweep_id)
except CairnError as exc:
    st.error(exc.message)
    st.stop()
run, definition = summary.run, summary.definition

st.title(md(run.name or run.run_id))
st.caption(
    f"Sweep `{run.run_id}` · {md(run.team)}/{md(run.project)} · study {md(definition.study)}"
)
planned = f" of {definition.n_trials}" if definition.n_trials else ""
facts = {
    "Sampler": definition.sampler or "-",
    "Pruner": definition.pruner or "-",
    "Objectives": ", ".join(sweep_view.objective_label(definition, o) for o in definition.objectives) or "-",
    "Trials": f"{summary.trials}{planned}",
    "Status": run.status,
    "Duration": duration(run.duration_s) or "running",
}  # fmt: skip
for column, (label, value) in zip(st.columns(len(facts)), facts.items(), strict=True):
    column.caption(label)
    column.markdown(f"**{md(value)}**")
for column, state in zip(st.columns(len(summary.counts)), summary.counts, strict=True):
    column.metric(state.capitalize(), summary.counts[state])
st.page_link(links.PAGES["run"], label="Open the sweep run", icon=":material/monitoring:",
             query_params=links.run_params(run.run_id))  # fmt: skip

objective = definition.objectives[0] if definition.objectives else ""
if definition.multi_objective:
    wanted = st.query_params.get("objective", objective)
    objective = st.selectbox(
        "Objective for the charts", definition.objectives, key="sweep.objective",
        index=definition.objectives.index(wanted) if wanted in definition.objectives else 0,
    ) or objective  # fmt: skip
    st.query_params["objective"] = objective

with st.container(border=True):
    if not summary.best:
        st.markdown("**No trial has completed yet.**")
    elif not definition.multi_objective:
        best = summary.best[0]
        st.markdown(f"**Best trial #{best.number}** · {md(best.name)}")
        st.markdown(f"{md(objective)} = **{number(best.values[0])}**")
        st.caption(" · ".join(f"{md(k)} = {md(number(v))}" for k, v in best.params.items()))
        st.page_link(links.PAGES["run"], label="Open the best trial", icon=":material/star:",
                     query_params=links.run_params(best.run_id))  # fmt: skip
    else:
        st.markdown(
            f"**Pareto front: {len(summary.best)} trials** (no other trial is at least as good on every objective and better on one)"
        )
        front = pd.DataFrame(
            [{"trial": b.number, "name": b.name, **dict(zip(definition.objectives, b.values, strict=True)), **b.params}
             for b in summary.best]
        )  # fmt: skip
        st.dataframe(front, hide_index=True, key="sweep.front")

st.subheader("Trials")
selection = st.dataframe(
    sweep_view.trials_table(trials), hide_index=True, on_select="rerun",
    selection_mode="single-row", key="sweep.trials", height=min(35 * (len(trials) + 1) + 3, 500),
)  # fmt: skip
chosen = [str(trials["run_id"].iloc[i]) for i in selection.selection.rows]
if chosen:
    st.page_link(links.PAGES["run"], label="Open the selected trial", icon=":material/monitoring:",
                 query_params=links.run_params(chosen[0]))  # fmt: skip
else:
    st.caption("Select a trial to open its run.")

if not objective:
    st.stop()
_, direction = definition.direction_of(objective)
history = sweep_analysis.optimisation_history(trials, definition, objective)
left, right = st.columns(2)
if history.empty:
    left.caption("The optimisation history appears once a trial completes.")
else:
    left.plotly_chart(sweep_view.history_figure(history, objective, direction), key="sweep.history")
points = sweep_view.intermediate(caller, sweep_id, objective, summary, trials)
if points.empty:
    right.caption("No intermediate values were reported.")
else:
    right.plotly_chart(
        sweep_view.intermediate_figure(points, trials, objective), key="sweep.intermediate"
    )

if definition.multi_objective:
    st.plotly_chart(
        sweep_view.pareto_figure(trials, definition, [b.number for b in summary.best]),
        key="sweep.pareto",
    )

if definition.space and not history.empty:
    st.subheader("Parameters")
    st.plotly_chart(sweep_view.parallel_figure(trials, definition, objective), key="sweep.parallel")
    evaluator = cast(Evaluator, st.selectbox(
        "Importance evaluator", EVALUATORS, key="sweep.evaluator",
        format_func=lambda e: sweep_view.EVALUATOR_LABELS.get(e, e),
    ) or "fanova")  # fmt: skip
    try:
        importance = sweep_view.importances(caller, sweep_id, evaluator, objective, summary, trials)
    except (CairnError, ImportError) as exc:
        st.warning(f"Param importance is unavailable: {exc}")
    else:
        if importance:
            st.plotly_chart(
                sweep_view.importance_figure(importance, evaluator), key="sweep.importance"
            )
        else:
            st.caption("Param importance needs at least two complete trials.")

st.caption(f"Created {when(run.created_at)}")
with st.popover("Permalink to this sweep", icon=":material/link:"):
    st.code(
        links.permalink(context.settings().portal_url, "sweep", {"sweep": sweep_id}), language=None
    )
