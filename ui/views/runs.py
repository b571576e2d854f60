"""Runs: every run the caller may see, filtered, sorted, grouped; select some to compare."""

from __future__ import annotations

import streamlit as st

from cairn_contract.errors import ValidationError
from ui import context, data, links
from ui.runs_table import display_frame, table_config
from ui.runs_view import LIMITS, RunsView, column_choices, group_table, order_spec

caller = context.caller()
people = data.people()
view = RunsView.from_params(st.query_params.to_dict())

st.title("Runs")
filter_text = st.text_input(
    "Filter",
    value=view.filter,
    placeholder="params.learning_rate < 0.2 and metrics.val/auc > 0.9 and status = 'finished'",
    help="Fields: status, owner, name, project, created, duration, params.<key>, "
    "metrics.<key> (last value), metrics_min./metrics_max.<key>, tags.<key>. "
    "Operators: = != < <= > >= in (...) like ilike 'is null', combined with and/or/not.",
    key="runs.filter",
)
choices = column_choices(
    data.known_keys(caller, "params"),
    data.known_keys(caller, "tags"),
    data.known_keys(caller, "metrics"),
)
columns_col, sort_col, order_col, group_col, limit_col = st.columns([4, 2, 1, 2, 1])
columns = columns_col.multiselect(
    "Columns", choices, default=[c for c in view.columns if c in choices] or None,
    key="runs.columns",
)  # fmt: skip
sortable = list(dict.fromkeys([view.sort_column, *columns, "created", "name"]))
sort_by = sort_col.selectbox("Sort by", sortable, index=0, key="runs.sort")
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
    format_func=lambda c: c or "(no grouping)", key="runs.group",
)  # fmt: skip
limit = limit_col.selectbox(
    "Show", LIMITS, index=LIMITS.index(view.limit), format_func=lambda n: f"{n:,}", key="runs.limit"
)

view = RunsView(
    filter_text.strip(),
    tuple(columns) or view.columns,
    order_spec(sort_by, descending),
    group_by,
    limit,
)
st.query_params.from_dict(view.to_params())

try:
    runs = data.search(caller, view.filter or None, view.order_by, view.query_columns, view.limit)
    total = data.count(caller, view.filter or None)
except ValidationError as exc:
    st.error("The filter does not parse:")
    st.code(exc.message, language=None)
    st.stop()

st.caption(
    f"{len(runs):,} of {total:,} runs"
    + (" (raise 'Show' to see more)" if total > len(runs) else "")
)
shown = display_frame(runs, people)
selection = st.dataframe(
    shown, hide_index=True, on_select="rerun", selection_mode="multi-row",
    column_order=[c for c in shown.columns if c != "run_id"], column_config=table_config(shown),
    key="runs.table", height=min(35 * (len(shown) + 1) + 3, 600),
)  # fmt: skip
chosen = [str(runs["run_id"].iloc[i]) for i in selection.selection.rows]

open_col, compare_col, link_col = st.columns([1, 1, 3])
if len(chosen) == 1:
    open_col.page_link(links.PAGES["run"], label="Open run", icon=":material/monitoring:",
                       query_params=links.run_params(chosen[0]))  # fmt: skip
if len(chosen) >= 2:
    compare_col.page_link(
        links.PAGES["compare"], label=f"Compare {len(chosen)} runs", icon=":material/compare:",
        query_params=links.compare_params(chosen),
    )  # fmt: skip
if not chosen:
    open_col.caption("Select rows to open or compare runs.")
with link_col.popover("Permalink to this view", icon=":material/link:"):
    st.code(links.permalink(context.settings().portal_url, "runs", view.to_params()), language=None)

if view.group_by:
    st.subheader(f"Grouped by {view.group_by}")
    st.dataframe(group_table(runs, view.group_by), hide_index=True, key="runs.groups")
