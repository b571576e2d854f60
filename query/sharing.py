"""Who owns what and what is shared with whom: owned projects and models, transfers, shares.

Follows the query layer's rules (see :mod:`query.projects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from query import _execute
from query._execute import LATEST
from query.access import Caller, Visibility


@dataclass(frozen=True)
class OwnedObject:
    kind: str  # project / model
    id: str
    name: str
    team: str
    project: str
    owner: str


def owned_objects(
    client: Client, caller: Caller, *, database: str | None = None
) -> tuple[OwnedObject, ...]:
    """projects and models the caller may see,
    with their current owner (the latest transfer's recipient, else whoever created them).
    Runs' owners come from :func:`query.runs.search_runs` (column ``owner``)."""
    vis = Visibility.load(client, caller, database)
    transfers = (
        "SELECT target_kind, target_id, argMax(to_user, (occurred_at, event_id)) AS owner"
        f" FROM {vis.table('ownership')} WHERE target_kind IN ('project', 'model')"
        " GROUP BY target_kind, target_id"
    )
    project_visible = vis.predicate("p.team", "p.project", kind="'project'", object_id="p.project")
    model_visible = vis.predicate("m.team", "m.project", kind="'model'", object_id="m.model_id")
    sql = f"""
SELECT 'project' AS kind, p.project AS id, p.name AS name, p.team AS team, p.project AS project,
    if(o.owner != '', o.owner, p.actor) AS owner
FROM (SELECT team, project, argMax(display_name, {LATEST}) AS name,
        argMin(actor, occurred_at) AS actor
      FROM {vis.table("projects")} GROUP BY team, project) AS p
LEFT JOIN ({transfers}) AS o ON o.target_kind = 'project' AND o.target_id = p.project
WHERE {project_visible}
UNION ALL
SELECT 'model' AS kind, m.model_id AS id, m.name AS name, m.team AS team, m.project AS project,
    if(o.owner != '', o.owner, m.actor) AS owner
FROM (SELECT model_id, argMax(name, {LATEST}) AS name, any(team) AS team,
        any(project) AS project, argMin(actor, occurred_at) AS actor
      FROM {vis.table("models")} GROUP BY model_id) AS m
LEFT JOIN ({transfers}) AS o ON o.target_kind = 'model' AND o.target_id = m.model_id
WHERE {model_visible}
"""
    rows = _execute.rows(client, sql, vis.parameters)
    return tuple(sorted((OwnedObject(**row) for row in rows), key=lambda o: (o.kind, o.team, o.id)))


@dataclass(frozen=True)
class Transfer:
    target_kind: str
    target_id: str
    team: str
    project: str
    from_user: str
    to_user: str
    reason: str
    actor: str
    occurred_at: datetime


def recent_transfers(
    client: Client,
    caller: Caller,
    *,
    limit: int = 200,
    database: str | None = None,
) -> tuple[Transfer, ...]:
    """ownership transfers of anything the caller
    may see, newest first (the handover log)."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    sql = f"""
SELECT target_kind, target_id, team, project, from_user, to_user, reason, actor, occurred_at
FROM (SELECT DISTINCT * FROM {vis.table("ownership")})
WHERE {visible}
ORDER BY occurred_at DESC, event_id LIMIT {{limit:UInt32}}
"""
    params = {"limit": max(1, min(limit, 5000)), **vis.parameters}
    return tuple(Transfer(**row) for row in _execute.rows(client, sql, params))


@dataclass(frozen=True)
class ShareRow:
    target_kind: str
    target_id: str
    team: str
    project: str
    grantee_kind: str
    grantee_id: str
    access: str
    shared_by: str
    updated_at: datetime


def shares_involving(
    client: Client, caller: Caller, *, database: str | None = None
) -> tuple[ShareRow, ...]:
    """active shares of the caller's teams'
    objects, and active shares granted to the caller or their teams (what others shared with
    them); every active share for admins."""
    vis = Visibility.load(client, caller, database)
    everything = "1 OR " if caller.admin else ""
    sql = f"""
SELECT target_kind, target_id, team, project, grantee_kind, grantee_id, access, shared_by,
    updated_at
FROM {vis.table("shares_current")}
WHERE active AND ({everything}has({{teams:Array(String)}}, team)
    OR (grantee_kind = 'team' AND has({{teams:Array(String)}}, grantee_id))
    OR (grantee_kind = 'user' AND grantee_id = {{user:String}}))
ORDER BY updated_at DESC
"""
    params = {"teams": sorted(caller.teams), "user": caller.user_id}
    return tuple(ShareRow(**row) for row in _execute.rows(client, sql, params))
