"""Rows that comments, decisions, shares, ownership transfers and project notes project into.

Each public function is named after the event type it projects (``domain.projections`` finds it
by that name for every type in ``cairn_contract.event_types.EVENT_TYPES``) and appends the event's
rows to a :class:`~domain.projections.Projection`. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn_contract.v1 import collaboration_pb2, events_pb2
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event


def _comment(p: Projection, e: Event, action: str, comment_id: str, **extra: Any) -> None:
    row: dict[str, Any] = {
        "body_markdown": "",
        "anchor_metric": "",
        "anchor_step_min": 0,
        "anchor_step_max": 0,
        "reply_to": "",
        "mentions": [],
        "reason": "",
    } | extra
    p.buffers["comments"].append(
        comment_id=comment_id,
        action=action,
        author=rows.actor(e),
        **rows.target(e),
        **rows.scope(e),
        **row,
        **rows.order(e),
    )


def comment_added(p: Projection, e: Event) -> None:
    c = e.comment_added
    _comment(
        p,
        e,
        "added",
        c.comment_id,
        body_markdown=c.body_markdown,
        anchor_metric=c.anchor.metric_key,
        anchor_step_min=c.anchor.step_min,
        anchor_step_max=c.anchor.step_max,
        reply_to=c.reply_to,
        mentions=list(c.mentions),
    )


def comment_edited(p: Projection, e: Event) -> None:
    c = e.comment_edited
    _comment(p, e, "edited", c.comment_id, body_markdown=c.body_markdown, mentions=list(c.mentions))


def comment_deleted(p: Projection, e: Event) -> None:
    _comment(p, e, "deleted", e.comment_deleted.comment_id, reason=e.comment_deleted.reason)


def decision_recorded(p: Projection, e: Event) -> None:
    d = e.decision_recorded
    p.buffers["decisions"].append(
        decision_id=d.decision_id,
        author=rows.actor(e),
        title=d.title,
        body_markdown=d.body_markdown,
        run_ids=list(d.run_ids),
        **rows.target(e),
        **rows.scope(e),
        **rows.order(e),
    )


def _share(
    p: Projection,
    e: Event,
    grantee: collaboration_pb2.Principal,
    access: str,
    active: bool,
    note: str,
) -> None:
    p.buffers["shares"].append(
        grantee_kind=rows.enum_label(collaboration_pb2.PrincipalKind, grantee.kind),
        grantee_id=grantee.id,
        access=access,
        active=active,
        note=note,
        actor=rows.actor(e),
        **rows.target(e),
        **rows.scope(e),
        **rows.order(e),
    )


def resource_shared(p: Projection, e: Event) -> None:
    s = e.resource_shared
    _share(p, e, s.grantee, rows.enum_label(collaboration_pb2.AccessLevel, s.access), True, s.note)


def resource_unshared(p: Projection, e: Event) -> None:
    _share(p, e, e.resource_unshared.grantee, "", False, "")


def ownership_transferred(p: Projection, e: Event) -> None:
    o = e.ownership_transferred
    p.buffers["ownership"].append(
        from_user=o.from_user,
        to_user=o.to_user,
        reason=o.reason,
        actor=rows.actor(e),
        **rows.target(e),
        **rows.scope(e),
        **rows.order(e),
    )


def project_notes_set(p: Projection, e: Event) -> None:
    p.buffers["project_notes"].append(
        team=e.envelope.team,
        project=e.envelope.project or e.envelope.aggregate_id,
        body_markdown=e.project_notes_set.body_markdown,
        actor=rows.actor(e),
        **rows.order(e),
    )
