"""The Compare page's "two runs in detail" block: the code, environment or dataset diff between
two chosen runs (the patch against the patch, every package change, every dataset), below the
N-way matrix. The first run defaults to the matrix's baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from query.access import Caller
from reports.format import short
from ui import data
from ui.compare_view import pick_pair


def show_pair(
    caller: Caller, run_ids: Sequence[str], baseline: str, section: str, names: Mapping[str, str]
) -> None:
    """``section`` is Code, Environment or Datasets; ``run_ids`` are visible compared runs."""
    run_ids = list(run_ids)
    a_default, b_default = pick_pair(
        run_ids, st.query_params.get("a", baseline), st.query_params.get("b")
    )
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
