"""Read functions the portal needs beyond the core query API: project and model overviews,
people and keys, ownership and shares of a person, comment history, per-run extras.

They follow the query layer's rules: values bound as parameters, identifiers from
:class:`query.access.Visibility`, the caller's visibility in every WHERE clause, frozen
dataclasses out. (Written with the portal; candidates to split by concern as they grow.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from query import _execute
from query.access import Caller, Visibility
from query.collaboration import Comment

LATEST = "(sequence, occurred_at, event_id)"
MAX_KEYS = 500


# --- projects (suggested home: query/projects.py) ------------------------------------------------


@dataclass(frozen=True)
class ProjectActivity:
    team: str
    project: str
    display_name: str
    description: str
    runs: int
    runs_since: int  # runs created since the ``since`` argument
    last_run_at: datetime | None
    last_comment_at: datetime | None
    last_comment_author: str
    last_comment_excerpt: str
    best_model: str  # name of the newest production model version ('' if none)
    best_model_version: int


def projects_overview(
    client: Client, caller: Caller, *, since: datetime, database: str | None = None
) -> tuple[ProjectActivity, ...]:
    """TEMPORARY (belongs in query/projects.py): every project the caller may see, declared
    (``project_created``) or only used by runs, with its activity: run counts, the latest
    comment and the newest production model."""
    vis = Visibility.load(client, caller, database)
    params = {**vis.parameters, "since": int(since.timestamp() * 1e9)}
    run_visible = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    runs_sql = f"""
SELECT team, project, count() AS runs, countIf(created_ns >= {{since:Int64}}) AS runs_since,
    max(created_ns) AS last_run_ns
FROM (
    SELECT run_id, anyIf(value, field = 'team') AS team, anyIf(value, field = 'project') AS project,
        toInt64OrZero(anyIf(value, field = 'created_at')) AS created_ns
    FROM {vis.table("run_fields")} WHERE field IN ('team', 'project', 'created_at')
    GROUP BY run_id HAVING created_ns > 0
)
WHERE {run_visible}
GROUP BY team, project
"""
    declared_sql = f"""
SELECT team, project, argMax(display_name, {LATEST}) AS display_name,
    argMax(description, {LATEST}) AS description
FROM {vis.table("projects")}
WHERE {vis.predicate("team", "project", kind="'project'", object_id="project")}
GROUP BY team, project
"""
    comment_visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    comments_sql = f"""
SELECT team, project, max(created_at) AS at, argMax(author, created_at) AS author,
    argMax(body_markdown, created_at) AS body
FROM {vis.table("comments_current")}
WHERE NOT deleted AND {comment_visible}
GROUP BY team, project
"""
    model_visible = vis.predicate("v.team", "v.project", kind="'model'", object_id="v.model_id")
    models_sql = f"""
SELECT v.team AS team, v.project AS project,
    argMax(n.name, (v.created_at, v.version)) AS name, argMax(v.version, v.created_at) AS version
FROM {vis.table("model_versions_current")} AS v
LEFT JOIN (SELECT model_id, argMax(name, {LATEST}) AS name FROM {vis.table("models")}
           GROUP BY model_id) AS n ON n.model_id = v.model_id
