"""Handover: who owns what, what people who left still own, transfers, and project notes."""

from __future__ import annotations

import streamlit as st

from reports.format import when
from reports.markdown import to_html
from ui import actions, context, data, links
from ui.handover_view import (
    active_members,
    everything_of,
    handover_log,
    object_targets,
    orphaned_runs,
    ownership_summary,
    run_targets,
)

caller = context.caller()
people = data.people()
me = context.identity()
st.title("Handover")

members = data.members(caller)
teams = sorted(me.teams | {m.team for m in members} if me.admin else me.teams)
if not teams:
    st.info("You are not a member of any team.")
    st.stop()
wanted = st.query_params.get("team", teams[0])
team = st.selectbox(
    "Team", teams, index=teams.index(wanted) if wanted in teams else 0, key="handover.team"
)
st.query_params["team"] = team

runs = data.search(
    caller, f"team = {data.quote(team)}", "created desc",
    ("run_id", "team", "project", "name", "owner", "status", "created"), 10_000,
)  # fmt: skip
objects = [o for o in data.owned_objects(caller) if o.team == team]
active = active_members(members, team)

st.header("Who owns what", divider="gray")
summary = ownership_summary(runs, objects, members, team)
summary.insert(0, "name", summary["person"].map(people.name))
st.dataframe(summary, hide_index=True)

st.header("Runs whose owner left", divider="gray")
orphans = orphaned_runs(runs, active)
if orphans.empty:
    st.success("Every run has an owner who is still in the team.")
else:
    st.warning(
        f"{len(orphans)} runs belong to people who are no longer in {team}. They stay visible; give them a new owner."
    )
    shown = orphans.assign(owner=orphans["owner"].map(people.name))
    st.dataframe(
        shown,
        hide_index=True,
        column_order=["name", "project", "owner", "status", "created"],
        key="handover.orphans",
    )

st.header("Transfer ownership", divider="gray")
mode = st.radio(
    "What", ["Everything of a person", "Chosen items"], horizontal=True, key="handover.mode"
)
if mode == "Everything of a person":
    owners = sorted(set(summary["person"]) - {""})
    preselect = next((o for o in owners if o not in active), None)  # someone who left, if any
    leaving = st.selectbox(
        "From", owners, format_func=people.name, key="handover.from",
        index=owners.index(preselect) if preselect else 0,
    )  # fmt: skip
    chosen = everything_of(leaving, runs, objects, team) if leaving else []
    st.caption(
        f"{len(chosen)} items: the runs, projects and models {people.name(leaving or '')} owns in {team}."
    )
else:
    options = {f"run:{t.id}": (t, owner) for t, owner in run_targets(runs)}
    options |= {f"{t.kind.value}:{t.id}": (t, owner) for t, owner in object_targets(objects)}
    run_names = (
        dict(zip(runs["run_id"].astype(str), runs["name"].astype(str), strict=True))
        if not runs.empty
        else {}
    )
    picked = st.multiselect(
        "Items", list(options), key="handover.items",
        format_func=lambda k: f"{k.split(':')[0]} {run_names.get(k.split(':', 1)[1], k.split(':', 1)[1])} (owner {people.name(options[k][1])})",
    )  # fmt: skip
    chosen = [options[k] for k in picked]
with st.form("handover.transfer"):
    to_user = st.selectbox(
        "To", sorted(active), format_func=people.name, index=None, key="handover.to"
    )
    reason = st.text_input(
        "Reason",
        placeholder="Bob is leaving; Alice takes over the churn work",
        key="handover.reason",
    )
    if st.form_submit_button("Transfer ownership", type="primary"):
        with actions.report_errors("transferring"):
            moved = actions.transfer(chosen, to_user or "", reason)
            st.success(
                f"Transferred {moved} items to {people.name(to_user or '')}. Owners update once projected."
            )

st.header("Handover log", divider="gray")
team_run_names = (
    dict(zip(runs["run_id"].astype(str), runs["name"].astype(str), strict=True))
    if not runs.empty
    else {}
)
log = handover_log(
    [t for t in data.transfers(caller) if t.team == team], team_run_names, people.name
)
st.dataframe(
    log, hide_index=True, key="handover.log",
    column_config={"id": st.column_config.TextColumn("id", help="The run's id (its first 12 characters)")},
)  # fmt: skip

st.header("Project notes", divider="gray")
projects = sorted({p.project for p in data.projects(caller) if p.team == team})
if projects:
    project = st.selectbox("Project", projects, key="handover.project")
    notes = data.notes(caller, team, project)
    if notes is not None:
        st.caption(f"Last edited by {people.name(notes.updated_by)}, {when(notes.updated_at)}")
        with st.container(border=True):
            st.html(to_html(notes.body_markdown))
    with st.expander("Edit the notes"), st.form("handover.notes"):
        body = st.text_area(
            "Notes (markdown)", value=notes.body_markdown if notes else "", height=240
        )
        if st.form_submit_button("Save notes"):
            with actions.report_errors("saving the notes"):
                actions.set_notes(team, project, body)
                st.success(
                    "Saved; the new version shows once projected (the old ones stay in the history)."
                )
    st.page_link(links.PAGES["discussion"], label="Project discussion", icon=":material/forum:",
                 query_params={"project": f"{team}/{project}"})  # fmt: skip
