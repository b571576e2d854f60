"""Compare: up to 100 runs side by side (charts with a colour per run, grouped mean ± band, the
last values), their code, environment and data as a matrix against a baseline run, and what
differs between two of them in detail. Runs of a link the caller may not see are only counted."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from reports.format import md, short, when
from ui import (
    charts,
    compare_groups,
    compare_pairs,
    context,
    data,
    links,
    live,
    media_view,
    run_picker,
)
from ui.compare_view import (
    SECTION_KINDS,
    SECTIONS,
    default_charts,
    labels,
    last_values,
    matrix_table,
    not_visible,
    numbers,
    params_diff,
    points_per_run,
    summary_line,
)
from ui.run_view import ChartView, preferred

caller = context.caller()
people = data.people()
run_ids = links.split_ids(st.query_params.get("runs"))

st.title("Compare")
if len(run_ids) < 2:
    picked = run_picker.pick_runs(
        "Runs to compare", key="compare.picker", default=run_picker.matches_of(run_ids)
    )
    if st.button("Compare", type="primary", disabled=len(picked) < 2):
        st.query_params["runs"] = ",".join(run.run_id for run in picked)
        run_picker.clear("compare.picker")
        st.rerun()
    st.caption("Or select runs in the Runs table and choose “Compare”.")
    st.stop()

top = st.container()  # the run table, filled in once the comparison is in
default_section = st.query_params.get("tab", "Metrics")
section = st.segmented_control(
    "Section", SECTIONS, default=default_section if default_section in SECTIONS else "Metrics",
    key="compare.section", label_visibility="collapsed",
) or "Metrics"  # fmt: skip
st.query_params["tab"] = section

try:
    if section == "Metrics":
        # The chart's keys come from a cheap query, so the comparison and the overlay (the two
        # slow reads) can be fetched at the same time.
        metric_keys = list(data.metric_keys(caller, tuple(run_ids)))
        view = ChartView.from_params(st.query_params.to_dict(), metric_keys)
        keys_col, x_col, log_col, smooth_col = st.columns([4, 1, 1, 2])
        keys = keys_col.multiselect(
            "Metrics", metric_keys, key="compare.keys",
            default=list(view.keys if "keys" in st.query_params
                         else preferred(metric_keys)[: default_charts(len(run_ids))]),
        )  # fmt: skip
        x = x_col.radio(
            "x axis",
            ["step", "time"],
            index=0 if view.x == "step" else 1,
            horizontal=True,
            key="compare.x",
        )
        log_y = log_col.toggle("Log scale", value=view.log_y, key="compare.log")
        smoothing = smooth_col.slider(
            "Smoothing", 0.0, 0.99, value=view.smoothing, step=0.01, key="compare.smooth"
        )
        view = ChartView(tuple(keys), x, log_y, smoothing)
        st.query_params.update(view.to_params())
        comparison, points = data.comparison_with_series(
            caller, tuple(run_ids), view.keys, points_per_run(len(run_ids)),
            "time" if x == "time" else "step", smoothing or None,
        )  # fmt: skip
    else:
        comparison = data.comparison(caller, tuple(run_ids), partial=True)
except CairnError as exc:
    st.error(exc.message)
    st.stop()
names = labels(comparison)
colors = dict(zip(comparison.run_ids, charts.run_colors(len(comparison.run_ids)), strict=True))

with top:
    st.caption(f"{len(comparison.run_ids)} runs")
    if comparison.hidden:
        st.warning(not_visible(comparison.hidden), icon=":material/visibility_off:")
    overview = pd.DataFrame(
        [{"colour": "", "run": names[r.run_id], "project": f"{r.team}/{r.project}",
          "owner": people.name(r.owner), "status": r.status, "created": when(r.created_at),
          "commit": short(r.git_commit, 10)}
         for r in comparison.runs]
    )  # fmt: skip
    swatches = [f"background-color: {colors[r]}" for r in comparison.run_ids]
    st.dataframe(
        overview.style.apply(lambda _: swatches, subset=["colour"]),
        hide_index=True, height=min(35 * (len(overview) + 1) + 3, 300),
        column_config={"colour": st.column_config.TextColumn("", width=28)},
    )  # fmt: skip
    st.markdown(summary_line(comparison))

if section == "Metrics":
    options = compare_groups.group_options(comparison)
    group_col, band_col = st.columns([3, 2])
    wanted = st.query_params.get("group")
    group_by = group_col.selectbox(
        "Group runs by", options, index=options.index(wanted) if wanted in options else None,
        placeholder="no grouping: a line per run", key="compare.group",
    )  # fmt: skip
    spread = band_col.radio(
        "Band", ["minmax", "std"], horizontal=True, key="compare.band",
        index=1 if st.query_params.get("band") == "std" else 0,
        format_func=lambda b: "min to max" if b == "minmax" else "mean ± std",
        disabled=group_by is None,
    )  # fmt: skip
    if group_by:
        st.query_params.update({"group": group_by, "band": spread})
    else:
        for param in ("group", "band"):
            st.query_params.pop(param, None)
    groups = compare_groups.group_of(comparison, group_by) if group_by else {}
    group_names = list(dict.fromkeys(groups.values()))
    group_colors = dict(zip(group_names, charts.run_colors(len(group_names)), strict=True))
    # Two charts a row while their legends fit above them; full width once legends stand aside.
    wide = len(view.keys) == 1 or len(group_names or names) > charts.LEGEND_MAX_RUNS
    live_ids = tuple(comparison.run_ids)
    # While a compared run is running, the charts and last values redraw in place every second
    # (ui/live.py) from fresh reads; the widgets above stay as they are.
    every = live.interval(data.run_statuses(caller, live_ids).values())

    def metrics_panel() -> None:
        now, drawn, overlay = {}, comparison, points
        if every:
            now = data.run_statuses(caller, live_ids)
            drawn = data.live_comparison(caller, live_ids)
            overlay = data.live_metric_series(
                caller, live_ids, view.keys, points_per_run(len(run_ids)),
                "time" if x == "time" else "step", smoothing or None,
            )  # fmt: skip
        live.stop_when_finished(every, now.values(), forget=[data.comparison_with_series.clear])
        panels = [st.container()] if wide else st.columns(2)
        for index, key in enumerate(view.keys):
            with panels[index % len(panels)]:
                if group_by:
                    figure = charts.band_figure(
                        compare_groups.bands(overlay, key, groups, x=x), key, group_colors,
                        x=x, log_y=log_y, spread=spread,
                    )  # fmt: skip
                else:
                    figure = charts.metric_figure(
                        overlay, key, names, x=x, log_y=log_y, smoothed=bool(smoothing),
                        colors=colors,
                    )  # fmt: skip
                st.plotly_chart(figure, key=f"compare.chart.{key}")
        st.subheader("Last values")
        table = last_values(drawn, names)
        st.dataframe(table, height=min(35 * (len(table) + 1) + 3, 420))

    live.fragment(metrics_panel, every)()

elif section == "Params":
    differing = params_diff(comparison, names)
    st.markdown(
        f"**{len(differing)}** parameters differ; {len(comparison.params_common)} are the same everywhere."
    )
    st.dataframe(differing, hide_index=True)
    with st.expander("Parameters every run shares"):
        st.dataframe(
            pd.DataFrame(comparison.params_common, columns=["param", "value"]), hide_index=True
        )

elif section in ("Parallel coordinates", "Scatter"):
    frame = numbers(comparison)
    metric_columns = [
        "metrics." + k
        for k in preferred(
            [c.removeprefix("metrics.") for c in frame.columns if c.startswith("metrics.")]
        )
    ]
    param_columns = [c for c in frame.columns if c.startswith("params.")]
    if section == "Parallel coordinates":
        complete = frame.dropna(axis=1)  # a run without a value would not be drawn at all
        shown_metrics = [c for c in metric_columns if c in complete.columns]
        color = (
            st.selectbox("Colour by", shown_metrics, key="compare.color") if shown_metrics else None
        )
        st.plotly_chart(charts.parallel_coordinates(complete, color), key="compare.parcoords")
        if len(complete.columns) < len(frame.columns):
            st.caption(
                "Metrics and numeric params that some runs lack are left out: "
                + ", ".join(sorted(set(frame.columns) - set(complete.columns)))
            )
    else:
        x_col, y_col = st.columns(2)
        x_axis = x_col.selectbox("x", param_columns + metric_columns, key="compare.sx")
        y_axis = y_col.selectbox("y", metric_columns + param_columns, key="compare.sy")
        if x_axis and y_axis:
            st.plotly_chart(
                charts.scatter(frame, x_axis, y_axis, [names[r] for r in frame.index]),
                key="compare.scatter",
            )

elif section == media_view.SECTION:
    media_view.show_compare(caller, comparison.run_ids, names)

else:
    shown_ids = list(comparison.run_ids)
    wanted_base = st.query_params.get("base")
    baseline: str = st.selectbox(
        "Baseline", shown_ids, format_func=lambda k: names.get(k, k), key="compare.base",
        index=shown_ids.index(wanted_base) if wanted_base in shown_ids else 0,
        help="Cells unlike the baseline run's are highlighted.",
    ) or shown_ids[0]  # fmt: skip
    st.query_params["base"] = baseline
    matrix = data.runs_diff_matrix(caller, tuple(shown_ids), baseline)
    kinds = SECTION_KINDS[section]
    recorded = matrix.recorded["environment" if section == "Environment" else kinds[0]]
    if not any(recorded):
        st.info(f"No {section.lower()} recorded for any of these runs.")
    elif not matrix.of_kind(*kinds):
        st.success(f"Same {section.lower()} in every run.")
    else:
        st.markdown(
            f"**{matrix.differing_runs(*kinds)}** of {len(shown_ids) - 1} runs differ from the"
            f" baseline **{md(names[baseline])}** (highlighted)."
        )
        st.table(matrix_table(matrix, kinds, names))
    unrecorded = [names[r] for r, flag in zip(shown_ids, recorded, strict=True) if not flag]
    if unrecorded and any(recorded):
        st.caption(f"No {section.lower()} recorded for: " + ", ".join(unrecorded))
    same = [c for c in matrix.same if c.kind in kinds]
    if same:
        with st.expander(f"{len(same)} fields the same in every run"):
            st.dataframe(
                pd.DataFrame([(c.name, c.values[0]) for c in same], columns=["field", "value"]),
                hide_index=True,
            )
    if len(shown_ids) > 1:
        st.subheader("Two runs in detail")
        compare_pairs.show_pair(caller, shown_ids, baseline, section, names)

with st.popover("Permalink to this comparison", icon=":material/link:"):
    st.code(
        links.permalink(context.settings().portal_url, "compare", st.query_params.to_dict()),
        language=None,
    )