WHERE v.stage = 'production' AND {model_visible}
GROUP BY v.team, v.project
"""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def slot(row: dict[str, Any]) -> dict[str, Any]:
        return found.setdefault((row["team"], row["project"]), {})

    for row in _execute.rows(client, declared_sql, params):
        slot(row).update(display_name=row["display_name"], description=row["description"])
    for row in _execute.rows(client, runs_sql, params):
        slot(row).update(
            runs=int(row["runs"]),
            runs_since=int(row["runs_since"]),
            last_run_at=_time(int(row["last_run_ns"])),
        )
    for row in _execute.rows(client, comments_sql, params):
        slot(row).update(
            last_comment_at=row["at"],
            last_comment_author=row["author"],
            last_comment_excerpt=_excerpt(row["body"]),
        )
    for row in _execute.rows(client, models_sql, params):
        slot(row).update(best_model=row["name"] or "", best_model_version=int(row["version"]))
    out = []
    for (team, project), values in sorted(found.items()):
        if not project:
            continue
        out.append(
            ProjectActivity(
                team=team,
                project=project,
                display_name=values.get("display_name") or project,
                description=values.get("description", ""),
                runs=values.get("runs", 0),
                runs_since=values.get("runs_since", 0),
                last_run_at=values.get("last_run_at"),
                last_comment_at=values.get("last_comment_at"),
                last_comment_author=values.get("last_comment_author", ""),
                last_comment_excerpt=values.get("last_comment_excerpt", ""),
                best_model=values.get("best_model", ""),
                best_model_version=values.get("best_model_version", 0),
            )
        )
    return tuple(out)


def _time(nanos: int) -> datetime | None:
    from query._records import to_time

    return to_time(nanos)


def _excerpt(markdown: str, length: int = 120) -> str:
    text = " ".join(markdown.split())
    return text if len(text) <= length else text[: length - 1] + "…"


# --- people and keys (suggested home: query/people.py) -------------------------------------------


@dataclass(frozen=True)
class Member:
    team: str
    user_id: str
    display_name: str
    email: str
    role: str
    active: bool
    joined_at: datetime | None
    left_at: datetime | None


def members(client: Client, caller: Caller, *, database: str | None = None) -> tuple[Member, ...]:
    """TEMPORARY (belongs in query/people.py): members of the caller's teams (every team for
    admins), people who left included (``active`` false), ordered by team and name."""
    vis = Visibility.load(client, caller, database)
    condition = "1" if caller.admin else "has({caller_teams:Array(String)}, team)"
    sql = f"""
SELECT team, user_id, display_name, email, role, active, joined_at, left_at
FROM {vis.table("members_current")} WHERE {condition}
ORDER BY team, display_name, user_id
"""
    rows = _execute.rows(client, sql, vis.parameters)
    return tuple(Member(**{**row, "active": bool(row["active"])}) for row in rows)


def teams_of_user(client: Client, user_id: str, *, database: str | None = None) -> frozenset[str]:
    """TEMPORARY (belongs in query/people.py): the teams ``user_id`` is an active member of.
    For sign-in, before there is a caller: it reveals team slugs only, to the server."""
    db = str(database or client.database)
    vis = Visibility(Caller(user_id), db)
    sql = (
        f"SELECT team FROM {vis.table('members_current')}"
        " WHERE user_id = {user:String} AND active ORDER BY team"
    )
    return frozenset(row["team"] for row in _execute.rows(client, sql, {"user": user_id}))


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    team: str
    role: str  # writer / admin
    name: str
    user_id: str  # '' for a service key
    revoked: bool


def api_key_info(client: Client, key_id: str, *, database: str | None = None) -> ApiKeyInfo | None:
    """TEMPORARY (belongs in query/people.py): what the ``api_keys`` projection knows about a key
    id (never the key itself: only ingest can tell whether a key text is valid)."""
    if not key_id:
        return None
    db = str(database or client.database)
    vis = Visibility(Caller(""), db)
    sql = f"""
SELECT key_id, anyIf(team, action = 'issued') AS team, anyIf(role, action = 'issued') AS role,
    anyIf(name, action = 'issued') AS name, anyIf(user_id, action = 'issued') AS user_id,
    countIf(action = 'revoked') > 0 AS revoked
FROM {vis.table("api_keys")} WHERE key_id = {{key_id:String}}
GROUP BY key_id HAVING countIf(action = 'issued') > 0
"""
    rows = _execute.rows(client, sql, {"key_id": key_id})
    return ApiKeyInfo(**{**rows[0], "revoked": bool(rows[0]["revoked"])}) if rows else None


# --- runs (suggested home: query/runs.py and query/series.py) ------------------------------------


def max_run_sequence(client: Client, run_id: str, *, database: str | None = None) -> int:
    """TEMPORARY (belongs in query/runs.py): the highest envelope sequence any event of the run
    carried, so the portal can order its run events after the run's own (docs/schema.md)."""
    vis = Visibility(Caller(""), str(database or client.database))
    sql = (
        f"SELECT max(sequence) FROM {vis.table('events')}"
        " WHERE aggregate_kind = 'run' AND aggregate_id = {run_id:String}"
    )
    return int(_execute.scalar(client, sql, {"run_id": run_id}) or 0)


