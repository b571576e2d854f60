"""Comments, decisions, shares, ownership, project notes and activity feeds.

Everything people say about runs and models, and who did what when. Each function reads the
latest-state views (or the history tables, for histories) filtered by the caller's visibility
(:mod:`query.access`). Deleted comments stay listed as tombstones (so a thread keeps its shape);
their bodies are shown to admins only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _execute
from query._execute import LATEST
from query.access import Caller, Visibility

MAX_FEED = 1_000
QUIET_EVENT_TYPES = (
    "metrics",
    "system_metrics",
    "histograms",
    "media_logged",
)  # too many to be activity


@dataclass(frozen=True)
class Comment:
    comment_id: str
    target_kind: str  # run / project / model
    target_id: str
    team: str
    project: str
    author: str
    body_markdown: str  # '' for a deleted comment unless the caller is an admin
    anchor_metric: str
    anchor_step_min: int
    anchor_step_max: int
    reply_to: str
    mentions: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    edit_count: int
    deleted: bool
    deleted_by: str


@dataclass(frozen=True)
class Decision:
    decision_id: str
    target_kind: str
    target_id: str
    team: str
    project: str
    author: str
    title: str
    body_markdown: str
    run_ids: tuple[str, ...]
    decided_at: datetime


@dataclass(frozen=True)
class Share:
    target_kind: str
    target_id: str
    team: str
    project: str
    grantee_kind: str  # user / team
    grantee_id: str
    access: str  # view / comment / edit
    active: bool
    shared_by: str
    updated_at: datetime


@dataclass(frozen=True)
class OwnershipTransfer:
    target_kind: str
    target_id: str
    from_user: str
    to_user: str
    reason: str
    actor: str
    occurred_at: datetime


@dataclass(frozen=True)
class ProjectNotes:
    team: str
    project: str
    body_markdown: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class Activity:
    """One thing someone (or some service) did: an event from the archive."""

    event_id: str
    occurred_at: datetime
    team: str
    project: str
    actor_kind: str
    actor: str
    event_type: str  # run_created, comment_added, model_version_stage_changed, ...
    aggregate_kind: str
    aggregate_id: str


def _nanos(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValidationError("since must be timezone-aware", field="since", rule="timezone")
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _target_args(target_kind: str, target_id: str) -> dict[str, str]:
    if not target_kind or not target_id:
        raise ValidationError("target_kind and target_id are required", field="target")
    return {"target_kind": target_kind, "target_id": target_id}


def comments(
    client: Client,
    caller: Caller,
    target_kind: str,
    target_id: str,
    *,
    database: str | None = None,
) -> tuple[Comment, ...]:
    """The comments on one run, project or model, oldest first (replies point at parents)."""
    vis = Visibility.load(client, caller, database)
    body = "body_markdown" if caller.admin else "if(deleted, '', body_markdown)"
    visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    sql = f"""
SELECT comment_id, target_kind, target_id, team, project, author, {body} AS body,
    anchor_metric, anchor_step_min, anchor_step_max, reply_to, mentions, created_at,
    updated_at, edit_count, deleted, deleted_by
FROM {vis.table("comments_current")}
WHERE target_kind = {{target_kind:String}} AND target_id = {{target_id:String}} AND {visible}
ORDER BY created_at, comment_id
"""
    found = _execute.rows(client, sql, {**_target_args(target_kind, target_id), **vis.parameters})
    return tuple(_comment(row) for row in found)


def _comment(row: dict[str, Any]) -> Comment:
    row["body_markdown"] = row.pop("body")
    row["mentions"] = tuple(row["mentions"])
    row["deleted"] = bool(row["deleted"])
    return Comment(**row)


def decisions(
    client: Client,
    caller: Caller,
    *,
    project: str | None = None,
    run_id: str | None = None,
    target_kind: str | None = None,
    target_id: str | None = None,
    database: str | None = None,
) -> tuple[Decision, ...]:
    """Decisions, newest first: on a target, in a project, or naming a run."""
    vis = Visibility.load(client, caller, database)
    conditions = [vis.predicate("team", "project", kind="target_kind", object_id="target_id")]
    params: dict[str, Any] = {}
    if project is not None:
        conditions.append("project = {project:String}")
        params["project"] = project
    if run_id is not None:
        conditions.append("has(run_ids, {run_id:String})")
        params["run_id"] = run_id
    if target_kind is not None and target_id is not None:
        conditions.append("target_kind = {target_kind:String} AND target_id = {target_id:String}")
        params |= _target_args(target_kind, target_id)
    sql = f"""
