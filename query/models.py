"""Registered models as the portal lists them: an overview per model and a model's versions.

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
    """registered models the caller may see, with their
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
    """a visible model's versions, newest first."""
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


@dataclass(frozen=True)
class RunModelVersions:
    """The model versions a run built (registered from its artifacts) and the ones it used
    (``cairn.use_model`` inside the run), each as ``VersionRow``; only visible ones."""

    built: tuple[VersionRow, ...]
    used: tuple[VersionRow, ...]


def run_model_versions(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> RunModelVersions:
    """The visible model versions ``run_id`` built and used (empty for a run the caller may not
    see: the versions' visibility is checked, the run's through its edges' team)."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("v.team", "v.project", kind="'model'", object_id="v.model_id")
    edge_visible = vis.predicate("team", "project", kind="'run'", object_id="source_id")
    sql = f"""
SELECT v.model_id AS model_id, v.version AS version, v.run_id AS run_id, v.stage AS stage,
    v.aliases AS aliases, v.artifact_name AS artifact_name, v.artifact_uri AS artifact_uri,
    v.artifact_sha256 AS artifact_sha256, v.description AS description,
    v.created_by AS created_by, v.created_at AS created_at,
    if(v.run_id = {{run_id:String}}, 'built', 'used') AS relation
FROM {vis.table("model_versions_current")} AS v
WHERE {visible} AND (v.run_id = {{run_id:String}} OR (v.model_id, v.version) IN (
    SELECT target_id, target_version FROM {vis.table("lineage")}
    WHERE source_kind = 'run' AND source_id = {{run_id:String}} AND relation = 'used'
        AND target_kind = 'model_version' AND {edge_visible}
))
ORDER BY v.model_id, v.version DESC
"""
    rows = _execute.rows(client, sql, {"run_id": run_id, **vis.parameters})
    found: dict[str, list[VersionRow]] = {"built": [], "used": []}
    for row in rows:
        relation = row.pop("relation")
        version = VersionRow(
            **{**row, "aliases": tuple(row["aliases"] or ()), "stage": row["stage"] or ""}
        )
        found[relation].append(version)
    return RunModelVersions(tuple(found["built"]), tuple(found["used"]))