def known_keys(
    client: Client,
    caller: Caller,
    namespace: str,
    *,
    project: tuple[str, str] | None = None,
    limit: int = MAX_KEYS,
    database: str | None = None,
) -> tuple[str, ...]:
    """TEMPORARY (belongs in query/runs.py): the param, tag or metric keys (``namespace`` =
    params / tags / metrics) of runs the caller may see, most used first: the column chooser's
    choices. ``project`` = (team, project) narrows to one project."""
    table = {"params": "params", "tags": "tags", "metrics": "metric_summaries"}[namespace]
    vis = Visibility.load(client, caller, database)
    scope = "1"
    params: dict[str, Any] = {**vis.parameters, "limit": min(max(limit, 1), MAX_KEYS)}
    if project is not None:
        scope = "team = {team:String} AND project = {project:String}"
        params |= {"team": project[0], "project": project[1]}
    visible = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    sql = f"""
SELECT key, uniqExact(run_id) AS runs FROM {vis.table(table)}
WHERE run_id IN (SELECT run_id FROM ({vis.run_scope()}) WHERE {visible} AND {scope})
GROUP BY key ORDER BY runs DESC, key LIMIT {{limit:UInt32}}
"""
    return tuple(row["key"] for row in _execute.rows(client, sql, params))


def metric_keys_of_runs(
    client: Client, caller: Caller, run_ids: Sequence[str], *, database: str | None = None
) -> tuple[str, ...]:
    """TEMPORARY (belongs in query/series.py): the metric keys any of these visible runs logged,
    sorted; cheap (the per-run summaries), so a chart can be requested before the comparison."""
    vis = Visibility.load(client, caller, database)
    sql = f"""
SELECT DISTINCT key FROM {vis.table("metric_summaries")}
WHERE run_id IN ({vis.visible_runs("run_id IN {runs:Array(String)}")})
ORDER BY key
"""
    rows = _execute.rows(client, sql, {"runs": list(run_ids), **vis.parameters})
    return tuple(row["key"] for row in rows)


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    uri: str
    sha256: str
    size_bytes: int
    role: str
    metadata: dict[str, str]
    logged_at: datetime


