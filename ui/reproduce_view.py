"""The Run page's Reproduce section: the exact command, what would differ if it ran today, and
the reproduction report against the original (on a reproduction) or each reproduction (on an
original).

Everything shown comes from the store through ``query/reproduction.py``: the portal never reads
a dataset's URI or asks a package index (recorded text never becomes a request). "What would
differ today" is therefore the store's evidence: a patch cut at capture, no commit or remote, a
later run that recorded another digest at the same data URI, packages an earlier reproduction
could not install at their version, no container digest.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cairn_contract.reproduction import (
    TAG_PACKAGES,
    ReproductionReport,
    RunRecord,
)
from query.access import Caller
from reports.format import md, short
from ui import data, links


def _command(run_id: str) -> str:
    return f"cairn reproduce {run_id} --dry-run   # the plan, and any refusal\ncairn reproduce {run_id}"


def differences_today(
    record: RunRecord, changed: list[tuple[str, str, str, str]], substitutions: list[str]
) -> list[str]:
    """Plain-text findings, most blocking first. ``changed``: (dataset, uri, recorded digest,
    later digest); ``substitutions``: an earlier reproduction's package findings."""
    found = []
    code = record.code
    if code is None or not code.commit:
        found.append("Code: no git commit was recorded, so the code cannot be restored.")
    else:
        if code.dirty and code.diff_truncated:
            found.append(
                "Code: the uncommitted patch was truncated at capture (whole patch sha256 "
                f"{code.diff_sha256 or 'unknown'}), so the code that ran cannot be restored."
            )
        elif code.dirty:
            found.append(
                f"Code: commit {short(code.commit, 12)} plus the recorded uncommitted patch"
                f" ({len(code.diff.encode())} bytes), applied in full."
            )
        else:
            found.append(f"Code: commit {short(code.commit, 12)}, clean work tree.")
        if not code.git_remote:
            found.append("Code: no git remote was recorded: give a clone with --repo.")
    for name, uri, recorded, later in changed:
        found.append(
            f"Data: {name} ({uri}) has digest {later} in a later run, recorded here as"
            f" {recorded}: --data verify will refuse; --data fetch needs the recorded version"
            " in the artifact store."
        )
    for dataset in record.inputs:
        if not dataset.uri.startswith("file://"):
            found.append(
                f"Data: {dataset.name} ({dataset.uri or 'in-memory'}) is outside any store Cairn"
                " can read: it is not verified; the report compares the digests both runs record."
            )
    if record.packages:
        found.append(
            f"Environment: Python {record.python_version or '(not recorded)'},"
            f" {len(record.packages)} packages pinned exactly."
        )
    else:
        found.append("Environment: no packages were recorded: use --env current.")
    found.extend(f"Environment (found by an earlier reproduction): {s}" for s in substitutions)
    if not record.container_digest:
        found.append("Environment: no container image digest was recorded.")
    return found


def report_table(report: ReproductionReport) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "metric": m.key,
                "original (final)": m.original_final,
                "reproduction (final)": m.reproduction_final,
                "max deviation over steps": m.max_step_deviation,
                "steps compared": m.steps_compared,
                "steps missing": m.steps_missing,
                "steps extra": m.steps_extra,
            }
            for m in report.metrics
        ]
    )


def changes_table(report: ReproductionReport) -> pd.DataFrame:
    rows = [
        {"kind": kind, "what": c.what, "original": c.original, "reproduction": c.reproduction}
        for kind, changes in (
            ("params", report.params),
            ("code", report.code),
            ("environment", report.environment),
            ("data", report.data),
            ("tooling", report.tooling),
        )
        for c in changes
    ]
    return pd.DataFrame(rows, columns=["kind", "what", "original", "reproduction"])


def _show_report(report: ReproductionReport, other: str, label: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{md(label)}** · verdict: **{md(report.verdict)}**")
        st.page_link(links.PAGES["run"], label=f"Open {short(other, 12)}",
                     query_params=links.run_params(other))  # fmt: skip
        st.dataframe(report_table(report), hide_index=True)
        changes = changes_table(report)
        if not changes.empty:
            st.dataframe(changes, hide_index=True)


def show(caller: Caller, run_id: str) -> None:
    record = data.recorded_run(caller, run_id)
    found = data.reproduction_links(caller, run_id)
    st.subheader("Reproduce this run")
    st.code(_command(run_id), language="bash")
    changed = [
        (d.name, d.uri, d.recorded_digest, d.later_digest)
        for d in data.data_changed_since(caller, run_id)
    ]
    substitutions = []
    for reproduction in found.reproduced_by[-1:]:
        tag = data.recorded_run(caller, reproduction).tags.get(TAG_PACKAGES, "")
        substitutions += [part.strip() for part in tag.split(";") if part.strip()]
    st.markdown("**What would differ today**")
    for line in differences_today(record, changed, substitutions):
        st.markdown(f"- {md(line)}")
    for original in found.reproduces:
        report = data.reproduction_report(caller, original, run_id)
        _show_report(report, original, f"This run reproduces {original}")
    for reproduction in found.reproduced_by:
        report = data.reproduction_report(caller, run_id, reproduction)
        _show_report(report, reproduction, f"Reproduced by {reproduction}")
    if not found.reproduces and not found.reproduced_by:
        st.caption("No reproduction of this run has been recorded yet.")
