"""The Run page's fork tree and rewind points (issue #23).

:func:`show` draws, under the run's header, where the run came from (its fork chain up to the
first run, each ancestor a link when the caller may open it), the forks taken from it, and its
rewinds; it returns the marks the charts draw (the fork step, each rewind's step). Run names are
user text: they go through :func:`reports.format.md` like every other name on the page.
"""

from __future__ import annotations

import streamlit as st

from query.access import Caller
from query.branches import RunBranches
from reports.format import md, short, when
from ui import data, links


def marks(found: RunBranches) -> list[tuple[int, str]]:
    """(step, label) for the charts: the fork step and every rewind."""
    out = []
    if found.fork is not None:
        out.append((found.fork.step, f"forked at step {found.fork.step}"))
    out += [(r.to_step, f"rewound to step {r.to_step}") for r in found.rewinds]
    return out


def _label(name: str, run_id: str) -> str:
    return md(name) if name else f"`{short(run_id, 12)}`"


def show(caller: Caller, run_id: str) -> RunBranches:
    found = data.run_branches(caller, run_id)
    if not (found.ancestors or found.children or found.rewinds):
        return found
    with st.container(border=True):
        st.markdown("**Fork tree**")
        for depth, fork in enumerate(found.ancestors):
            what = "This run was" if depth == 0 else f"{'↳ ' * depth}which was"
            if fork.visible:
                st.page_link(
                    links.PAGES["run"],
                    label=f"{what} forked from {_label(fork.name, fork.parent_run_id)} "
                    f"at step {fork.step} ({fork.inherited_points} points taken over)",
                    icon=":material/call_split:",
                    query_params=links.run_params(fork.parent_run_id),
                )
            else:
                st.caption(f"{what} forked at step {fork.step} from a run you cannot see.")
        if found.children:
            st.markdown(f"Forks of this run ({len(found.children)}):")
            for child in found.children:
                st.page_link(
                    links.PAGES["run"],
                    label=f"{_label(child.name, child.run_id)} · from step {child.step}",
                    icon=":material/subdirectory_arrow_right:",
                    query_params=links.run_params(child.run_id),
                )
        for rewind in found.rewinds:
            st.markdown(
                f":material/history: Rewound to step {rewind.to_step} on {when(rewind.at)}: "
                "later points of the earlier attempt are shown dotted on the charts."
            )
    return found
