"""Runs: every run the caller may see as a workspace: filter (typed or built per column), chosen
columns with readable headers, sort, grouping, chart panels of the selected or shown runs,
downloads; names open runs. While a shown run is running, the table and panels redraw in place
(ui/live.py); when none is, a light check notices runs started meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from cairn_contract.errors import ValidationError
from ui import context, data, links, live, runs_charts, runs_columns, runs_filters, saved_views
from ui.runs_charts import ChartsView
from ui.runs_table import (
    display_frame,
    export_frame,
    group_config,
    table_config,
    to_csv,
    to_parquet,
)
from ui.runs_view import LIMITS, RunsView, group_table, order_spec

WATCH_S = 5.0  # how often a page with no running run checks whether a run was started
# A live table of more rows than this redraws every LARGE_TABLE_S instead of every second:
# reading and sending 10,000 rows each second would keep the page (and the store) busy.
LARGE_TABLE_ROWS = 1_000
LARGE_TABLE_S = 10.0

caller = context.caller()
people = data.people()
params = saved_views.opened_params(st.query_params.to_dict())  # runs?view=<id>
view = RunsView.from_params(params)
charts = ChartsView.from_params(params)
tz = st.context.timezone or "UTC"
metric_keys = data.known_keys(caller, "metrics")
param_keys = data.known_keys(caller, "params")
choices = runs_columns.choices(param_keys, data.known_keys(caller, "tags"), metric_keys)
choices += runs_columns.valid(c for c in view.columns if c not in choices)  # keys new since
defaults = runs_columns.default_columns(
    param_keys, metric_keys, saved_views.default_columns(caller)
)

st.title("Runs")
views_slot = st.container()  # saved views: filled once the state is known
if "runs.filter" not in st.session_state:
    st.session_state["runs.filter"] = view.filter


def add_clause() -> None:
    """The filter builder's button: append its clause to the filter text (before the rerun)."""
    state = st.session_state
    try:
        clause = runs_filters.clause(
            state["runs.fcol"], state["runs.fop"], state.get("runs.fval", "")
        )
        state["runs.filter"] = runs_filters.append(state["runs.filter"], clause)
        state["runs.ferror"] = ""
    except ValidationError as exc:
        state["runs.ferror"] = exc.message


filter_col, builder_col = st.columns([6, 1], vertical_alignment="bottom")
filter_text = filter_col.text_input(
    "Filter",
    placeholder="params.learning_rate < 0.2 and metrics.val/auc > 0.9 and status = 'finished'",
    help="Fields: status, owner, name, project, created, duration, params.<key>, "
    "metrics.<key> (last value), metrics_min./metrics_max.<key>, tags.<key>. "
    "Operators: = != < <= > >= in (...) like ilike 'is null', combined with and/or/not.",
    key="runs.filter",
)
with builder_col.popover("Filter a column", icon=":material/filter_alt:", use_container_width=True):
    column = st.selectbox("Column", choices, format_func=runs_columns.choice_label, key="runs.fcol")
    st.selectbox("Operator", runs_filters.operators(column), key="runs.fop")
    if st.session_state.get("runs.fop") not in runs_filters.NO_VALUE:
        st.text_input("Value", key="runs.fval", placeholder="0.9, adam, 2026-12-01, a, b")
    st.button("Add to filter", on_click=add_clause, key="runs.fadd", type="primary")
    if st.session_state.get("runs.ferror"):
        st.error(st.session_state["runs.ferror"])

