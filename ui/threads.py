"""Comment threads, and what the author sees before the projection catches up.

Posting a comment appends an event; the comment reaches ``comments_current`` a moment later,
when the processors have projected it. So that the author sees it at once, the portal keeps an
*optimistic* copy (built from the very event it appended) in the session, shows it merged into
the thread, and drops it as soon as the projection contains the change (:func:`merge_pending`).
Everyone else sees the comment once it is projected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from cairn_contract.v1 import events_pb2
from query.collaboration import Comment

MAX_DEPTH = 4  # deeper replies are shown at this indentation


def optimistic(event: events_pb2.Event, author: str) -> Comment:
    """The comment a ``comment_added`` event will become once projected."""
    env = event.envelope
    added = event.comment_added
    at = datetime.fromtimestamp(env.occurred_at_ns / 1e9, UTC)
    kind = {1: "run", 2: "project", 3: "model"}.get(env.aggregate_kind, "")
    return Comment(
        comment_id=added.comment_id,
        target_kind=kind,
        target_id=env.aggregate_id,
        team=env.team,
        project=env.project,
        author=author,
        body_markdown=added.body_markdown,
        anchor_metric=added.anchor.metric_key,
        anchor_step_min=added.anchor.step_min,
        anchor_step_max=added.anchor.step_max,
        reply_to=added.reply_to,
        mentions=tuple(added.mentions),
        created_at=at,
        updated_at=at,
        edit_count=0,
        deleted=False,
        deleted_by="",
    )


def edited(comment: Comment, body: str, at: datetime) -> Comment:
    """The optimistic copy of ``comment`` after an edit."""
    return replace(comment, body_markdown=body, updated_at=at, edit_count=comment.edit_count + 1)


def deleted(comment: Comment, by: str, at: datetime) -> Comment:
    """The optimistic tombstone of ``comment``."""
    return replace(comment, deleted=True, deleted_by=by, updated_at=at)


def _projected(pending: Comment, found: Comment | None) -> bool:
    if found is None:
        return False
    if pending.deleted:
        return found.deleted
    return found.edit_count >= pending.edit_count


def merge_pending(
    projected: Sequence[Comment], pending: Iterable[Comment]
) -> tuple[list[Comment], list[Comment]]:
    """(the thread to show, the pending changes the projection does not contain yet).

    A pending copy replaces the projected comment of the same id (an edit or deletion not yet
    projected) or is added (a new comment); one the projection already reflects is dropped."""
    by_id = {comment.comment_id: comment for comment in projected}
    waiting = [p for p in pending if not _projected(p, by_id.get(p.comment_id))]
    shown = dict(by_id)
    for change in waiting:
        shown[change.comment_id] = change
    ordered = sorted(shown.values(), key=lambda c: (_aware(c.created_at), c.comment_id))
    return ordered, waiting


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def threaded(comments: Sequence[Comment]) -> list[tuple[Comment, int]]:
    """Comments in reading order with their depth: each root (oldest first) followed by its
    replies, depth-first. A reply whose parent is missing is shown as a root."""
    ids = {c.comment_id for c in comments}
    children: dict[str, list[Comment]] = {}
    roots: list[Comment] = []
    for comment in sorted(comments, key=lambda c: (_aware(c.created_at), c.comment_id)):
        if comment.reply_to and comment.reply_to in ids and comment.reply_to != comment.comment_id:
            children.setdefault(comment.reply_to, []).append(comment)
        else:
            roots.append(comment)
    out: list[tuple[Comment, int]] = []
    seen: set[str] = set()

    def visit(comment: Comment, depth: int) -> None:
        if comment.comment_id in seen:
            return
        seen.add(comment.comment_id)
        out.append((comment, min(depth, MAX_DEPTH)))
        for child in children.get(comment.comment_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return out


def anchored(comments: Iterable[Comment], metric_key: str) -> list[Comment]:
    """The live comments anchored on ``metric_key`` (shown as bands on that metric's chart)."""
    return [c for c in comments if c.anchor_metric == metric_key and not c.deleted]
