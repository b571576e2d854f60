"""Run: everything one run recorded, its charts, its lineage and its discussion."""

from __future__ import annotations

from typing import Literal

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from query.lineage import Node, NodeKind
from query.progress import RunProgress
from reports.format import md, short, size
from reports.markdown import to_html
from ui import (
    branches_view,
    charts,
    context,
    data,
    discussion,
    histograms_view,
    links,
    live,
    media_view,
    registry_view,
    reproduce_view,
    run_housekeeping,
    run_picker,
    threads,
)
from ui.downloads import artifact_bytes
from ui.events import Target, TargetKind
from ui.run_view import (
    CHART_VIEWS,
    SECTIONS,
    ChartView,
    code_facts,
    environment_facts,
    metrics_table,
    overview_facts,
    params_table,
)
from ui.sweep_view import sweep_of

caller = context.caller()
people = data.people()
run_id = st.query_params.get("id", "")

if not run_id:
    st.title("Run")
    picked = run_picker.pick_run("Open a run", key="run.picker")
    if picked:
        run_picker.clear("run.picker")
        st.query_params["id"] = picked.run_id
        st.rerun()
    st.stop()

# A running run's overview, charts and summary redraw in place every second (ui/live.py); a
# finished run's page has no timer. The interval comes from an uncached status read.
every = live.interval(data.run_statuses(caller, (run_id,)).values())
try:
    comparison = data.comparison(caller, (run_id,))
except CairnError as exc:
    st.error(exc.message)
    st.stop()
run = comparison.runs[0]
identity = comparison.identities[0]
metric_keys = [m.key for m in comparison.metrics]
stale_when_finished = [lambda: data.comparison.clear(caller, (run_id,))]


def progress() -> RunProgress:
    """Status, times and metric summaries: read fresh each tick while live."""
    if every:
        return data.live_progress(caller, (run_id,))
    return RunProgress(comparison.run_ids, comparison.runs, comparison.metrics)


st.title(md(run.name or run.run_id))
if run.archived:
    st.badge("Archived", icon=":material/archive:", color="gray")
st.caption(f"`{run.run_id}` · {run.team}/{run.project}")
run_housekeeping.show(caller, run, comparison.tags[0])


def overview() -> None:
    """Status, times and host; the first tick that sees the run ended reruns the page once."""
    shown = progress().runs[0]
    live.stop_when_finished(every, [shown.status], forget=stale_when_finished)
    for column, (label, value) in zip(
        st.columns(7), overview_facts(shown, people).items(), strict=True
    ):
        column.caption(label)
        column.markdown(f"**{md(value)}**")


live.fragment(overview, every)()
facts = [
    f"git {md(short(run.git_commit, 10))} on {md(run.git_branch)}"
    if run.git_commit
    else "no git info"
]
if identity.code and identity.code.dirty:
    facts.append("with uncommitted changes")
st.markdown(" · ".join(facts))
if run.parent_run_id:
    st.page_link(links.PAGES["run"], label="Parent run", icon=":material/arrow_upward:",
                 query_params=links.run_params(run.parent_run_id))  # fmt: skip
children = data.search(
    caller,
    f"parent_run_id = {data.quote(run.run_id)}",
    "created asc",
    ("run_id", "name", "status"),
    200,
)
if not children.empty:
    with st.expander(f"{len(children)} child runs"):
        for child in children.itertuples():
            st.page_link(links.PAGES["run"], label=f"{md(str(child.name))} ({child.status})",
                         query_params=links.run_params(str(child.run_id)))  # fmt: skip
if run.sweep_id:
    st.page_link(links.PAGES["runs"], label=f"Sweep {md(run.sweep_id)}", icon=":material/grid_view:",
                 query_params={"filter": f"sweep_id = {data.quote(run.sweep_id)}"})  # fmt: skip
if sweep_run := sweep_of(run.run_id, run.parent_run_id, comparison.tags[0]):
    st.page_link(links.PAGES["sweep"], label="Open the sweep", icon=":material/tune:",
                 query_params={"sweep": sweep_run})  # fmt: skip
if run.description:
    st.html(to_html(run.description))
branches = branches_view.show(caller, run.run_id)

histogram_keys = histograms_view.keys(caller, run_id)
media_keys = media_view.keys(caller, run_id)
sections = media_view.sections(histograms_view.sections(SECTIONS, histogram_keys), media_keys)
section = st.segmented_control(
    "Section", sections, default=st.query_params.get("tab", "Charts") if st.query_params.get("tab") in sections else "Charts",
    key="run.section", label_visibility="collapsed",
) or "Charts"  # fmt: skip
st.query_params["tab"] = section

