"""Migration 6: the model registry's numbering, version edits and alias history.

``model_versions_current`` (first defined by migration 2) is redefined here so every reader (the
portal, provenance, lineage, ``cairn_reporting.models``) sees the registry's version numbers:
a model's versions are numbered 1, 2, 3, ... in the order their ``model_version_created`` events
stand in the model's Kafka partition (``model_version_log.source_offset``; docs/models.md). A
version recorded before this migration (no log row, a writer-chosen number) keeps its place by
that number, before every logged one; ``cairn replay`` gives it a log row.

The view also folds in version edits (description, tags) and the stage and aliases as they are
now. ``model_alias_history`` holds every alias move and stage change with actor, reason and time.
"""

from __future__ import annotations

from domain.tables import MODEL_VERSION_EDITS, MODEL_VERSION_LOG
from query._execute import LATEST
from query.ddl import Statement, View
from query.reporting_schema import MODEL_ALIAS_HISTORY, MODEL_SCOPE, ReportingView
from query.schema import projection_table

# One row per model_version_created event with its registry number.
_NUMBERED = """
SELECT model_id, event_id, run_id, artifact_name, artifact_uri, artifact_sha256, description,
    team, project, actor, occurred_at,
    toUInt64(row_number() OVER (PARTITION BY model_id ORDER BY logged, place, event_id)) AS version
FROM (
    SELECT model_id, event_id, toUInt8(1) AS logged, toUInt64(min(source_offset)) AS place,
        any(run_id) AS run_id, any(artifact_name) AS artifact_name,
        any(artifact_uri) AS artifact_uri, any(artifact_sha256) AS artifact_sha256,
        any(description) AS description, any(team) AS team, any(project) AS project,
        any(actor) AS actor, min(occurred_at) AS occurred_at
    FROM {db}.model_version_log GROUP BY model_id, event_id
    UNION ALL
    SELECT model_id, event_id, toUInt8(0) AS logged, toUInt64(any(version)) AS place,
        any(run_id), any(artifact_name), any(artifact_uri), any(artifact_sha256),
        any(description), any(team), any(project), any(actor), min(occurred_at)
    FROM {db}.model_versions
    WHERE version > 0 AND event_id NOT IN (SELECT event_id FROM {db}.model_version_log)
    GROUP BY model_id, event_id
)
"""

MODEL_VERSIONS_NUMBERED = View("model_versions_numbered", _NUMBERED)

MODEL_VERSIONS_CURRENT = View(
    "model_versions_current",
    f"""
SELECT v.model_id AS model_id, v.version AS version, v.run_id AS run_id,
    v.artifact_name AS artifact_name, v.artifact_uri AS artifact_uri,
    v.artifact_sha256 AS artifact_sha256,
    if(d.edited, d.description, v.description) AS description,
    v.team AS team, v.project AS project, v.actor AS created_by, v.occurred_at AS created_at,
    s.stage AS stage, a.aliases AS aliases, t.tags AS tags, v.event_id AS created_event_id
FROM {{db}}.model_versions_numbered AS v
LEFT JOIN (
    SELECT model_id, version, argMax(name, {LATEST}) AS stage
    FROM {{db}}.model_stages WHERE kind = 'stage' GROUP BY model_id, version
) AS s ON s.model_id = v.model_id AND s.version = v.version
LEFT JOIN (
    SELECT model_id, version, groupArray(alias) AS aliases FROM (
        SELECT model_id, name AS alias,
            argMax(version, {LATEST}) AS version, argMax(removed, {LATEST}) AS removed
        FROM {{db}}.model_stages WHERE kind = 'alias' GROUP BY model_id, name
    ) WHERE NOT removed GROUP BY model_id, version
) AS a ON a.model_id = v.model_id AND a.version = v.version
LEFT JOIN (
    SELECT model_id, version, true AS edited, argMax(value, {LATEST}) AS description
    FROM {{db}}.model_version_edits WHERE field = 'description' GROUP BY model_id, version
) AS d ON d.model_id = v.model_id AND d.version = v.version
LEFT JOIN (
    SELECT model_id, version, mapFromArrays(groupArray(key), groupArray(value)) AS tags FROM (
        SELECT model_id, version, key, argMax(value, {LATEST}) AS value,
            argMax(removed, {LATEST}) AS removed
        FROM {{db}}.model_version_edits WHERE field = 'tag' GROUP BY model_id, version, key
    ) WHERE NOT removed GROUP BY model_id, version
) AS t ON t.model_id = v.model_id AND t.version = v.version
""",
)

REPORTING_MODELS = ReportingView(
    "models",
    f"""
SELECT v.model_id AS model_id, n.name AS model_name, v.version AS version, v.team AS team,
    v.project AS project, v.run_id AS run_id, v.artifact_name AS artifact_name,
    v.artifact_uri AS artifact_uri, v.artifact_sha256 AS artifact_sha256,
    v.description AS description, if(v.stage = '', 'none', v.stage) AS stage,
    v.aliases AS aliases, v.created_by AS created_by, v.created_at AS created_at,
    v.tags AS tags
FROM {{db}}.model_versions_current AS v
LEFT JOIN {MODEL_SCOPE} AS n ON n.model_id = v.model_id
""",
    "Each registered model version with its current stage, aliases and tags.",
)

MODEL_REGISTRY_STATEMENTS: tuple[Statement, ...] = (
    projection_table(MODEL_VERSION_LOG),
    projection_table(MODEL_VERSION_EDITS),
    MODEL_VERSIONS_NUMBERED,
    MODEL_VERSIONS_CURRENT,
    REPORTING_MODELS,
    MODEL_ALIAS_HISTORY,
)