SELECT * FROM (
    SELECT decision_id, argMax(target_kind, {LATEST}) AS target_kind,
        argMax(target_id, {LATEST}) AS target_id, argMax(team, {LATEST}) AS team,
        argMax(project, {LATEST}) AS project, argMax(author, {LATEST}) AS author,
        argMax(title, {LATEST}) AS title, argMax(body_markdown, {LATEST}) AS body_markdown,
        argMax(run_ids, {LATEST}) AS run_ids, min(occurred_at) AS decided_at
    FROM {vis.table("decisions")} GROUP BY decision_id
)
WHERE {" AND ".join(conditions)}
ORDER BY decided_at DESC, decision_id
"""
    found = _execute.rows(client, sql, {**params, **vis.parameters})
    return tuple(Decision(**{**row, "run_ids": tuple(row["run_ids"])}) for row in found)


def shares(
    client: Client,
    caller: Caller,
    target_kind: str,
    target_id: str,
    *,
    include_revoked: bool = False,
    database: str | None = None,
) -> tuple[Share, ...]:
    """Who an object (run, project, model) is shared with, if the caller may see the object."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    active = "" if include_revoked else " AND active"
    sql = f"""
SELECT target_kind, target_id, team, project, grantee_kind, grantee_id, access, active,
    shared_by, updated_at
FROM {vis.table("shares_current")}
WHERE target_kind = {{target_kind:String}} AND target_id = {{target_id:String}}{active}
    AND {visible}
ORDER BY grantee_kind, grantee_id
"""
    found = _execute.rows(client, sql, {**_target_args(target_kind, target_id), **vis.parameters})
    return tuple(Share(**{**row, "active": bool(row["active"])}) for row in found)


def ownership_history(
    client: Client,
    caller: Caller,
    target_kind: str,
    target_id: str,
    *,
    database: str | None = None,
) -> tuple[OwnershipTransfer, ...]:
    """Every ownership transfer of a run, project or model, oldest first."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    sql = f"""
SELECT target_kind, target_id, from_user, to_user, reason, actor, occurred_at
FROM (SELECT DISTINCT * FROM {vis.table("ownership")}
      WHERE target_kind = {{target_kind:String}} AND target_id = {{target_id:String}})
WHERE {visible}
ORDER BY occurred_at, event_id
"""
    found = _execute.rows(client, sql, {**_target_args(target_kind, target_id), **vis.parameters})
    return tuple(OwnershipTransfer(**row) for row in found)


def project_notes(
    client: Client, caller: Caller, team: str, project: str, *, database: str | None = None
) -> ProjectNotes | None:
    """A project's notes (None if there are none or the caller may not see the project)."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="'project'", object_id="project")
    sql = f"""
SELECT team, project, body_markdown, updated_by, updated_at
FROM {vis.table("project_notes_current")}
WHERE team = {{team:String}} AND project = {{project:String}} AND {visible}
"""
    found = _execute.rows(client, sql, {"team": team, "project": project, **vis.parameters})
    return ProjectNotes(**found[0]) if found else None


