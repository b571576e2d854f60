"""Reading the model registry for the SDK and CLI (through the query service): versions by
number, alias or creating event, the alias history, a run's artifact. (The portal's overview
lists are in :mod:`query.models`.)

Every function takes the caller and applies their visibility (own teams plus shares), exactly
as the portal does; a model the caller may not see is reported as not found, never as hidden.
A model is named by its id or its name (the SDK uses the name as the id, so they are equal for
every model registered through it). Version numbers are the registry's (query/model_schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError, ValidationError
from query import _execute
from query._execute import LATEST
from query.access import Caller, Visibility

ARCHIVED = "archived"


@dataclass(frozen=True)
class RegistryVersion:
    model_id: str
    name: str
    version: int
    team: str
    project: str
    run_id: str
    artifact_name: str
    artifact_uri: str
    artifact_sha256: str
    description: str
    created_by: str
    created_at: datetime
    stage: str  # none / staging / production / archived
    aliases: tuple[str, ...]
    tags: dict[str, str]
    created_event_id: str


@dataclass(frozen=True)
class AliasMove:
    """One alias move or removal, or one stage change, of a model."""

    model_id: str
    kind: str  # alias / stage
    name: str  # the alias or the stage
    version: int  # 0 when an alias was removed
    removed: bool
    reason: str
    actor: str
    occurred_at: datetime


def versions_sql(vis: Visibility, condition: str) -> str:
    """The one read of model versions (each as :class:`RegistryVersion` columns), visible to the
    caller and matching ``condition`` (SQL over ``v`` = ``model_versions_current`` and ``n.name``),
    newest version first per model."""
    visible = vis.predicate("v.team", "v.project", kind="'model'", object_id="v.model_id")
    return f"""
SELECT v.model_id AS model_id, if(n.name != '', n.name, v.model_id) AS name,
    v.version AS version, v.team AS team, v.project AS project, v.run_id AS run_id,
    v.artifact_name AS artifact_name, v.artifact_uri AS artifact_uri,
    v.artifact_sha256 AS artifact_sha256, v.description AS description,
    v.created_by AS created_by, v.created_at AS created_at,
    if(v.stage = '', 'none', v.stage) AS stage, v.aliases AS aliases, v.tags AS tags,
    v.created_event_id AS created_event_id
FROM {vis.table("model_versions_current")} AS v
LEFT JOIN (
    SELECT model_id, argMax(name, {LATEST}) AS name FROM {vis.table("models")} GROUP BY model_id
) AS n ON n.model_id = v.model_id
WHERE ({condition}) AND {visible}
ORDER BY v.model_id, v.version DESC
"""


def version_from_row(row: dict[str, Any]) -> RegistryVersion:
    return RegistryVersion(
        **{**row, "aliases": tuple(sorted(row["aliases"] or ())), "tags": dict(row["tags"] or {})}
    )


def versions(
    client: Client, caller: Caller, model: str, *, database: str | None = None
) -> tuple[RegistryVersion, ...]:
    """Every visible version of ``model`` (id or name), newest first; empty if none."""
    vis = Visibility.load(client, caller, database)
    sql = versions_sql(vis, "v.model_id = {model:String} OR n.name = {model:String}")
    found = [
        version_from_row(r) for r in _execute.rows(client, sql, {"model": model, **vis.parameters})
    ]
    ids = {v.model_id for v in found}
    if len(ids) > 1:
        exact = [v for v in found if v.model_id == model]
        if not exact:
            raise ValidationError(
                f"model: name {model!r} is ambiguous ({', '.join(sorted(ids))}); use the model id",
                field="model",
                rule="ambiguous",
            )
        found = exact
    return tuple(found)


def version_created_by(
    client: Client, caller: Caller, model: str, event_id: str, *, database: str | None = None
) -> RegistryVersion | None:
    """The version a ``model_version_created`` event became, once it is in the store."""
    vis = Visibility.load(client, caller, database)
    sql = versions_sql(vis, "v.model_id = {model:String} AND v.created_event_id = {event:String}")
    rows = _execute.rows(client, sql, {"model": model, "event": event_id, **vis.parameters})
    return version_from_row(rows[0]) if rows else None


def resolve(
    client: Client,
    caller: Caller,
    model: str,
    selector: int | str | None = None,
    *,
    database: str | None = None,
) -> RegistryVersion:
    """One version: by number, by alias or stage name (``"production"``), or, for ``None``, the
    newest version that is not archived. NotFoundError names what was missing."""
    found = versions(client, caller, model, database=database)
    if not found:
        raise NotFoundError(
            f"model: no model {model!r} (or it is not visible to you)", field="model"
        )
    if selector is None:
        live = [v for v in found if v.stage != ARCHIVED]
        if not live:
            raise NotFoundError(
                f"model: every version of {model!r} is archived", field="model", rule="archived"
            )
        return live[0]
    if isinstance(selector, int):
        match = [v for v in found if v.version == selector]
        what = f"version {selector}"
    else:
        match = [v for v in found if selector in v.aliases]
        match = match or [v for v in found if v.stage == selector]
        what = f"alias {selector!r}"
    if not match:
        raise NotFoundError(f"model: {model!r} has no {what}", field="model", rule="exists")
    return match[0]


def alias_history(
    client: Client, caller: Caller, model: str, *, database: str | None = None
) -> tuple[AliasMove, ...]:
    """Every alias move and stage change of a visible model, oldest first."""
    found = versions(client, caller, model, database=database)
    if not found:
        raise NotFoundError(
            f"model: no model {model!r} (or it is not visible to you)", field="model"
        )
    vis = Visibility.load(client, caller, database)
    sql = f"""
SELECT model_id, kind, name, version, removed, reason, actor, occurred_at
FROM (SELECT DISTINCT * FROM {vis.table("model_stages")} WHERE model_id = {{model:String}})
WHERE NOT (kind = 'stage' AND name = 'none' AND reason = 'registered')
ORDER BY occurred_at, sequence, event_id
"""
    rows = _execute.rows(client, sql, {"model": found[0].model_id})
    return tuple(AliasMove(**{**r, "removed": bool(r["removed"])}) for r in rows)


def run_artifact(
    client: Client, caller: Caller, run_id: str, name: str, *, database: str | None = None
) -> tuple[str, str]:
    """(sha256, uri) of the artifact ``name`` a visible run logged (the newest if logged twice),
    for registering it as a model version."""
    vis = Visibility.load(client, caller, database)
    visible = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    sql = f"""
SELECT sha256, uri FROM {vis.table("artifacts")}
WHERE run_id = {{run:String}} AND name = {{name:String}} AND {visible}
ORDER BY {LATEST} DESC LIMIT 1
"""
    rows = _execute.rows(client, sql, {"run": run_id, "name": name, **vis.parameters})
    if not rows:
        raise NotFoundError(
            f"artifact_name: run {run_id} logged no artifact {name!r} (or it is not visible to you)",
            field="artifact_name",
        )
    return str(rows[0]["sha256"]), str(rows[0]["uri"])
