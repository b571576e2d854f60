"""Cairn's ClickHouse schema: the projection tables (from :mod:`domain.tables`) and the views that
present the latest state of each fact.

Engines and why (docs/schema.md has the long form):
- Every projection table is a ``ReplacingMergeTree`` ordered by the table's identity. A redelivered
  or resent event produces a row with the same identity and content, which the engine collapses.
- History tables keep every version (identity includes ``event_id``); views pick the current one
  with ``argMax(..., (sequence, occurred_at, event_id))``, which is deterministic whatever order
  events arrived in.
- ``metrics`` is keyed by ``(run_id, key, step)`` with ``sequence`` as version, and read through
  ``metric_points`` (``FINAL``) so a point is never counted twice before a merge. ``histograms``
  (migration 5) is keyed and read the same way, through ``histogram_steps``.
- ``metric_summaries`` is an ``AggregatingMergeTree`` fed by a materialized view on ``metrics``.
  Its aggregates are idempotent (min, max, last-by-step, and a bitmap of steps for the count), so
  duplicate inserts cannot inflate them.
"""

from __future__ import annotations

from domain.tables import (
    ALL_TABLES,
    AUTOMATION_TABLES,
    HISTOGRAMS,
    MEDIA,
    METRIC_ATTEMPTS,
    MODEL_VERSION_EDITS,
    MODEL_VERSION_LOG,
    RUN_BRANCHES,
    SAVED_VIEWS,
    TABLE_ROWS,
    Kind,
    TableSchema,
)
from query._execute import LATEST
from query.ddl import MaterializedView, Statement, Table, View

CLICKHOUSE_TYPES = {
    Kind.STR: "String",
    Kind.LABEL: "LowCardinality(String)",
    Kind.INT: "Int64",
    Kind.UINT: "UInt64",
    Kind.FLOAT: "Float64",
    Kind.BOOL: "Bool",
    Kind.TIME: "DateTime64(9, 'UTC')",
    Kind.BYTES: "String",
    Kind.STRINGS: "Array(String)",
    Kind.FLOATS: "Array(Float64)",
    Kind.MAP: "Map(String, String)",
}


def projection_table(schema: TableSchema) -> Table:
    engine = f"ReplacingMergeTree({schema.version})" if schema.version else "ReplacingMergeTree"
    return Table(
        name=schema.name,
        columns=tuple((name, CLICKHOUSE_TYPES[kind]) for name, kind in schema.columns),
        engine=engine,
        order_by=schema.identity,
        comment=schema.doc,
        # The archive is ordered by team for scoped reads but spread over shards by aggregate.
        shard_by="aggregate_id" if schema.name == "events" else None,
    )


# Tables that later migrations add: migration 2 must render exactly the DDL it was applied with
# (its checksum is recorded), so these stay out of it and come with their own migration.
_LATER_TABLES = frozenset(
    {
        HISTOGRAMS.name,
        *(t.name for t in AUTOMATION_TABLES),
        MODEL_VERSION_LOG.name,
        MODEL_VERSION_EDITS.name,
        RUN_BRANCHES.name,
        METRIC_ATTEMPTS.name,
        MEDIA.name,
        TABLE_ROWS.name,
        SAVED_VIEWS.name,
    }
)

PROJECTION_TABLES = tuple(
    projection_table(schema) for schema in ALL_TABLES if schema.name not in _LATER_TABLES
)

METRIC_SUMMARIES = Table(
    name="metric_summaries",
    columns=(
        ("run_id", "String"),
        ("key", "LowCardinality(String)"),
        ("min_value", "SimpleAggregateFunction(min, Float64)"),
        ("max_value", "SimpleAggregateFunction(max, Float64)"),
        ("last_step", "SimpleAggregateFunction(max, Int64)"),
        ("last_timestamp", "SimpleAggregateFunction(max, DateTime64(9, 'UTC'))"),
        ("last_value", "AggregateFunction(argMax, Float64, Int64)"),
        ("steps", "AggregateFunction(groupBitmap, UInt64)"),
    ),
    engine="AggregatingMergeTree",
    order_by=("run_id", "key"),
    comment="Per run and metric key: min, max, last value and step, distinct step count.",
)

METRIC_SUMMARIES_MV = MaterializedView(
    name="metric_summaries_mv",
    target="metric_summaries",
    select=(
        "SELECT run_id, key, min(value) AS min_value, max(value) AS max_value,"
        " max(step) AS last_step, max(timestamp) AS last_timestamp,"
        " argMaxState(value, step) AS last_value, groupBitmapState(toUInt64(step)) AS steps"
        " FROM {db}.metrics{local} GROUP BY run_id, key"
    ),
)