def activity(
    client: Client,
    caller: Caller,
    *,
    team: str | None = None,
    project: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    database: str | None = None,
) -> tuple[Activity, ...]:
    """Who did what when, newest first: a team's, a project's or a run's feed (metric batches
    are left out: they are the run working, not people acting)."""
    if not 1 <= limit <= MAX_FEED:
        raise ValidationError(f"limit must be 1..{MAX_FEED}", field="limit", rule="range")
    vis = Visibility.load(client, caller, database)
    conditions = [
        "event_type NOT IN {quiet:Array(String)}",
        vis.predicate("team", "project", kind="aggregate_kind", object_id="aggregate_id"),
    ]
    params: dict[str, Any] = {"quiet": list(QUIET_EVENT_TYPES), "limit": limit}
    for column, value in (("team", team), ("project", project), ("actor", actor)):
        if value is not None:
            conditions.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if run_id is not None:
        conditions.append("aggregate_kind = 'run' AND aggregate_id = {run_id:String}")
        params["run_id"] = run_id
    if since is not None:
        conditions.append("occurred_at >= fromUnixTimestamp64Nano({since:Int64})")
        params["since"] = _nanos(since)
    sql = f"""
SELECT event_id, occurred_at, team, project, actor_kind, actor, event_type, aggregate_kind,
    aggregate_id
FROM (SELECT DISTINCT event_id, occurred_at, team, project, actor_kind, actor, event_type,
        aggregate_kind, aggregate_id
      FROM {vis.table("events")} WHERE {" AND ".join(conditions)})
ORDER BY occurred_at DESC, event_id
LIMIT {{limit:UInt32}}
"""
    found = _execute.rows(client, sql, {**params, **vis.parameters})
    return tuple(Activity(**row) for row in found)


# --- the portal's discussion reads: a project's comments, a comment's history --------------


def project_comments(
    client: Client,
    caller: Caller,
    team: str,
    project: str,
    *,
    limit: int = 200,
    database: str | None = None,
) -> tuple[Comment, ...]:
    """the comments on anything in a project (the
    project, its runs, its models), newest first; deleted ones as tombstones (bodies for
    admins only), like :func:`query.collaboration.comments`."""
    vis = Visibility.load(client, caller, database)
    body = "body_markdown" if caller.admin else "if(deleted, '', body_markdown)"
    visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    sql = f"""
SELECT comment_id, target_kind, target_id, team, project, author, {body} AS body_markdown,
    anchor_metric, anchor_step_min, anchor_step_max, reply_to, mentions, created_at,
    updated_at, edit_count, deleted, deleted_by
FROM {vis.table("comments_current")}
WHERE team = {{team:String}} AND project = {{project:String}} AND {visible}
ORDER BY created_at DESC, comment_id LIMIT {{limit:UInt32}}
"""
    params = {"team": team, "project": project, "limit": max(1, min(limit, 1000))}
    rows = _execute.rows(client, sql, {**params, **vis.parameters})
    return tuple(
        Comment(**{**row, "mentions": tuple(row["mentions"]), "deleted": bool(row["deleted"])})
        for row in rows
    )


@dataclass(frozen=True)
class CommentVersion:
    action: str  # added / edited / deleted
    author: str
    body_markdown: str  # '' for deletions, and for any version of a deleted comment (non-admins)
    reason: str
    occurred_at: datetime


def comment_history(
    client: Client, caller: Caller, comment_id: str, *, database: str | None = None
) -> tuple[CommentVersion, ...]:
    """every version of a comment, oldest first."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    body = "body_markdown" if caller.admin else "if(gone, '', body_markdown)"
    sql = f"""
SELECT action, author, {body} AS body_markdown, reason, occurred_at
FROM (
    SELECT DISTINCT event_id, action, author, body_markdown, reason, occurred_at, team, project,
        target_kind, target_id, countIf(action = 'deleted') OVER () > 0 AS gone
    FROM {vis.table("comments")} WHERE comment_id = {{comment_id:String}}
)
WHERE {visible}
ORDER BY occurred_at, event_id
"""
    rows = _execute.rows(client, sql, {"comment_id": comment_id, **vis.parameters})
    return tuple(CommentVersion(**row) for row in rows)
