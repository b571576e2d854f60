"""Rows that rule and inbox events project into (``rules``, ``inbox_reads``; pure).

Webhook secrets stay in the event log: the ``rules`` table lists each action's kind and target
only, so no read path (portal, SQL, CLI) can show a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn_contract.v1 import automations_pb2, envelope_pb2, events_pb2
from domain import row_fields as rows
from domain.automations import Action

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event


def target_label(action: Action) -> str:
    """How an action is shown: ``webhook https://host/path``, ``email a@b``, ``inbox ana``."""
    return f"{action.kind} {action.target}"


def _rule_row(
    p: Projection,
    e: Event,
    action: str,
    definition: automations_pb2.RuleDefinition | None = None,
    reason: str = "",
) -> None:
    d = definition or automations_pb2.RuleDefinition()
    p.buffers["rules"].append(
        team=e.envelope.team,
        rule=e.envelope.aggregate_id,
        rule_id=e.envelope.event_id if action == "created" else "",
        action=action,
        trigger=d.trigger,
        condition=d.condition,
        rule_project=d.project,
        stalled_after_s=d.stalled_after_s,
        targets=[target_label(Action.from_proto(a)) for a in d.actions],
        reason=reason,
        actor=rows.actor(e),
        **rows.order(e),
    )


def rule_created(p: Projection, e: Event) -> None:
    _rule_row(p, e, "created", e.rule_created.definition)


def rule_changed(p: Projection, e: Event) -> None:
    _rule_row(p, e, "changed", e.rule_changed.definition)


def rule_paused(p: Projection, e: Event) -> None:
    _rule_row(p, e, "paused", reason=e.rule_paused.reason)


def rule_resumed(p: Projection, e: Event) -> None:
    _rule_row(p, e, "resumed", reason=e.rule_resumed.reason)


def rule_deleted(p: Projection, e: Event) -> None:
    _rule_row(p, e, "deleted", reason=e.rule_deleted.reason)


def inbox_items_read(p: Projection, e: Event) -> None:
    """Read marks belong to the authenticated person (the actor ingest recorded), whatever
    ``user_id`` says; ingest refuses a mismatch anyway (docs/permissions.md, W12)."""
    user = rows.actor(e)
    if e.envelope.actor.kind != envelope_pb2.ACTOR_KIND_USER and not e.envelope.actor.on_behalf_of:
        return  # a service key acting for nobody has no inbox (ingest refuses these now)
    for item in e.inbox_items_read.item_ids:
        p.buffers["inbox_reads"].append(
            team=e.envelope.team, user_id=user, item_id=item, **rows.order(e)
        )
