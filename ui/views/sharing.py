"""Sharing: permalinks for runs, comparisons and chart views; read access for another team."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from reports.format import md, when
from ui import actions, context, data, links, run_picker
from ui.events import Target, TargetKind
from ui.run_view import CHART_VIEWS, chart_link_params

caller = context.caller()
me = context.identity()
people = data.people()
base = context.settings().portal_url
st.title("Sharing")

st.header("Permalinks", divider="gray")
st.markdown(
    "Every page keeps its state in its address, so the address bar is always a permalink: "
    "filters and columns of the Runs table, the runs and charts of a comparison, a run's chart "
    "view. People who open one see it if they may see the runs (their team's, or shared)."
)
run_col, compare_col = st.columns(2)
with run_col:
    one = run_picker.pick_run("A run", key="sharing.run")
    if one:
        st.code(links.permalink(base, "run", links.run_params(one.run_id)), language=None)
        shown = st.session_state.get(CHART_VIEWS, {})
        st.caption(
            "Its charts, as you last set them up on its Run page:"
            if one.run_id in shown
            else "Its charts (as its Run page first shows them; set them up there to link that):"
        )
        chart = chart_link_params(one.run_id, shown, data.metric_keys(caller, (one.run_id,)))
        st.code(links.permalink(base, "run", chart), language=None)
with compare_col:
    several = run_picker.pick_runs("A comparison", key="sharing.compare")
    if len(several) >= 2:
        ids = [run.run_id for run in several]
        st.code(links.permalink(base, "compare", links.compare_params(ids)), language=None)

st.header("Share with another team", divider="gray")
own_projects = sorted(
    {(p.team, p.project) for p in data.projects(caller) if me.admin or p.team in me.teams}
)
what = st.radio(
    "What", ["Runs", "A whole project (its current runs)"], horizontal=True, key="sharing.what"
)
if what == "Runs":
    chosen_runs = run_picker.pick_runs(
        "Runs", key="sharing.runs", teams=None if me.admin else me.teams
    )
    targets = [Target(TargetKind.RUN, run.run_id, run.team, run.project) for run in chosen_runs]
else:
    project = st.selectbox(
        "Project", own_projects, format_func=lambda p: f"{p[0]}/{p[1]}", key="sharing.project"
    )
    targets = []
    if project:
        runs = data.search(
            caller,
            links.project_filter(*project),
            "created desc",
            ("run_id", "team", "project"),
            10_000,
        )
        targets = [
            Target(TargetKind.RUN, str(r.run_id), str(r.team), str(r.project))
            for r in runs.itertuples()
        ]
        st.caption(f"{len(targets)} runs; runs started later are not included.")
with st.form("sharing.grant"):
    kind_col, grantee_col, access_col = st.columns([1, 2, 1])
    grantee_kind = kind_col.selectbox("With a", ["team", "user"], key="sharing.kind")
    grantee = grantee_col.text_input(
        "Team slug or user id", placeholder="vision", key="sharing.grantee"
    )
    access = access_col.selectbox("Access", ["view", "comment"], key="sharing.access")
    note = st.text_input("Note", placeholder="for the model review", key="sharing.note")
    if st.form_submit_button("Share", type="primary"):
        with actions.report_errors("sharing"):
            shared = actions.share(targets, grantee_kind, grantee, access, note)
            # Show the list as it is after sharing: wait (briefly) until the store has it.
            actions.wait_for_shares(caller, targets, grantee_kind, grantee.strip())
            st.success(f"Shared {shared} runs with {grantee_kind} {grantee}.")

st.header("Current shares", divider="gray")
shares = data.shares(caller)
names = data.run_summaries(caller, [s.target_id for s in shares if s.target_kind == "run"])
run_names = {str(r.run_id): str(r.name) for r in names.itertuples()}
given = [s for s in shares if me.admin or s.team in me.teams]
received = [s for s in shares if s not in given]
st.subheader("Shared by your teams")
for share in given:
    item, who, action = st.columns([3, 2, 1])
    item.markdown(
        f"{share.target_kind} **{md(run_names.get(share.target_id, share.target_id[:12]))}** ({md(share.team)}/{md(share.project)})"
    )
    who.markdown(
        f"{share.grantee_kind} {md(share.grantee_id)} · {share.access} · by {md(people.name(share.shared_by))}, {when(share.updated_at)}"
    )
    if share.target_kind == "run" and action.button(
        "Revoke", key=f"sharing.revoke.{share.target_id}.{share.grantee_kind}.{share.grantee_id}"
    ):
        with actions.report_errors("revoking"):
            actions.unshare(
                Target(TargetKind.RUN, share.target_id, share.team, share.project),
                share.grantee_kind,
                share.grantee_id,
            )
            st.success("Revoked; access ends once projected.")
if not given:
    st.caption("Nothing shared yet.")
st.subheader("Shared with you")
st.dataframe(
    pd.DataFrame([{"what": f"{s.target_kind} {run_names.get(s.target_id, s.target_id[:12])}", "from team": s.team,
                   "access": s.access, "since": when(s.updated_at)} for s in received]),
    hide_index=True,
)  # fmt: skip