VIEWS = (
    View(
        "metric_points",
        "SELECT run_id, key, step, timestamp, value, sequence FROM {db}.metrics FINAL",
    ),
    View(
        "system_metric_points",
        "SELECT run_id, metric, device, timestamp, value FROM {db}.system_metrics FINAL",
    ),
    View(
        "metric_summary",
        "SELECT run_id, key, min(min_value) AS min, max(max_value) AS max,"
        " argMaxMerge(last_value) AS last, max(last_step) AS last_step,"
        " max(last_timestamp) AS last_timestamp, groupBitmapMerge(steps) AS count"
        " FROM {db}.metric_summaries GROUP BY run_id, key",
    ),
    View(
        "params_current",
        f"SELECT run_id, key, argMax(value_type, {LATEST}) AS value_type,"
        f" argMax(value, {LATEST}) AS value, argMax(value_number, {LATEST}) AS value_number"
        " FROM {db}.params GROUP BY run_id, key",
    ),
    View(
        "tags_current",
        f"SELECT run_id, key, value FROM (SELECT run_id, key, argMax(value, {LATEST}) AS value,"
        f" argMax(removed, {LATEST}) AS removed FROM {{db}}.tags GROUP BY run_id, key) WHERE NOT removed",
    ),
    View(
        "runs",
        """
SELECT
    f.run_id AS run_id,
    f.team AS team,
    f.project AS project,
    f.name AS name,
    if(o.transferred_to != '', o.transferred_to, f.created_owner) AS owner,
    f.created_owner AS created_by,
    f.description AS description,
    f.status AS status,
    f.status_reason AS status_reason,
    toInt32OrZero(f.exit_code) AS exit_code,
    f.traceback AS traceback,
    f.parent_run_id AS parent_run_id,
    f.sweep_id AS sweep_id,
    f.host AS host,
    f.command_line AS command_line,
    fromUnixTimestamp64Nano(toInt64OrZero(f.created_ns)) AS created_at,
    fromUnixTimestamp64Nano(toInt64OrZero(f.started_ns)) AS started_at,
    if(f.finished_ns = '', NULL, fromUnixTimestamp64Nano(toInt64OrZero(f.finished_ns))) AS finished_at,
    if(f.finished_ns = '', NULL,
       (toInt64OrZero(f.finished_ns) - toInt64OrZero(f.started_ns)) / 1e9) AS duration_s,
    toBool(f.archived = '1') AS archived,
    f.git_commit AS git_commit,
    f.git_branch AS git_branch,
    f.git_remote AS git_remote,
    toBool(f.git_dirty = '1') AS git_dirty,
    p.params AS params,
    tg.tags AS tags,
    m.metrics_last AS metrics_last,
    m.metrics_min AS metrics_min,
    m.metrics_max AS metrics_max,
    m.metrics_count AS metrics_count,
    m.metrics_last_step AS metrics_last_step
FROM (
    SELECT run_id,
        anyIf(value, field = 'team') AS team,
        anyIf(value, field = 'project') AS project,
        anyIf(value, field = 'name') AS name,
        anyIf(value, field = 'owner') AS created_owner,
        anyIf(value, field = 'description') AS description,
        anyIf(value, field = 'status') AS status,
        anyIf(value, field = 'status_reason') AS status_reason,
        anyIf(value, field = 'exit_code') AS exit_code,
        anyIf(value, field = 'traceback') AS traceback,
        anyIf(value, field = 'parent_run_id') AS parent_run_id,
        anyIf(value, field = 'sweep_id') AS sweep_id,
        anyIf(value, field = 'host') AS host,
        anyIf(value, field = 'command_line') AS command_line,
        anyIf(value, field = 'created_at') AS created_ns,
        anyIf(value, field = 'started_at') AS started_ns,
        anyIf(value, field = 'finished_at') AS finished_ns,
        anyIf(value, field = 'archived') AS archived,
        anyIf(value, field = 'git_commit') AS git_commit,
        anyIf(value, field = 'git_branch') AS git_branch,
        anyIf(value, field = 'git_remote') AS git_remote,
        anyIf(value, field = 'git_dirty') AS git_dirty
    FROM (
        SELECT run_id, field, argMax(value, (sequence, occurred_at, event_id)) AS value
        FROM {db}.run_fields GROUP BY run_id, field
    )
    GROUP BY run_id
    HAVING countIf(field = 'created_at') > 0
) AS f
LEFT JOIN (
    SELECT target_id AS run_id, argMax(to_user, (occurred_at, event_id)) AS transferred_to
    FROM {db}.ownership WHERE target_kind = 'run' GROUP BY target_id
) AS o ON o.run_id = f.run_id
LEFT JOIN (
    SELECT run_id, mapFromArrays(groupArray(key), groupArray(value)) AS params
    FROM {db}.params_current GROUP BY run_id
) AS p ON p.run_id = f.run_id
LEFT JOIN (
    SELECT run_id, mapFromArrays(groupArray(key), groupArray(value)) AS tags
    FROM {db}.tags_current GROUP BY run_id
) AS tg ON tg.run_id = f.run_id
LEFT JOIN (
    SELECT run_id,
        mapFromArrays(groupArray(key), groupArray(last)) AS metrics_last,
        mapFromArrays(groupArray(key), groupArray(min)) AS metrics_min,
        mapFromArrays(groupArray(key), groupArray(max)) AS metrics_max,
        mapFromArrays(groupArray(key), groupArray(count)) AS metrics_count,
        mapFromArrays(groupArray(key), groupArray(last_step)) AS metrics_last_step
    FROM {db}.metric_summary GROUP BY run_id
) AS m ON m.run_id = f.run_id
""",
    ),
    View(
        "comments_current",
        """
SELECT comment_id,
    anyIf(target_kind, action = 'added') AS target_kind,
    anyIf(target_id, action = 'added') AS target_id,
    anyIf(team, action = 'added') AS team,
    anyIf(project, action = 'added') AS project,
    anyIf(author, action = 'added') AS author,
    argMaxIf(body_markdown, (occurred_at, event_id), action != 'deleted') AS body_markdown,
    anyIf(anchor_metric, action = 'added') AS anchor_metric,
    anyIf(anchor_step_min, action = 'added') AS anchor_step_min,
    anyIf(anchor_step_max, action = 'added') AS anchor_step_max,
    anyIf(reply_to, action = 'added') AS reply_to,
    argMaxIf(mentions, (occurred_at, event_id), action != 'deleted') AS mentions,
    minIf(occurred_at, action = 'added') AS created_at,
    max(occurred_at) AS updated_at,
    countIf(action = 'edited') AS edit_count,
    toBool(countIf(action = 'deleted') > 0) AS deleted,
    anyIf(event_actor, action = 'deleted') AS deleted_by
FROM (SELECT *, author AS event_actor FROM {db}.comments)
GROUP BY comment_id
HAVING countIf(action = 'added') > 0
""",
    ),
    View(
        "members_current",
        f"SELECT team, user_id, argMaxIf(display_name, {LATEST}, action = 'joined') AS display_name,"
        f" argMaxIf(email, {LATEST}, action = 'joined') AS email,"
        f" argMaxIf(role, {LATEST}, action = 'joined') AS role,"
        f" toBool(argMax(action, {LATEST}) = 'joined') AS active,"
        " minIf(occurred_at, action = 'joined') AS joined_at,"
        " if(active, NULL, maxIf(occurred_at, action = 'left')) AS left_at"
        " FROM {db}.memberships GROUP BY team, user_id",
    ),
    View(
        "shares_current",
        f"SELECT target_kind, target_id, grantee_kind, grantee_id, argMax(team, {LATEST}) AS team,"
        f" argMax(project, {LATEST}) AS project, argMax(access, {LATEST}) AS access,"
        f" argMax(active, {LATEST}) AS active, argMax(actor, {LATEST}) AS shared_by,"
        f" max(occurred_at) AS updated_at"
        " FROM {db}.shares GROUP BY target_kind, target_id, grantee_kind, grantee_id",
    ),
    View(
        "model_versions_current",
        """
SELECT v.model_id AS model_id, v.version AS version, v.run_id AS run_id,
    v.artifact_name AS artifact_name, v.artifact_uri AS artifact_uri,
    v.artifact_sha256 AS artifact_sha256, v.description AS description,
    v.team AS team, v.project AS project, v.actor AS created_by, v.occurred_at AS created_at,
    s.stage AS stage, a.aliases AS aliases
FROM (
    SELECT model_id, version, any(run_id) AS run_id, any(artifact_name) AS artifact_name,
        any(artifact_uri) AS artifact_uri, any(artifact_sha256) AS artifact_sha256,
        any(description) AS description, any(team) AS team, any(project) AS project,
        any(actor) AS actor, min(occurred_at) AS occurred_at
    FROM {db}.model_versions GROUP BY model_id, version
) AS v
LEFT JOIN (
    SELECT model_id, version, argMax(name, (sequence, occurred_at, event_id)) AS stage
    FROM {db}.model_stages WHERE kind = 'stage' GROUP BY model_id, version
) AS s ON s.model_id = v.model_id AND s.version = v.version
LEFT JOIN (
    SELECT model_id, version, groupArray(alias) AS aliases FROM (
        SELECT model_id, name AS alias,
            argMax(version, (sequence, occurred_at, event_id)) AS version,
            argMax(removed, (sequence, occurred_at, event_id)) AS removed
        FROM {db}.model_stages WHERE kind = 'alias' GROUP BY model_id, name
    ) WHERE NOT removed GROUP BY model_id, version
) AS a ON a.model_id = v.model_id AND a.version = v.version
""",
    ),
    View(
        "project_notes_current",
        f"SELECT team, project, argMax(body_markdown, {LATEST}) AS body_markdown,"
        f" argMax(actor, {LATEST}) AS updated_by, max(occurred_at) AS updated_at"
        " FROM {db}.project_notes GROUP BY team, project",
    ),
)

SCHEMA_STATEMENTS: tuple[Statement, ...] = (
    *PROJECTION_TABLES,
    METRIC_SUMMARIES,
    METRIC_SUMMARIES_MV,
    *VIEWS,
)

# Migration 5: histograms, one row per run, key and step, read once each through the view.
HISTOGRAM_STATEMENTS: tuple[Statement, ...] = (
    projection_table(HISTOGRAMS),
    View(
        "histogram_steps",
        "SELECT run_id, key, step, timestamp, edges, counts, sequence FROM {db}.histograms FINAL",
    ),
)
