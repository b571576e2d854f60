"""The run picker: search every visible run as you type, then choose one (or several).

Every page that asks "which run?" uses this widget (Run, Compare, Sharing, Discussion), so each
finds any run the signed-in person may see, not only the newest few hundred: the search runs in
the store (:func:`query.run_search.find_runs`, by name, id prefix, tag and param value) on every
pause in typing, and the list shows the best :data:`SHOWN` matches with how many there are.

How it works in Streamlit: a search box that commits while the user types
(``st.text_input(live=...)``, Streamlit >= 1.67) and the matches in a select box below it, both in
a fragment, so typing reruns only the picker; choosing a run stores it in the session under the
picker's ``key`` and reruns the page, which reads it from the return value. The chosen runs stay
listed while the user searches for more. Why not the ``streamlit-searchbox`` component: it is an
iframe, which the portal's ``frame-ancestors 'none'`` / ``X-Frame-Options: DENY`` headers refuse
(docs/permissions.md, X2), and it picks one value only.

Labels are plain text in the select boxes (never markdown), so run names stay inert.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import streamlit as st

from query.run_search import RunMatch, RunMatches
from ui import context, data

SHOWN = 20  # matches listed; every visible run is searched
LIVE = "300ms"  # commit the search text after this pause in typing
PLACEHOLDER = "Search by name, run id, tag or param"


def describe(run: RunMatch) -> str:
    """One line per run: name, where, when, short id, and why it matched if not by name."""
    parts = [run.name or run.run_id[:8], f"{run.team}/{run.project}"]
    if run.created is not None:
        parts.append(run.created.strftime("%Y-%m-%d"))
    parts.append(run.run_id[:8])
    if run.matched not in ("", "name", "id"):
        parts.append(run.matched)
    return " · ".join(parts)


def summary(found: RunMatches, text: str) -> str:
    """The line under the list: how many runs match, and how many are listed."""
    shown = len(found.runs)
    if not text.strip():
        if not found.total:
            return "No runs visible to you yet."
        return f"The {shown} newest of {found.total} runs; type to search all of them."
    if not found.total:
        return "No run visible to you matches."
    if found.total == shown:
        return f"{found.total} matching run{'s' if found.total != 1 else ''}."
    return f"{found.total} matching runs; the best {shown} are listed, type more to narrow."


def matches_of(run_ids: Sequence[str]) -> tuple[RunMatch, ...]:
    """Runs named by id (from a URL) as picker entries; ids the caller may not see are left out."""
    if not run_ids:
        return ()
    rows = data.run_summaries(context.caller(), list(run_ids))
    by_id = {
        str(r.run_id): RunMatch(str(r.run_id), str(r.name), str(r.team), str(r.project),
                                str(r.status), None, "")
        for r in rows.itertuples()
    }  # fmt: skip
    return tuple(by_id[r] for r in run_ids if r in by_id)


def clear(key: str) -> None:
    """Forget a picker's choice and its search (after the page acted on it)."""
    for name in (key, f"{key}.text", f"{key}.pick"):
        st.session_state.pop(name, None)


def _search(
    label: str, key: str, teams: frozenset[str] | None, project: tuple[str, str] | None
) -> tuple[str, RunMatches]:
    text = st.text_input(label, key=f"{key}.text", live=LIVE, placeholder=PLACEHOLDER)
    return text, data.find_runs(context.caller(), text.strip(), SHOWN, teams, project)


@st.fragment
def _one(
    label: str, key: str, teams: frozenset[str] | None, project: tuple[str, str] | None
) -> None:
    chosen: RunMatch | None = st.session_state.get(key)
    text, found = _search(label, key, teams, project)
    listed = {m.run_id: m for m in found.runs}
    if chosen is not None:
        listed = {chosen.run_id: chosen, **listed}
    options = list(listed)
    picked = st.selectbox(
        f"{label}: matching runs",
        options,
        index=options.index(chosen.run_id) if chosen is not None else None,
        format_func=lambda run_id: describe(listed[run_id]),
        key=f"{key}.pick",
        placeholder="Choose a run",
        label_visibility="collapsed",
    )
    st.caption(summary(found, text))
    now = listed.get(picked) if picked else None
    if (now.run_id if now else None) != (chosen.run_id if chosen else None):
        st.session_state[key] = now
        st.rerun()


@st.fragment
def _many(
    label: str, key: str, teams: frozenset[str] | None, project: tuple[str, str] | None
) -> None:
    chosen: tuple[RunMatch, ...] = st.session_state.get(key, ())
    text, found = _search(label, key, teams, project)
    listed = {m.run_id: m for m in chosen} | {m.run_id: m for m in found.runs}
    picked = st.multiselect(
        f"{label}: chosen runs",
        list(listed),
        default=[m.run_id for m in chosen],
        format_func=lambda run_id: describe(listed[run_id]),
        key=f"{key}.pick",
        placeholder="Choose runs",
        label_visibility="collapsed",
        select_all=False,  # it would pick the listed matches only, not all that match
    )
    st.caption(summary(found, text))
    if list(picked) != [m.run_id for m in chosen]:
        st.session_state[key] = tuple(listed[r] for r in picked)
        st.rerun()


def pick_run(
    label: str,
    *,
    key: str,
    teams: Collection[str] | None = None,
    project: tuple[str, str] | None = None,
) -> RunMatch | None:
    """A search box and the matching runs; returns the chosen run (None until one is chosen).
    ``teams`` / ``project`` narrow the search (e.g. to runs the person may share)."""
    _one(label, key, frozenset(teams) if teams is not None else None, project)
    chosen: RunMatch | None = st.session_state.get(key)
    return chosen


def pick_runs(
    label: str,
    *,
    key: str,
    default: Sequence[RunMatch] = (),
    teams: Collection[str] | None = None,
    project: tuple[str, str] | None = None,
) -> tuple[RunMatch, ...]:
    """Like :func:`pick_run` for several runs: chosen runs stay while searching for more.
    ``default`` is the initial choice (e.g. runs named in the URL)."""
    if key not in st.session_state and default:
        st.session_state[key] = tuple(default)
    _many(label, key, frozenset(teams) if teams is not None else None, project)
    chosen: tuple[RunMatch, ...] = st.session_state.get(key, ())
    return chosen
