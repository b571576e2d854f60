"""``ExportEvents``: a project's stored events for ``cairn export-bundle``
(docs/import-export.md). Only a member of the project's team exports it
(:func:`query.bundles.check_team`)."""

from __future__ import annotations

from collections.abc import Iterator

from cairn_contract.errors import ValidationError
from cairn_contract.v1 import query_pb2
from query import bundles
from query.access import Caller
from queryservice.rpc import ReadContext, Rpc, server_streaming


def _team(caller: Caller, team: str) -> str:
    if team:
        return team
    if len(caller.teams) == 1:
        return next(iter(caller.teams))
    raise ValidationError(
        "team: you belong to several teams; name the project's team", field="team", rule="required"
    )


def export_events(
    ctx: ReadContext, request: query_pb2.ExportEventsRequest
) -> Iterator[query_pb2.EventsChunk]:
    if not request.project:
        raise ValidationError("project: required", field="project", rule="required")
    team = _team(ctx.caller, request.team)
    total = bundles.count_project_events(
        ctx.client, ctx.caller, team, request.project, database=ctx.database
    )
    yield query_pb2.EventsChunk(total=total)
    for chunk in bundles.project_event_payloads(
        ctx.client, ctx.caller, team, request.project, database=ctx.database
    ):
        yield query_pb2.EventsChunk(events=chunk)


RPCS: tuple[Rpc, ...] = (
    server_streaming(
        "ExportEvents", query_pb2.ExportEventsRequest, query_pb2.EventsChunk, export_events
    ),
)
