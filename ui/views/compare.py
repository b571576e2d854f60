"""Compare: any number of runs side by side; and what differs between two of them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from reports.format import short, when
from ui import charts, context, data, links, media_view, run_picker
from ui.compare_view import (
    SECTIONS,
    default_charts,
    labels,
    numbers,
    params_diff,
    pick_pair,
    points_per_run,
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
            default=list(view.keys if "keys" in st.query_params else view.keys[: default_charts(len(run_ids))]),
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
        comparison = data.comparison(caller, tuple(run_ids))
except CairnError as exc:
    st.error(exc.message)
    st.stop()
names = labels(comparison)

with top:
    st.caption(f"{len(run_ids)} runs")
    overview = pd.DataFrame(
        [{"run": names[r.run_id], "project": f"{r.team}/{r.project}", "owner": people.name(r.owner),
          "status": r.status, "created": when(r.created_at), "commit": short(r.git_commit, 10)}
         for r in comparison.runs]
    )  # fmt: skip
    st.dataframe(overview, hide_index=True, height=min(35 * (len(overview) + 1) + 3, 300))
    same = [
        label
        for label, flag in (("code", comparison.same_code), ("environment", comparison.same_environment),
                            ("datasets", comparison.same_datasets))
        if flag
    ]  # fmt: skip
    st.markdown(
        f"Same {', '.join(same)} across all runs."
        if same
        else "Code, environment and datasets differ."
    )

if section == "Metrics":
    for key in view.keys:
        figure = charts.metric_figure(
            points, key, names, x=x, log_y=log_y, smoothed=bool(smoothing)
        )
        st.plotly_chart(figure, key=f"compare.chart.{key}")
    side = pd.DataFrame(
        {
            names[r]: [m.last[i] for m in comparison.metrics]
            for i, r in enumerate(comparison.run_ids)
        },
        index=[m.key for m in comparison.metrics],
    )
    st.subheader("Last values")
    st.dataframe(side)

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
                "Params and metrics that some runs lack are left out: "
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
    a_default, b_default = pick_pair(run_ids, st.query_params.get("a"), st.query_params.get("b"))
    a_col, b_col = st.columns(2)
    run_a: str = (
        a_col.selectbox(
            "From",
            run_ids,
            index=run_ids.index(a_default),
            format_func=lambda k: names.get(k, k),
            key="compare.a",
        )
        or a_default
    )
    run_b: str = (
        b_col.selectbox(
            "To",
            run_ids,
            index=run_ids.index(b_default),
            format_func=lambda k: names.get(k, k),
            key="compare.b",
        )
        or b_default
    )
    st.query_params.update({"a": run_a, "b": run_b})
    if section == "Code":
        code = data.code_diff(caller, run_a, run_b)
        if code.identical:
            st.success("Same commit and same uncommitted changes.")
        else:
            commits = "same commit" if code.same_commit else "different commits"
            st.markdown(
                f"**{commits}**: `{short(code.code_a.commit if code.code_a else '', 10)}` → `{short(code.code_b.commit if code.code_b else '', 10)}`"
            )
            if code.compare_url:
                st.link_button("Compare the commits on the forge", code.compare_url)
            if code.patch_diff:
                st.caption("Difference between the two runs' uncommitted changes:")
                st.code(code.patch_diff, language="diff")
    elif section == "Environment":
        env = data.environment_diff(caller, run_a, run_b)
        if env.identical:
            st.success("Same environment (packages and platform).")
        fields = pd.DataFrame(
            [{"field": c.key, names[run_a]: c.before, names[run_b]: c.after} for c in env.fields]
        )
        if not fields.empty:
            st.dataframe(fields, hide_index=True)
        packages = env.packages
        rows = [
            {"package": c.key, "change": "changed", names[run_a]: c.before, names[run_b]: c.after}
            for c in packages.changed
        ]
        rows += [
            {"package": k, "change": "added", names[run_a]: "", names[run_b]: v}
            for k, v in packages.added
        ]
        rows += [
            {"package": k, "change": "removed", names[run_a]: v, names[run_b]: ""}
            for k, v in packages.removed
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        st.caption(f"{packages.unchanged} packages identical.")
    else:
        found = data.datasets_diff(caller, run_a, run_b).datasets
        if found.empty:
            st.success("Both runs used and produced the same data (same content digests).")
        rows = [
            {
                "dataset": c.name,
                "role": c.role,
                "change": "content changed",
                names[run_a]: c.before.digest,
                names[run_b]: c.after.digest,
            }
            for c in found.changed
        ]
        rows += [
            {
                "dataset": d.name,
                "role": d.role,
                "change": f"only in {names[run_b]}",
                names[run_a]: "",
                names[run_b]: d.digest,
            }
            for d in found.added
        ]
        rows += [
            {
                "dataset": d.name,
                "role": d.role,
                "change": f"only in {names[run_a]}",
                names[run_a]: d.digest,
                names[run_b]: "",
            }
            for d in found.removed
        ]
        rows += [
            {
                "dataset": d.name,
                "role": d.role,
                "change": "same",
                names[run_a]: d.digest,
                names[run_b]: d.digest,
            }
            for d in found.unchanged
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True)

with st.popover("Permalink to this comparison", icon=":material/link:"):
    st.code(
        links.permalink(context.settings().portal_url, "compare", st.query_params.to_dict()),
        language=None,
    )
