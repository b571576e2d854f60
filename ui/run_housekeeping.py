"""Run housekeeping on the Run page: rename, description, tags, archive and restore.

Offered only to whom docs/permissions.md (P8) lets do it: a member of the run's team or a portal
admin (the same people who may comment on it; a run shared with another team is not theirs to
edit). Each change is an event appended through ingest on the signed-in person's behalf
(:func:`ui.actions.edit_run`), the same events ``cairn.Api``'s run edits write (W15). After
appending, the page waits (up to :data:`WAIT_S`) until the store shows the change, then drops
the cached reads of the run so the page redraws with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Final

import streamlit as st

from cairn_contract.errors import CairnError
from query._records import RunSummary
from query.access import Caller
from ui import actions, context, data
from ui.events import RunEdit, Target, TargetKind

WAIT_S: Final = 5.0
_FLASH = "run.housekeeping.flash"


def may_edit(team: str) -> bool:
    who = context.identity()
    return who.admin or team in who.teams


def planned_edits(
    run: RunSummary,
    tags: Mapping[str, str],
    *,
    name: str,
    description: str,
    new_tag: tuple[str, str],
    removed: list[str],
) -> list[RunEdit]:
    """The events a submitted form means: only what changed."""
    edits = []
    if name.strip() != run.name:
        edits.append(RunEdit("run_renamed", name.strip()))
    if description.strip() != run.description.strip():
        edits.append(RunEdit("run_description_set", description.strip()))
    key, value = new_tag[0].strip(), new_tag[1].strip()
    if key and tags.get(key) != value:
        edits.append(RunEdit("tags_set", tags=((key, value),)))
    if removed:
        edits.append(RunEdit("tags_removed", keys=tuple(removed)))
    return edits


def _apply(
    caller: Caller, target: Target, edits: list[RunEdit], shown: Callable[[], bool], done: str
) -> None:
    try:
        actions.edit_run(target, edits)
    except CairnError as exc:
        st.error(exc.message)
        return
    deadline = time.monotonic() + WAIT_S
    while not shown() and time.monotonic() < deadline:
        time.sleep(0.2)
    data.comparison.clear(caller, (target.id,))
    st.session_state[_FLASH] = done
    st.rerun()


def show(caller: Caller, run: RunSummary, tags: Mapping[str, str]) -> None:
    """The archived badge, and for those who may, the "Edit run" popover."""
    if flash := st.session_state.pop(_FLASH, None):
        st.toast(flash, icon=":material/check:")
    if not may_edit(run.team):
        return
    target = Target(TargetKind.RUN, run.run_id, run.team, run.project)

    def fresh() -> tuple[RunSummary, dict[str, str]]:
        found = data.live_comparison(caller, (run.run_id,))
        return found.runs[0], found.tags[0]

    with st.popover("Edit run", icon=":material/edit:"):
        with st.form(f"run.edit.{run.run_id}"):
            name = st.text_input("Name", value=run.name)
            description = st.text_area("Description (Markdown)", value=run.description)
            key_col, value_col = st.columns(2)
            tag_key = key_col.text_input("Add or change a tag: key")
            tag_value = value_col.text_input("value")
            removed = st.multiselect("Remove tags", sorted(tags))
            if st.form_submit_button("Save", type="primary"):
                edits = planned_edits(
                    run, tags, name=name, description=description,
                    new_tag=(tag_key, tag_value), removed=removed,
                )  # fmt: skip
                if not edits:
                    st.info("Nothing changed.")
                else:
                    wanted = (name.strip(), description.strip())

                    def saved() -> bool:
                        now, now_tags = fresh()
                        return (now.name, now.description.strip()) == wanted and all(
                            k not in now_tags for k in removed
                        ) and (not tag_key.strip() or now_tags.get(tag_key.strip()) == tag_value.strip())  # fmt: skip

                    _apply(caller, target, edits, saved, "Run saved")
        archived = run.archived
        label = "Restore run" if archived else "Archive run"
        reason = st.text_input("Why (kept in the history)", key=f"run.archive_reason.{run.run_id}")
        if st.button(label, icon=":material/unarchive:" if archived else ":material/archive:"):
            edit = RunEdit("run_unarchived" if archived else "run_archived", reason.strip())
            _apply(
                caller, target, [edit], lambda: fresh()[0].archived != archived,
                "Run restored" if archived else "Run archived",
            )  # fmt: skip