if section == "Charts":
    view = ChartView.from_params(st.query_params.to_dict(), metric_keys)
    keys_col, x_col, log_col, smooth_col = st.columns([4, 1, 1, 2])
    keys = keys_col.multiselect("Metrics", metric_keys, default=list(view.keys), key="run.keys")
    x = x_col.radio(
        "x axis", ["step", "time"], index=0 if view.x == "step" else 1, key="run.x", horizontal=True
    )
    log_y = log_col.toggle("Log scale", value=view.log_y, key="run.log")
    smoothing = smooth_col.slider(
        "Smoothing", 0.0, 0.99, value=view.smoothing, step=0.01, key="run.smooth"
    )
    view = ChartView(tuple(keys), x, log_y, smoothing)
    st.query_params.update(view.to_params())
    st.session_state.setdefault(CHART_VIEWS, {})[run_id] = view.to_params()  # Sharing links it
    with st.popover("Permalink to this chart view", icon=":material/link:"):
        st.code(
            links.permalink(
                context.settings().portal_url,
                "run",
                {"id": run_id, "tab": "Charts", **view.to_params()},
            ),
            language=None,
        )
    x_axis: Literal["step", "time"] = "time" if x == "time" else "step"
    series_args = (caller, (run_id,), view.keys, 1000, x_axis, smoothing or None)
    stale_when_finished.append(lambda: data.metric_series.clear(*series_args))

    anchored = data.comments(caller, "run", run_id)
    attempts = data.earlier_attempts(caller, run_id, view.keys) if branches.rewinds else None
    names = {c.author: people.name(c.author) for c in anchored}

    def chart_panel() -> None:
        """The charts and the summary of last values: live while the run runs (comments and
        earlier attempts are read with the page, not every tick)."""
        points = (data.live_metric_series if every else data.metric_series)(*series_args)
        for left, right in zip(view.keys[::2], [*view.keys[1::2], None], strict=False):
            for column, key in zip(st.columns(2), (left, right), strict=False):
                if key:
                    figure = charts.metric_figure(
                        points, key, {run_id: run.name}, x=x, log_y=log_y, smoothed=bool(smoothing),
                        anchors=threads.anchored(anchored, key), names=names,
                        marks=branches_view.marks(branches), attempts=attempts,
                    )  # fmt: skip
                    column.plotly_chart(figure, key=f"run.chart.{key}")
        st.subheader("Summary")
        st.dataframe(metrics_table(progress()), hide_index=True)

    live.fragment(chart_panel, every)()

elif section == histograms_view.SECTION:
    histograms_view.show(caller, run_id, histogram_keys)

elif section == media_view.SECTION:
    media_view.show_run(caller, run_id, media_keys)

elif section == "Params":
    st.dataframe(params_table(comparison), hide_index=True)
    st.subheader("Tags")
    st.dataframe(
        pd.DataFrame(sorted(comparison.tags[0].items()), columns=["tag", "value"]), hide_index=True
    )

elif section == "System":
    samples = data.system_metrics(caller, run_id)
    if samples.empty:
        st.caption("No system metrics were recorded.")
    for metric in sorted(samples["metric"].unique()) if not samples.empty else ():
        st.plotly_chart(charts.system_figure(samples, metric), key=f"run.system.{metric}")

elif section == "Artifacts":
    registry_view.show_flash()
    found = data.artifacts(caller, run_id)
    if not found:
        st.caption("No artifacts were logged.")
    for item in found:
        with st.container(border=True):
            info, action = st.columns([4, 1])
            info.markdown(
                f"**{md(item.name)}** · {item.kind} · {item.role} · {size(item.size_bytes)}"
            )
            info.caption(f"sha256 {md(item.sha256)} · {md(item.uri)}")
            try:
                content = artifact_bytes(
                    item.uri, item.sha256, context.settings().artifact_store, item.size_bytes
                )
            except CairnError as exc:
                action.caption(exc.message)
            else:
                action.download_button(
                    "Download",
                    content,
                    file_name=item.name,
                    key=f"run.download.{item.sha256}",
                    icon=":material/download:",
                )
            with action:
                registry_view.register_popover(caller, run_id, run.team, run.project, item)

elif section == "Models":
    registry_view.run_models(caller, run_id, people)

elif section == "Datasets":
    st.dataframe(
        [{"role": d.role, "name": d.name, "digest": d.digest, "uri": d.uri, "size": size(d.size_bytes), "files": d.file_count}
         for d in identity.datasets],
        hide_index=True,
    )  # fmt: skip

elif section == "Environment":
    if identity.environment is None:
        st.caption("No environment was recorded.")
    else:
        st.dataframe(environment_facts(identity.environment), hide_index=True)
        st.subheader("Packages")
        packages = pd.DataFrame(
            list(identity.environment.packages.items()), columns=["package", "version"]
        )
        st.dataframe(packages, hide_index=True)

elif section == "Code":
    if identity.code is None:
        st.caption("No code version was recorded.")
    else:
        st.dataframe(code_facts(identity.code), hide_index=True)
        st.subheader("Uncommitted changes")
        if identity.code.diff_truncated:
            st.warning(
                "The patch was cut at the capture size limit: what is shown is its beginning, "
                "and the code that ran cannot be restored from it (see Reproduce)."
            )
        if identity.code.diff:
            st.code(identity.code.diff, language="diff")
        else:
            st.caption("The working tree was clean: the commit is the whole story.")

elif section == "Lineage":
    graph = data.lineage_graph(caller, Node(NodeKind.RUN, run_id), "both", 1)
    rows = [
        {"relation": e.relation, "source": f"{e.source.kind} {short(e.source.id, 12)}", "target": f"{e.target.kind} {short(e.target.id, 12)}"}
        for e in graph.edges
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True)
    st.page_link(links.PAGES["lineage"], label="Open the lineage graph", icon=":material/account_tree:",
                 query_params={"node": f"run:{run_id}"})  # fmt: skip

elif section == "Reproduce":
    reproduce_view.show(caller, run_id)

elif section == "Discussion":
    discussion.show(
        Target(TargetKind.RUN, run_id, run.team, run.project),
        metric_keys=metric_keys,
        key=f"run.{run_id}",
    )

if section != "Discussion":
    comments_count = len(data.comments(caller, "run", run_id))
    st.caption(
        f":material/forum: {comments_count} comment{'s' if comments_count != 1 else ''} on this run: see Discussion."
    )
