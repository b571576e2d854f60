"""Automation RPCs: ``ListAutomationRules`` and ``ListAutomationDeliveries`` (what ``cairn
automations ls|deliveries`` shows). Rules and deliveries belong to a team: a caller reads those
of the teams their key stands for (:mod:`queryservice.callers`), never a webhook secret (none is
projected, see :mod:`domain.automation_rows`)."""

from __future__ import annotations

from cairn_contract.errors import PermissionDeniedError
from cairn_contract.v1 import query_pb2
from query import automations as reads
from query.access import Caller
from queryservice.messages import nanos
from queryservice.rpc import ReadContext, Rpc, unary

DEFAULT_DELIVERIES = 100


def _team(caller: Caller, team: str) -> str | None:
    """The requested team, refused when the caller is not a member (rather than an empty list
    that would look like a team without rules)."""
    if team and not caller.admin and team not in caller.teams:
        raise PermissionDeniedError(
            f"team {team!r} is not one of your teams", field="team", rule="team_scope"
        )
    return team or None


def list_rules(
    ctx: ReadContext, request: query_pb2.ListAutomationRulesRequest
) -> query_pb2.ListAutomationRulesResponse:
    found = reads.rules(
        ctx.client, ctx.caller, team=_team(ctx.caller, request.team), database=ctx.database
    )
    return query_pb2.ListAutomationRulesResponse(
        rules=[
            query_pb2.AutomationRule(
                team=r.team,
                name=r.name,
                trigger=r.trigger,
                condition=r.condition,
                project=r.project,
                stalled_after_s=r.stalled_after_s,
                targets=list(r.targets),
                paused=r.paused,
                created_by=r.created_by,
                created_at_ns=nanos(r.created_at),
                updated_at_ns=nanos(r.updated_at),
            )
            for r in found
        ]
    )


def list_deliveries(
    ctx: ReadContext, request: query_pb2.ListAutomationDeliveriesRequest
) -> query_pb2.ListAutomationDeliveriesResponse:
    found = reads.deliveries(
        ctx.client,
        ctx.caller,
        rule=request.rule or None,
        team=_team(ctx.caller, request.team),
        limit=request.limit or DEFAULT_DELIVERIES,
        database=ctx.database,
    )
    return query_pb2.ListAutomationDeliveriesResponse(
        deliveries=[
            query_pb2.AutomationDelivery(
                delivery_id=d.delivery_id,
                team=d.team,
                rule=d.rule,
                trigger=d.trigger,
                event_id=d.event_id,
                action_kind=d.action_kind,
                target=d.target,
                status=d.status,
                attempts=d.attempts,
                http_status=d.http_status,
                last_error=d.last_error,
                text=d.text,
                first_attempt_at_ns=nanos(d.first_attempt_at),
                last_attempt_at_ns=nanos(d.last_attempt_at),
            )
            for d in found
        ]
    )


RPCS: tuple[Rpc, ...] = (
    unary(
        "ListAutomationRules",
        query_pb2.ListAutomationRulesRequest,
        query_pb2.ListAutomationRulesResponse,
        list_rules,
    ),
    unary(
        "ListAutomationDeliveries",
        query_pb2.ListAutomationDeliveriesRequest,
        query_pb2.ListAutomationDeliveriesResponse,
        list_deliveries,
    ),
)
