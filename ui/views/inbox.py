"""Inbox: what concerns the signed-in person, newest first, and marking it read.

Mentions of them, runs and views shared with them, things handed over to them, their failed runs,
model alias moves in their teams and the items automation rules deliver to them
(``query/automations.py``). Marking read is an event (``inbox_items_read``) through ingest.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from reports.format import when
from ui import actions, context, data

caller = context.caller()
st.title("Inbox")

items = data.inbox(caller)
unread = [i for i in items if not i.read]
st.caption(f"{len(unread)} unread of {len(items)}")
if not items:
    st.info("Nothing yet: mentions, shares, handovers, your failed runs and alias moves land here.")
    st.stop()

only_unread = st.toggle("Only unread", value=False, key="inbox.only_unread")
shown = unread if only_unread else list(items)
labels = {
    "mention": "Mention",
    "share": "Shared with you",
    "handover": "Handed over",
    "failed_run": "Failed run",
    "alias": "Alias moved",
    "rule": "Automation",
}
table = pd.DataFrame(
    {
        "": ["●" if not i.read else "" for i in shown],
        "what": [labels.get(i.kind, i.kind) for i in shown],
        "text": [i.text for i in shown],
        "team": [i.team for i in shown],
        "about": [i.target_id for i in shown],
        "when": [when(i.at) for i in shown],
    }
)
st.dataframe(table, hide_index=True, width="stretch")

choices = {i.item_id: f"{labels.get(i.kind, i.kind)}: {i.text}" for i in unread}
chosen = st.multiselect(
    "Mark read", list(choices), format_func=lambda k: choices.get(k, k), key="inbox.chosen"
)
left, right = st.columns(2)
with left:
    if st.button("Mark selected read", disabled=not chosen, key="inbox.mark"):
        with actions.report_errors("marking read") as outcome:
            actions.mark_read(chosen)
        if not outcome.failed:
            data.unread_count.clear()
            st.success(f"{len(chosen)} marked read")
with right:
    if st.button("Mark all read", disabled=not unread, key="inbox.mark_all"):
        with actions.report_errors("marking read") as outcome:
            actions.mark_read([i.item_id for i in unread])
        if not outcome.failed:
            data.unread_count.clear()
            st.success(f"{len(unread)} marked read")
