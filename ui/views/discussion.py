"""Discussion: a project's thread, every comment on anything in it, and its decisions."""

from __future__ import annotations

import streamlit as st

from reports.format import ago, md, when
from reports.markdown import MENTION_CSS, to_html
from ui import actions, context, data, discussion, links, run_picker
from ui.events import Target

caller = context.caller()
people = data.people()
st.title("Discussion")

projects = {f"{p.team}/{p.project}": p for p in data.projects(caller)}
if not projects:
    st.info("No projects yet.")
    st.stop()
wanted = st.query_params.get("project", "")
choice = st.selectbox(
    "Project", list(projects), index=list(projects).index(wanted) if wanted in projects else 0,
    format_func=lambda k: f"{projects[k].display_name} ({k})", key="discussion.project",
)  # fmt: skip
st.query_params["project"] = choice
project = projects[choice]
target = Target.project_of(project.team, project.project)

everything_tab, thread_tab, decisions_tab = st.tabs(
    ["Everything said", "Project thread", "Decisions"]
)

with thread_tab:
    discussion.show(target, key=f"discussion.{choice}", title=f"{project.display_name}")

with everything_tab:
    st.html(f"<style>{MENTION_CSS}</style>")
    mine = st.toggle("Only comments mentioning me", key="discussion.mine")
    comments = data.project_comments(caller, project.team, project.project)
    runs = data.run_summaries(caller, [c.target_id for c in comments if c.target_kind == "run"])
    run_names = {str(r.run_id): str(r.name) for r in runs.itertuples()}
    shown = [c for c in comments if not mine or caller.user_id in c.mentions]
    if not shown:
        st.caption("Nothing yet.")
    for comment in shown:
        with st.container(border=True):
            where = {"run": f"run {run_names.get(comment.target_id, comment.target_id[:8])}",
                     "model": f"model {comment.target_id}", "project": "the project"}.get(comment.target_kind, comment.target_kind)  # fmt: skip
            st.markdown(
                f"**{md(people.name(comment.author))}** on {md(where)} · {ago(comment.created_at)}",
                help=when(comment.created_at),
            )
            if comment.deleted:
                st.caption(f"Deleted by {people.name(comment.deleted_by)}.")
            else:
                st.html(to_html(comment.body_markdown))
            if comment.target_kind == "run":
                st.page_link(links.PAGES["run"], label="Open the run's discussion", icon=":material/forum:",
                             query_params={"id": comment.target_id, "tab": "Discussion"})  # fmt: skip
            elif comment.target_kind == "model":
                st.page_link(links.PAGES["models"], label="Open the model", icon=":material/deployed_code:",
                             query_params={"model": comment.target_id})  # fmt: skip

with decisions_tab:
    decided = [d for d in data.decisions(caller, project=project.project) if d.team == project.team]
    about_runs = data.run_summaries(caller, sorted({r for d in decided for r in d.run_ids}))
    decided_names = {str(r.run_id): str(r.name) for r in about_runs.itertuples()}
    for decision in decided:
        with st.container(border=True):
            st.markdown(f"### {md(decision.title)}")
            st.caption(f"{md(people.name(decision.author))} · {when(decision.decided_at)}")
            st.html(to_html(decision.body_markdown))
            for run_id in decision.run_ids:
                st.page_link(
                    links.PAGES["run"],
                    label=f"run {md(decided_names.get(run_id) or run_id[:8])}",
                    query_params={"id": run_id},
                    help=f"run id {run_id}",
                )
    st.markdown("**Record a decision** (provenance reports quote decisions about a model's runs)")
    # The run search commits as one types, which a form would hold back: it stands above it.
    about_key = f"discussion.about.{choice}"
    about = run_picker.pick_runs(
        "About these runs", key=about_key, project=(project.team, project.project)
    )
    with st.form("discussion.decide", clear_on_submit=True):
        title = st.text_input(
            "Decision", placeholder="Ship xgb-lr0.1-d6 as v2", key="discussion.decide.title"
        )
        body = st.text_area("Why", placeholder="Evidence, alternatives considered, who agreed …")
        if st.form_submit_button("Record decision", type="primary"):
            with actions.report_errors("recording the decision"):
                actions.record_decision(target, title, body, [run.run_id for run in about])
                run_picker.clear(about_key)
                st.success("Decision recorded; it appears here once projected.")
