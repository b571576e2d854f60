"""The discussion of one run, project or model: a threaded list of comments and a composer.

Rendered inside a fragment. After the author posts (or edits, or deletes), the fragment shows
the optimistic copy and, while any change is not yet projected, reruns itself every
``CAIRN_PORTAL_POLL_S`` seconds until the projection has it; then it hands back to a normal,
non-polling page. Others see the change on their next interaction with the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import streamlit as st

from query.collaboration import Comment
from reports.format import People, ago, md, times_edited, when
from reports.markdown import MENTION_CSS, to_html
from ui import actions, context, data, threads
from ui.events import Anchor, Target


def show(
    target: Target,
    *,
    metric_keys: Sequence[str] = (),
    key: str,
    title: str = "Discussion",
) -> None:
    """The thread of ``target``; ``metric_keys`` enables anchoring a comment to a step range."""
    waiting = bool(actions.pending(target))
    interval = timedelta(seconds=context.settings().poll_interval_s) if waiting else None

    @st.fragment(run_every=interval)
    def body() -> None:
        _thread(target, metric_keys, key, title)

    body()


def _thread(target: Target, metric_keys: Sequence[str], key: str, title: str) -> None:
    caller = context.caller()
    projected = data.comments(caller, target.kind.value, target.id)
    shown, waiting = threads.merge_pending(projected, actions.pending(target))
    had_waiting = bool(actions.pending(target))
    actions.set_pending(target, waiting)
    if had_waiting and not waiting:
        st.rerun()  # everything is projected: rebuild the page without polling
    people = data.people()
    st.subheader(title)
    st.html(f"<style>{MENTION_CSS}</style>")
    if not shown:
        st.caption("No comments yet. Start the discussion below.")
    pending_ids = {c.comment_id for c in waiting}
    for comment, depth in threads.threaded(shown):
        _comment(target, comment, depth, people, key, comment.comment_id in pending_ids)
    _composer(target, metric_keys, key)


def _comment(
    target: Target, comment: Comment, depth: int, people: People, key: str, pending: bool
) -> None:
    indent, main = st.columns([max(depth, 0) * 0.04 + 0.001, 1])
    del indent
    with main, st.container(border=True):
        head = f"**{md(people.name(comment.author))}** · {ago(comment.created_at)}"
        if comment.edit_count:
            head += f" · {times_edited(comment.edit_count)}"
        if pending:
            head += " · :orange[sending…]"
        st.markdown(head, help=when(comment.created_at))
        if comment.anchor_metric:
            st.caption(
                f":material/timeline: `{comment.anchor_metric}` steps "
                f"{comment.anchor_step_min}-{comment.anchor_step_max}"
            )
        if comment.deleted:
            st.caption(f"Comment deleted by {people.name(comment.deleted_by)}.")
            if comment.body_markdown:  # only admins receive a deleted comment's body
                st.html(
                    f"<div style='opacity:0.5'><del>{to_html(comment.body_markdown)}</del></div>"
                )
            return
        st.html(f"<div class='cairn-comment'>{to_html(comment.body_markdown)}</div>")
        _comment_actions(target, comment, key)


def _comment_actions(target: Target, comment: Comment, key: str) -> None:
    me = context.identity()
    base = f"{key}.{comment.comment_id}"
    reply, edit, remove, history, _ = st.columns([1, 1, 1, 1, 3])
    with reply.popover("Reply", icon=":material/reply:"), st.form(f"{base}.reply", border=False):
        text = st.text_area("Reply", key=f"{base}.reply.text", label_visibility="collapsed")
        if st.form_submit_button("Post reply"):
            with actions.report_errors("replying"):
                actions.add_comment(target, text, reply_to=comment.comment_id)
                st.rerun()
    if comment.author == me.user_id:
        with edit.popover("Edit", icon=":material/edit:"), st.form(f"{base}.edit", border=False):
            text = st.text_area(
                "Edit", value=comment.body_markdown, key=f"{base}.edit.text",
                label_visibility="collapsed",
            )  # fmt: skip
            if st.form_submit_button("Save"):
                with actions.report_errors("editing"):
                    actions.edit_comment(target, comment, text)
                    st.rerun()
    if comment.author == me.user_id or me.admin:
        with remove.popover("Delete", icon=":material/delete:"):
            reason = st.text_input("Reason (optional)", key=f"{base}.delete.reason")
            if st.button("Delete comment", key=f"{base}.delete.go", type="primary"):
                with actions.report_errors("deleting"):
                    actions.delete_comment(target, comment, reason)
                    st.rerun()
    if comment.edit_count:
        with history.popover("History", icon=":material/history:"):
            for version in data.comment_history(context.caller(), comment.comment_id):
                st.caption(f"{version.action} · {when(version.occurred_at)}")
                if version.body_markdown:
                    st.html(to_html(version.body_markdown))


def _composer(target: Target, metric_keys: Sequence[str], key: str) -> None:
    with st.form(f"{key}.compose", clear_on_submit=True):
        text = st.text_area(
            "Add a comment",
            key=f"{key}.compose.text",
            placeholder="Markdown works; @name mentions a person.",
        )
        anchor = None
        if metric_keys:
            metric, low, high = st.columns([2, 1, 1])
            chosen = metric.selectbox(
                "Anchor to a metric (optional)", ["", *metric_keys], key=f"{key}.compose.metric"
            )
            step_min = low.number_input("from step", min_value=0, step=1, key=f"{key}.compose.lo")
            step_max = high.number_input("to step", min_value=0, step=1, key=f"{key}.compose.hi")
            if chosen:
                lo, hi = sorted((int(step_min), int(step_max)))
                anchor = Anchor(chosen, lo, hi)
        if st.form_submit_button("Post comment", type="primary"):
            with actions.report_errors("posting"):
                actions.add_comment(target, text, anchor=anchor)
                st.rerun()