columns_col, sort_col, order_col, group_col, limit_col = st.columns([4, 2, 1, 2, 1])
shown_columns = view.columns or defaults
columns = columns_col.multiselect(
    "Columns", choices, default=[c for c in shown_columns if c in choices],
    format_func=runs_columns.choice_label, key="runs.columns",
)  # fmt: skip
columns = list(runs_columns.with_name(columns))
sortable = list(dict.fromkeys([view.sort_column, *columns, "created", "name"]))
sort_by = sort_col.selectbox(
    "Sort by", sortable, index=0, format_func=runs_columns.choice_label, key="runs.sort"
)
descending = order_col.toggle("Desc", value=view.descending, key="runs.desc")
group_options = [
    "",
    "status",
    "owner",
    "project",
    "sweep_id",
    *(c for c in choices if c.startswith(("params.", "tags."))),
]
group_by = group_col.selectbox(
    "Group by", group_options, index=group_options.index(view.group_by) if view.group_by in group_options else 0,
    format_func=lambda c: runs_columns.choice_label(c) if c else "(no grouping)", key="runs.group",
)  # fmt: skip
limit = limit_col.selectbox(
    "Show", LIMITS, index=LIMITS.index(view.limit), format_func=lambda n: f"{n:,}", key="runs.limit"
)

st.subheader("Charts")
keys_col, x_col, smooth_col, log_col = st.columns([4, 2, 2, 1], vertical_alignment="bottom")
chart_keys = keys_col.multiselect(
    "Metrics", metric_keys, default=[k for k in charts.keys or runs_charts.default_keys(columns, metric_keys) if k in metric_keys],
    max_selections=runs_charts.MAX_PANELS, key="runs.ckeys",
)  # fmt: skip
x_options = [*runs_charts.X_AXES, *(runs_charts.METRIC_X + k for k in metric_keys)]
chart_x = x_col.selectbox(
    "X axis", x_options, index=x_options.index(charts.x) if charts.x in x_options else 0,
    format_func=runs_charts.x_label, key="runs.cx",
)  # fmt: skip
chart_smooth = smooth_col.slider(
    "Smoothing", 0.0, 0.99, charts.smooth, 0.01, key="runs.csmooth"
)  # fmt: skip
chart_log = log_col.toggle("Log y", value=charts.log, key="runs.clog")

view = RunsView(
    filter_text.strip(),
    () if tuple(columns) == runs_columns.with_name(defaults) else tuple(columns),
    order_spec(sort_by, descending),
    group_by,
    limit,
)
default_chart_keys = runs_charts.default_keys(columns, metric_keys)
charts = ChartsView(
    () if tuple(chart_keys) == default_chart_keys else tuple(chart_keys),
    chart_x,
    chart_log,
    chart_smooth,
)
st.query_params.from_dict({**view.to_params(), **charts.to_params()})
with views_slot:
    saved_views.panel({**view.to_params(), **charts.to_params()}, columns)

query_columns = view.query_columns(columns)
try:
    found = data.search(caller, view.filter or None, view.order_by, query_columns, view.limit)
    total = data.count(caller, view.filter or None)
except ValidationError as exc:
    st.error("The filter does not parse:")
    st.code(exc.message, language=None)
    st.stop()

every = live.interval(found["status"].astype(str)) if len(found) else None
if every is not None and len(found) > LARGE_TABLE_ROWS:
    every = max(every, LARGE_TABLE_S)
run_url_prefix = links.permalink(context.settings().portal_url, "run") + "?id="


def watch() -> None:
    """No shown run is running: rerun the page when the matching runs change (a run started)."""
    if data.runs_signature(caller, view.filter or None) != signature:
        data.search.clear(caller, view.filter or None, view.order_by, query_columns, view.limit)
        data.count.clear(caller, view.filter or None)
        st.rerun(scope="app")


if every is None:
    signature = (
        total,
        str(found["run_id"].iloc[0]) if len(found) and view.order_by == "created desc" else "",
    )
    if view.order_by == "created desc":
        st.fragment(watch, run_every=WATCH_S)()


def selected_ids(runs: Any) -> list[str]:
    rows = st.session_state.get("runs.table", {}).get("selection", {}).get("rows", [])
    return [str(runs["run_id"].iloc[i]) for i in rows if i < len(runs)]