def run_artifacts(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> tuple[ArtifactRecord, ...]:
    """TEMPORARY (belongs in query/runs.py): the artifacts a visible run logged or used."""
    vis = Visibility.load(client, caller, database)
    visible = vis.visible_runs("run_id = {run_id:String}")
    sql = f"""
SELECT name, any(kind) AS kind, any(uri) AS uri, sha256, any(size_bytes) AS size_bytes,
    any(role) AS role, any(metadata) AS metadata, min(occurred_at) AS logged_at
FROM {vis.table("artifacts")}
WHERE run_id = {{run_id:String}} AND run_id IN ({visible})
GROUP BY name, sha256 ORDER BY logged_at, name
"""
    rows = _execute.rows(client, sql, {"run_id": run_id, **vis.parameters})
    return tuple(ArtifactRecord(**{**row, "metadata": dict(row["metadata"])}) for row in rows)


def system_metric_series(
    client: Client,
    caller: Caller,
    run_id: str,
    *,
    max_points: int = 600,
    database: str | None = None,
) -> pd.DataFrame:
    """TEMPORARY (belongs in query/series.py): a visible run's system metrics (CPU, memory,
    GPU ...), averaged into at most ``max_points`` time buckets per metric and device.
    Columns: metric, device, timestamp, value."""
    vis = Visibility.load(client, caller, database)
    visible = vis.visible_runs("run_id = {run_id:String}")
    points = vis.table("system_metric_points")
    ms = "toUnixTimestamp64Milli(timestamp)"
    bound = f"FROM {points} WHERE run_id = {{run_id:String}}"
    sql = f"""
WITH (SELECT min({ms}) {bound}) AS lo, (SELECT max({ms}) {bound}) AS hi,
    greatest(toInt64(1), intDiv(hi - lo, {{buckets:UInt32}}) + 1) AS width
SELECT metric, device, fromUnixTimestamp64Milli(toInt64(min(at))) AS timestamp,
    avg(value) AS value
FROM (SELECT metric, device, {ms} AS at, value {bound} AND run_id IN ({visible}))
GROUP BY metric, device, intDiv(at - lo, width)
ORDER BY metric, device, timestamp
"""
    params = {"run_id": run_id, "buckets": max(2, max_points), **vis.parameters}
    return _execute.frame(client, sql, params)


# --- models (suggested home: query/models.py) ----------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    name: str
    team: str
    project: str
    description: str
    owner: str  # after ownership transfers; else who registered it
    registered_by: str
    registered_at: datetime
    versions: int
    latest_version: int
    production_version: int  # 0 if none
    aliases: tuple[str, ...]


def models_overview(
    client: Client, caller: Caller, *, database: str | None = None
) -> tuple[ModelSummary, ...]:
    """TEMPORARY (belongs in query/models.py): registered models the caller may see, with their
    version counts, production version, aliases and current owner."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("m.team", "m.project", kind="'model'", object_id="m.model_id")
    sql = f"""
SELECT m.model_id AS model_id, m.name AS name, m.team AS team, m.project AS project,
    m.description AS description, if(o.owner != '', o.owner, m.actor) AS owner,
    m.actor AS registered_by, m.registered_at AS registered_at,
    ifNull(v.versions, 0) AS versions, ifNull(v.latest, 0) AS latest_version,
    ifNull(v.production, 0) AS production_version, ifNull(v.aliases, []) AS aliases
FROM (
    SELECT model_id, argMax(name, {LATEST}) AS name, any(team) AS team, any(project) AS project,
        argMax(description, {LATEST}) AS description, argMin(actor, occurred_at) AS actor,
        min(occurred_at) AS registered_at
    FROM {vis.table("models")} GROUP BY model_id
) AS m
LEFT JOIN (
    SELECT model_id, count() AS versions, max(version) AS latest,
        maxIf(version, stage = 'production') AS production,
        arrayDistinct(arrayFlatten(groupArray(aliases))) AS aliases
    FROM {vis.table("model_versions_current")} GROUP BY model_id
) AS v ON v.model_id = m.model_id
LEFT JOIN (
    SELECT target_id AS model_id, argMax(to_user, (occurred_at, event_id)) AS owner
    FROM {vis.table("ownership")} WHERE target_kind = 'model' GROUP BY target_id
) AS o ON o.model_id = m.model_id
WHERE {visible}
ORDER BY m.team, m.project, m.name
"""
    rows = _execute.rows(client, sql, vis.parameters)
    return tuple(ModelSummary(**{**row, "aliases": tuple(row["aliases"])}) for row in rows)


@dataclass(frozen=True)
class VersionRow:
    model_id: str
    version: int
    run_id: str
    stage: str
    aliases: tuple[str, ...]
    artifact_name: str
    artifact_uri: str
    artifact_sha256: str
    description: str
    created_by: str
    created_at: datetime


def model_versions(
    client: Client, caller: Caller, model_id: str, *, database: str | None = None
) -> tuple[VersionRow, ...]:
    """TEMPORARY (belongs in query/models.py): a visible model's versions, newest first."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="'model'", object_id="model_id")
    sql = f"""
SELECT model_id, version, run_id, stage, aliases, artifact_name, artifact_uri, artifact_sha256,
    description, created_by, created_at
FROM {vis.table("model_versions_current")}
WHERE model_id = {{model_id:String}} AND {visible}
ORDER BY version DESC
"""
    rows = _execute.rows(client, sql, {"model_id": model_id, **vis.parameters})
    return tuple(
        VersionRow(**{**row, "aliases": tuple(row["aliases"] or ()), "stage": row["stage"] or ""})
        for row in rows
    )


# --- discussion (suggested home: query/collaboration.py) -----------------------------------------


def project_comments(
    client: Client,
    caller: Caller,
    team: str,
    project: str,
    *,
    limit: int = 200,
    database: str | None = None,
) -> tuple[Comment, ...]:
    """TEMPORARY (belongs in query/collaboration.py): the comments on anything in a project (the
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
    """TEMPORARY (belongs in query/collaboration.py): every version of a comment, oldest first."""
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


# --- ownership and sharing (suggested home: query/collaboration.py) ------------------------------


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
    """TEMPORARY (belongs in query/collaboration.py): projects and models the caller may see,
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
    """TEMPORARY (belongs in query/collaboration.py): ownership transfers of anything the caller
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
    """TEMPORARY (belongs in query/collaboration.py): active shares of the caller's teams'
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
