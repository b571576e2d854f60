"""Rows that saved views project into: one ``saved_views`` row per save or deletion.

Each public function is named after the event type it projects (``domain.projections`` finds it
by that name). The table keeps every version (identity: view id and event id), so a redelivered
event collapses into its own row and ``saved_views_current`` picks the latest state. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn_contract.v1 import events_pb2, views_pb2
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event


def _row(p: Projection, e: Event, action: str, **values: Any) -> None:
    row: dict[str, Any] = {
        "name": "",
        "page": "",
        "state_version": 0,
        "params": {},
        "visibility": "",
        "user_default": False,
        "reason": "",
    } | values
    p.buffers["saved_views"].append(
        view_id=e.envelope.aggregate_id,
        action=action,
        actor=rows.actor(e),
        **rows.scope(e),
        **row,
        **rows.order(e),
    )


def view_saved(p: Projection, e: Event) -> None:
    v = e.view_saved
    _row(
        p,
        e,
        "saved",
        name=v.name,
        page=v.page,
        state_version=v.state_version,
        params={param.name: param.value for param in v.params},
        visibility=rows.enum_label(views_pb2.ViewVisibility, v.visibility),
        user_default=v.user_default,
    )


def view_deleted(p: Projection, e: Event) -> None:
    _row(p, e, "deleted", reason=e.view_deleted.reason)