def workspace() -> None:
    """The panels, the table and what acts on it: a live fragment while a shown run runs."""
    runs = found
    if every is not None and not first_draw.pop("table", False):  # a tick: read afresh
        runs = data.live_search(
            caller, view.filter or None, view.order_by, query_columns, view.limit
        )
        live.stop_when_finished(every, runs["status"].astype(str), forget=[data.search.clear])
    count_col, live_col = st.columns([4, 1])
    count_col.caption(
        f"{len(runs):,} of {total:,} runs"
        + (" (raise 'Show' to see more)" if total > len(runs) else "")
    )
    if every is not None:
        live_col.caption(f":material/autorenew: live, every {every:g} s", help="runs are running")
    chosen = selected_ids(runs)
    names = dict(zip(runs["run_id"].astype(str), runs["name"].astype(str), strict=False))
    if chart_keys:
        chart_args = (tuple(chart_keys), chart_x, runs_charts.POINTS)
        ids, which = runs_charts.chart_runs(chosen, list(runs["run_id"].astype(str)))
        running = set(runs.loc[runs["status"].astype(str) == live.RUNNING, "run_id"].astype(str))
        points = runs_charts.combine(
            data.panel_points(caller, tuple(i for i in ids if i not in running), *chart_args),
            # only running runs' series are re-read on each tick; the others are cached
            data.live_panel_points(caller, tuple(i for i in ids if i in running), *chart_args),
        )
        st.caption(f"Charts of {which}")
        panels = st.columns(min(len(chart_keys), 3))
        for i, key in enumerate(chart_keys):
            figure = runs_charts.panel_figure(
                points, key, names, ids, x=chart_x, tz=tz, log_y=chart_log, smooth=chart_smooth
            )
            panels[i % len(panels)].plotly_chart(figure, key=f"runs.panel.{key}")
    shown = display_frame(
        runs, people, columns, run_url_prefix=run_url_prefix, tz=tz, now=datetime.now(UTC)
    )
    st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="multi-row",
        column_order=[c for c in shown.columns if c != "run_id"], column_config=table_config(shown, tz),
        key="runs.table", height=min(35 * (len(shown) + 1) + 3, 600),
    )  # fmt: skip
    compare_col, csv_col, parquet_col, link_col = st.columns([2, 1, 1, 2])
    if len(chosen) >= 2:
        compare_col.page_link(
            links.PAGES["compare"], label=f"Compare {len(chosen)} runs", icon=":material/compare:",
            query_params=links.compare_params(chosen),
        )  # fmt: skip
    else:
        compare_col.caption("Click a name to open a run; select rows to compare or chart them.")
    stem = f"cairn-runs-{datetime.now(UTC):%Y-%m-%d}"
    csv_col.download_button(
        "CSV", lambda: to_csv(export_frame(runs, people, columns, tz)), f"{stem}.csv",
        "text/csv", icon=":material/download:", on_click="ignore", key="runs.csv",
    )  # fmt: skip
    parquet_col.download_button(
        "Parquet", lambda: to_parquet(export_frame(runs, people, columns, tz)),
        f"{stem}.parquet", "application/vnd.apache.parquet", icon=":material/download:",
        on_click="ignore", key="runs.parquet",
    )  # fmt: skip
    with link_col.popover("Permalink to this view", icon=":material/link:"):
        st.code(
            links.permalink(
                context.settings().portal_url, "runs", {**view.to_params(), **charts.to_params()}
            ),
            language=None,
        )
    if view.group_by:
        st.subheader(f"Grouped by {runs_columns.headers([view.group_by])[view.group_by]}")
        groups = group_table(runs, view.group_by, tz)
        st.dataframe(groups, hide_index=True, key="runs.groups", column_config=group_config(groups))


# The page's first draw uses the rows just read; only the fragment's ticks read them again
# (reading 10,000 rows twice per page run cost 1.3 s of store time in bench.portal_render).
first_draw = {"table": True}
live.fragment(workspace, every)()
