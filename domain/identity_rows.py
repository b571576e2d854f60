"""Rows that team, membership, API key and project events project into.

Each public function is named after the event type it projects (``domain.projections`` finds it
by that name for every type in ``cairn_contract.event_types.EVENT_TYPES``) and appends the event's
rows to a :class:`~domain.projections.Projection`. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn_contract.v1 import events_pb2, identity_pb2
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event


def team_created(p: Projection, e: Event) -> None:
    c = e.team_created
    p.buffers["teams"].append(
        team=e.envelope.aggregate_id,
        display_name=c.display_name,
        description=c.description,
        actor=rows.actor(e),
        **rows.order(e),
    )


def _membership(p: Projection, e: Event, action: str, user_id: str, **extra: str) -> None:
    row = {"display_name": "", "email": "", "role": "", "reason": ""} | extra
    p.buffers["memberships"].append(
        team=e.envelope.aggregate_id,
        user_id=user_id,
        action=action,
        actor=rows.actor(e),
        **row,
        **rows.order(e),
    )


def member_joined(p: Projection, e: Event) -> None:
    m = e.member_joined
    role = rows.enum_label(identity_pb2.MemberRole, m.role)
    _membership(p, e, "joined", m.user_id, display_name=m.display_name, email=m.email, role=role)


def member_left(p: Projection, e: Event) -> None:
    _membership(p, e, "left", e.member_left.user_id, reason=e.member_left.reason)


def _api_key(p: Projection, e: Event, action: str, key_id: str, **extra: str) -> None:
    row = {"role": "", "name": "", "user_id": "", "reason": ""} | extra
    p.buffers["api_keys"].append(
        team=e.envelope.aggregate_id,
        key_id=key_id,
        action=action,
        actor=rows.actor(e),
        **row,
        **rows.order(e),
    )


def api_key_issued(p: Projection, e: Event) -> None:
    k = e.api_key_issued
    role = rows.enum_label(identity_pb2.ApiKeyRole, k.role)
    _api_key(p, e, "issued", k.key_id, role=role, name=k.name, user_id=k.user_id)


def api_key_revoked(p: Projection, e: Event) -> None:
    _api_key(p, e, "revoked", e.api_key_revoked.key_id, reason=e.api_key_revoked.reason)


def project_created(p: Projection, e: Event) -> None:
    c = e.project_created
    p.buffers["projects"].append(
        team=e.envelope.team,
        project=e.envelope.project or e.envelope.aggregate_id,
        display_name=c.display_name,
        description=c.description,
        actor=rows.actor(e),
        **rows.order(e),
    )
