"""Projects: the caller's teams and projects, with what happened lately, and a search box."""

from __future__ import annotations

import streamlit as st

from reports.format import ago, md
from reports.markdown import to_html, to_text
from ui import context, data, links
from ui.projects_view import group_by_team, matches

caller = context.caller()
people = data.people()

st.title("Projects")
query = st.text_input(
    "Search projects and runs",
    value=st.query_params.get("q", ""),
    placeholder="churn, xgb-lr0.1, resnet …",
    key="projects.q",
)
st.query_params["q"] = query

projects = [p for p in data.projects(caller) if matches(p, query)]
if not projects:
    st.info("No project matches." if query else "No projects yet: start a run with the SDK.")

for team, team_projects in group_by_team(projects, caller.teams):
    shared_note = "" if team in caller.teams or caller.admin else " · shared with you"
    st.header(f"{team}{shared_note}", divider="gray")
    for row_start in range(0, len(team_projects), 3):
        for column, project in zip(
            st.columns(3), team_projects[row_start : row_start + 3], strict=False
        ):
            with column, st.container(border=True):
                st.subheader(md(project.display_name))
                st.caption(f"`{project.team}/{project.project}`")
                if project.description:
                    st.html(to_html(project.description))
                runs_col, week_col = st.columns(2)
                runs_col.metric("Runs", project.runs)
                week_col.metric("This week", project.runs_since)
                if project.best_model:
                    st.markdown(
                        f":material/deployed_code: **{md(project.best_model)}** "
                        f"v{project.best_model_version} in production"
                    )
                if project.last_comment_at:
                    st.markdown(
                        f":material/forum: {md(people.name(project.last_comment_author))}, "
                        f"{ago(project.last_comment_at)}: _{md(to_text(project.last_comment_excerpt))}_"
                    )
                filter_text = links.project_filter(project.team, project.project)
                go_runs, go_talk, go_models = st.columns(3)
                go_runs.page_link(
                    links.PAGES["runs"], label="Runs", icon=":material/table_rows:",
                    query_params={"filter": filter_text},
                )  # fmt: skip
                go_talk.page_link(
                    links.PAGES["discussion"], label="Discussion", icon=":material/forum:",
                    query_params={"project": f"{project.team}/{project.project}"},
                )  # fmt: skip
                go_models.page_link(
                    links.PAGES["models"], label="Models", icon=":material/deployed_code:"
                )

if query:
    st.header("Runs matching the search", divider="gray")
    found = data.search(
        caller,
        f"name ilike {data.quote('%' + query + '%')}",
        "created desc",
        ("run_id", "team", "project", "name", "owner", "status", "created"),
        20,
    )
    if found.empty:
        st.caption("No run names match.")
    for run in found.itertuples():
        st.page_link(
            links.PAGES["run"],
            label=f"{md(str(run.name))} · {md(str(run.team))}/{md(str(run.project))} · "
            f"{md(people.name(str(run.owner)))} · {run.status}",
            icon=":material/monitoring:",
            query_params={"id": str(run.run_id)},
        )
