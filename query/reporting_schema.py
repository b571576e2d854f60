"""The stable SQL reporting views, in ``<database>_reporting`` (``cairn_reporting`` in production).

SQL users and BI tools read these views, never the projection tables: the views hide engine
details (``FINAL``, aggregate states, argMax-of-history) and present each fact once, in its
latest state, with plain column types. Every view carries a ``team`` column (and ``project``
where the fact belongs to a project), so reports can group by them and row policies can
restrict by them (``query/row_policies.py``).
docs/sql.md documents every view and column; changing a column here is a breaking change for
users, so views grow columns but do not lose or rename them.

The reporting database is named after the projection database (``cairn`` ->
``cairn_reporting``), so test databases and replay scratch databases get their own and never
repoint the production views.
"""

from __future__ import annotations

from dataclasses import dataclass

from query._execute import LATEST
from query.ddl import Statement, Topology
from query.sql import quote_identifier as q

# run_id -> team, project: set once by run_created, never changed.
_RUN_SCOPE = (
    "(SELECT run_id, anyIf(value, field = 'team') AS team,"
    " anyIf(value, field = 'project') AS project"
    " FROM {db}.run_fields WHERE field IN ('team', 'project') GROUP BY run_id)"
)


def reporting_database(database: str) -> str:
    """Where the reporting views of projection database ``database`` live."""
    return f"{database}_reporting"


@dataclass(frozen=True)
class ReportingDatabase:
    def render(self, database: str, topology: Topology) -> list[str]:
        return [
            f"CREATE DATABASE IF NOT EXISTS {q(reporting_database(database))}{topology.on_cluster}"
        ]


@dataclass(frozen=True)
class ReportingView:
    """A view in the reporting database; ``select`` names projection objects as ``{db}.x``."""

    name: str
    select: str
    doc: str = ""

    def render(self, database: str, topology: Topology) -> list[str]:
        body = self.select.replace("{db}", q(database))
        target = f"{q(reporting_database(database))}.{q(self.name)}"
        return [f"CREATE OR REPLACE VIEW {target}{topology.on_cluster} AS {body.strip()}"]


_RUNS_FIELDS = (
    "team",
    "project",
    "name",
    "owner",
    "status",
    "status_reason",
    "description",
    "created_at",
    "started_at",
    "finished_at",
    "archived",
    "parent_run_id",
    "sweep_id",
    "host",
    "git_commit",
    "git_branch",
    "git_remote",
    "git_dirty",
)
_PIVOT = ",\n        ".join(
    f"argMaxIf(value, {LATEST}, field = '{field}') AS {field}_raw" for field in _RUNS_FIELDS
)

RUNS = ReportingView(
    "runs",
    f"""
SELECT f.run_id AS run_id, f.team_raw AS team, f.project_raw AS project, f.name_raw AS name,
    if(o.owner != '', o.owner, f.owner_raw) AS owner, f.owner_raw AS created_by,
    f.status_raw AS status, f.status_reason_raw AS status_reason,
    f.description_raw AS description,
    fromUnixTimestamp64Nano(toInt64OrZero(f.created_at_raw), 'UTC') AS created_at,
    fromUnixTimestamp64Nano(toInt64OrZero(f.started_at_raw), 'UTC') AS started_at,
    if(f.finished_at_raw = '', NULL,
       fromUnixTimestamp64Nano(toInt64OrZero(f.finished_at_raw), 'UTC')) AS finished_at,
    if(f.finished_at_raw = '', NULL,
       (toInt64OrZero(f.finished_at_raw) - toInt64OrZero(f.started_at_raw)) / 1e9) AS duration_s,
    toBool(f.archived_raw = '1') AS archived, f.parent_run_id_raw AS parent_run_id,
    f.sweep_id_raw AS sweep_id, f.host_raw AS host, f.git_commit_raw AS git_commit,
    f.git_branch_raw AS git_branch, f.git_remote_raw AS git_remote,
    toBool(f.git_dirty_raw = '1') AS git_dirty
FROM (
    SELECT run_id,
        {_PIVOT}
    FROM {{db}}.run_fields GROUP BY run_id HAVING countIf(field = 'created_at') > 0
) AS f
LEFT JOIN (
    SELECT target_id AS run_id, argMax(to_user, (occurred_at, event_id)) AS owner
    FROM {{db}}.ownership WHERE target_kind = 'run' GROUP BY target_id
) AS o ON o.run_id = f.run_id
""",
    "One row per run: who, where, what state, when.",
)

METRICS = ReportingView(
    "metrics",
    f"""
SELECT m.run_id AS run_id, r.team AS team, r.project AS project, CAST(m.key AS String) AS key,
    m.step AS step,
    m.timestamp AS timestamp, m.value AS value
FROM {{db}}.metric_points AS m
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = m.run_id
""",
    "Every metric point once (a step logged again shows its latest value).",
)

METRIC_SUMMARIES = ReportingView(
    "metric_summaries",
    f"""
SELECT s.run_id AS run_id, r.team AS team, r.project AS project, CAST(s.key AS String) AS key,
    s.last AS last_value, toFloat64(s.min) AS min_value, toFloat64(s.max) AS max_value,
    toInt64(s.last_step) AS last_step,
    toDateTime64(s.last_timestamp, 9, 'UTC') AS last_timestamp, s.count AS point_count
FROM {{db}}.metric_summary AS s
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = s.run_id
""",
    "Per run and metric key: last, min and max value, last step and time, number of steps.",
)

HISTOGRAMS = ReportingView(
    "histograms",
    f"""
SELECT h.run_id AS run_id, r.team AS team, r.project AS project, CAST(h.key AS String) AS key,
    h.step AS step, h.timestamp AS timestamp, h.edges AS edges, h.counts AS counts
FROM {{db}}.histogram_steps AS h
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = h.run_id
""",
    "One histogram per run, key and step (a step logged again shows its latest histogram).",
)

MEDIA = ReportingView(
    "media",
    f"""
SELECT m.run_id AS run_id, r.team AS team, r.project AS project, CAST(m.key AS String) AS key,
    m.step AS step, m.position AS position, m.timestamp AS timestamp, CAST(m.kind AS String) AS kind,
    m.caption AS caption, m.digest AS digest, CAST(m.content_type AS String) AS content_type,
    m.size_bytes AS size_bytes, m.blobs AS blobs, m.width AS width, m.height AS height,
    m.boxes AS boxes, m.text AS text, m.columns AS columns, m.row_count AS row_count,
    m.sample_rate AS sample_rate, m.duration_seconds AS duration_seconds
FROM {{db}}.media_items AS m
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = m.run_id
""",
    "Each image, table, text, figure and audio clip logged, per run, key, step and position "
    "(bytes are in the artifact store under digest).",
)

TABLE_ROWS = ReportingView(
    "table_rows",
    f"""
SELECT t.run_id AS run_id, r.team AS team, r.project AS project, CAST(t.key AS String) AS key,
    t.step AS step, t.row_index AS row_index, t.cells AS cells
FROM {{db}}.table_rows_current AS t
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = t.run_id
""",
    "Every row of every logged table (run.log_table), its cells as column -> text: the latest "
    "table of a key at a step.",
)

PARAMS = ReportingView(
    "params",
    f"""
SELECT p.run_id AS run_id, r.team AS team, r.project AS project, p.key AS key,
    p.value_type AS value_type, p.value AS value,
    if(isNaN(p.value_number), NULL, p.value_number) AS value_number
FROM {{db}}.params_current AS p
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = p.run_id
""",
    "Current value of each run's parameters; value_number is NULL for non-numbers.",
)

TAGS = ReportingView(
    "tags",
    f"""
SELECT t.run_id AS run_id, r.team AS team, r.project AS project, t.key AS key, t.value AS value
FROM {{db}}.tags_current AS t
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = t.run_id
""",
    "Current tags of each run (removed tags are gone).",
)

LINEAGE = ReportingView(
    "lineage",
    """
SELECT CAST(source_kind AS String) AS source_kind, source_id, source_version,
    any(source_name) AS source_name, CAST(relation AS String) AS relation,
    CAST(target_kind AS String) AS target_kind, target_id, target_version,
    any(target_name) AS target_name, CAST(any(team) AS String) AS team, any(project) AS project,
    argMax(actor, sequence) AS recorded_by, min(occurred_at) AS recorded_at
FROM {db}.lineage
GROUP BY source_kind, source_id, source_version, relation, target_kind, target_id, target_version
""",
    "Each lineage edge once: run used / produced dataset or artifact, model version built_by run.",
)

DATASETS = ReportingView(
    "datasets",
    """
SELECT run_id, CAST(any(team) AS String) AS team, any(project) AS project, CAST(role AS String) AS role,
    name, digest,
    any(manifest_digest) AS manifest_digest, any(uri) AS uri, any(size_bytes) AS size_bytes,
    any(file_count) AS file_count, any(version) AS version, min(occurred_at) AS recorded_at
FROM {db}.datasets
GROUP BY run_id, role, name, digest
""",
    "Each dataset a run recorded, by role, name and content digest.",
)

MODELS = ReportingView(
    "models",
    f"""
SELECT v.model_id AS model_id, n.name AS model_name, v.version AS version, v.team AS team,
    v.project AS project, v.run_id AS run_id, v.artifact_name AS artifact_name,
    v.artifact_uri AS artifact_uri, v.artifact_sha256 AS artifact_sha256,
    v.description AS description, ifNull(v.stage, 'none') AS stage,
    ifNull(v.aliases, []) AS aliases, v.created_by AS created_by, v.created_at AS created_at
FROM {{db}}.model_versions_current AS v
LEFT JOIN (
    SELECT model_id, argMax(name, {LATEST}) AS name FROM {{db}}.models GROUP BY model_id
) AS n ON n.model_id = v.model_id
""",
    "Each registered model version with its current stage and aliases.",
)

COMMENTS = ReportingView(
    "comments",
    """
SELECT comment_id, team, project, target_kind, target_id, author,
    if(deleted, '', body_markdown) AS body_markdown, reply_to, mentions, anchor_metric,
    anchor_step_min, anchor_step_max, created_at, updated_at, edit_count, deleted
FROM {db}.comments_current
""",
    "Each comment's current text; deleted comments stay listed with an empty body.",
)

DECISIONS = ReportingView(
    "decisions",
    f"""
SELECT decision_id, argMax(team, {LATEST}) AS team, argMax(project, {LATEST}) AS project,
    argMax(target_kind, {LATEST}) AS target_kind, argMax(target_id, {LATEST}) AS target_id,
    argMax(author, {LATEST}) AS author, argMax(title, {LATEST}) AS title,
    argMax(body_markdown, {LATEST}) AS body_markdown, argMax(run_ids, {LATEST}) AS run_ids,
    min(occurred_at) AS decided_at
FROM {{db}}.decisions GROUP BY decision_id
""",
    "Each recorded decision and the runs it names.",
)

_ACTIVITY = """
SELECT DISTINCT event_id, occurred_at, CAST(team AS String) AS team, project,
    CAST(actor_kind AS String) AS actor_kind, actor, CAST(event_type AS String) AS event_type,
    CAST(aggregate_kind AS String) AS aggregate_kind, aggregate_id
FROM {db}.events
WHERE event_type NOT IN ('metrics', 'system_metrics')
"""
# As migration 3 created it; migration 5 replaces it with ACTIVITY, which also leaves out
# histograms (the run working, not people acting).
_ACTIVITY_V3 = ReportingView(
    "activity", _ACTIVITY, "Who did what when: every event except metric batches."
)
ACTIVITY = ReportingView(
    "activity",
    _ACTIVITY.replace("'system_metrics')", "'system_metrics', 'histograms')"),
    "Who did what when: every event except metric batches and histograms.",
)
# Migration 10 replaces it again: logged media is the run working too.
ACTIVITY_V10 = ReportingView(
    "activity",
    _ACTIVITY.replace("'system_metrics')", "'system_metrics', 'histograms', 'media_logged')"),
    "Who did what when: every event except metric batches, histograms and logged media.",
)

MEMBERS = ReportingView(
    "members",
    """
SELECT CAST(team AS String) AS team, user_id, display_name, CAST(role AS String) AS role, active, joined_at,
    left_at
FROM {db}.members_current
""",
    "Team members, including people who left (active = false).",
)

PACKAGES = ReportingView(
    "packages",
    f"""
SELECT p.run_id AS run_id, r.team AS team, r.project AS project, p.name AS name,
    p.version AS version, CAST(p.source AS String) AS source
FROM (
    SELECT DISTINCT run_id, event_id, name, version, source FROM {{db}}.environment_packages
) AS p
INNER JOIN (
    SELECT run_id, argMax(event_id, {LATEST}) AS latest_event
    FROM {{db}}.environments GROUP BY run_id
) AS e ON e.run_id = p.run_id AND e.latest_event = p.event_id
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = p.run_id
""",
    "The packages installed in each run's (latest recorded) environment.",
)

# Migration 6 (query/automation_schema.py): automation rules and the delivery log.
AUTOMATION_RULES = ReportingView(
    "automation_rules",
    """
SELECT CAST(team AS String) AS team, rule AS name, CAST(trigger AS String) AS trigger, condition,
    rule_project AS project, stalled_after_s, targets, toBool(paused) AS paused, created_by,
    created_at, updated_at
FROM {db}.rules_current
""",
    "Automation rules that exist now (no secrets).",
)

AUTOMATION_DELIVERIES = ReportingView(
    "automation_deliveries",
    """
SELECT CAST(team AS String) AS team, rule, delivery_id, CAST(trigger AS String) AS trigger,
    event_id, CAST(action_kind AS String) AS action_kind, target, CAST(status AS String) AS status,
    attempts, http_status, last_error, first_attempt_at, last_attempt_at
FROM {db}.delivery_log
""",
    "The automation delivery log: one row per delivery with its last status and attempts.",
)

# The views as they are now (row policies cover each; docs/sql.md documents each, in this order).
# Migration 7 (query/model_schema.py): each model's name and scope, and the alias history.
MODEL_SCOPE = f"""(
    SELECT model_id, argMax(name, {LATEST}) AS name, any(team) AS team, any(project) AS project
    FROM {{db}}.models GROUP BY model_id
)"""

MODEL_ALIAS_HISTORY = ReportingView(
    "model_alias_history",
    f"""
SELECT h.model_id AS model_id, n.name AS model_name, n.team AS team, n.project AS project,
    h.kind AS kind, h.name AS name, h.version AS version, h.removed AS removed,
    h.reason AS reason, h.actor AS actor, h.occurred_at AS occurred_at, h.event_id AS event_id
FROM (SELECT DISTINCT model_id, kind, name, version, removed, reason, actor, occurred_at,
        sequence, event_id FROM {{db}}.model_stages) AS h
LEFT JOIN {MODEL_SCOPE} AS n ON n.model_id = h.model_id
WHERE NOT (h.kind = 'stage' AND h.name = 'none' AND h.reason = 'registered')
""",
    "Every alias move or removal and every stage change of a model version, with actor, reason "
    "and time; the latest per (model, alias) is what cairn_reporting.models shows.",
)

# Migration 8 (query/branches_schema.py): forks, rewinds and the points rewinds abandoned.
RUN_BRANCHES_REPORT = ReportingView(
    "run_branches",
    """
SELECT run_id, CAST(any(team) AS String) AS team, any(project) AS project,
    CAST(kind AS String) AS kind, any(parent_run_id) AS parent_run_id, any(step) AS step,
    any(inherited_points) AS inherited_points, any(actor) AS actor,
    any(occurred_at) AS occurred_at, any(sequence) AS sequence, event_id
FROM {db}.run_branches
GROUP BY run_id, kind, event_id
""",
    "Forks (kind 'fork': the run started from parent_run_id's history up to step) and rewinds "
    "(kind 'rewind': the run went back to step; later points logged before it are abandoned).",
)

METRIC_EARLIER_ATTEMPTS = ReportingView(
    "metric_earlier_attempts",
    f"""
SELECT a.run_id AS run_id, r.team AS team, r.project AS project, a.rewind_sequence AS rewind_sequence,
    a.rewind_to_step AS rewind_to_step, CAST(a.key AS String) AS key, a.step AS step,
    a.timestamp AS timestamp, a.value AS value
FROM {{db}}.metric_attempts AS a FINAL
INNER JOIN {_RUN_SCOPE} AS r ON r.run_id = a.run_id
""",
    "Metric points a rewind abandoned, per rewind (rewind_sequence orders them): the run's "
    "earlier attempts, which `metrics` no longer shows.",
)

REPORTING_VIEWS: tuple[ReportingView, ...] = (
    RUNS,
    METRICS,
    METRIC_SUMMARIES,
    METRIC_EARLIER_ATTEMPTS,
    HISTOGRAMS,
    PARAMS,
    TAGS,
    LINEAGE,
    RUN_BRANCHES_REPORT,
    DATASETS,
    MODELS,
    MODEL_ALIAS_HISTORY,
    COMMENTS,
    DECISIONS,
    ACTIVITY,
    MEMBERS,
    PACKAGES,
    AUTOMATION_RULES,
    AUTOMATION_DELIVERIES,
    MEDIA,
    TABLE_ROWS,
)

# Migration 3, exactly as applied (its checksum is recorded; later changes are new migrations).
REPORTING_STATEMENTS: tuple[Statement, ...] = (
    ReportingDatabase(),
    RUNS,
    METRICS,
    METRIC_SUMMARIES,
    PARAMS,
    TAGS,
    LINEAGE,
    DATASETS,
    MODELS,
    COMMENTS,
    DECISIONS,
    _ACTIVITY_V3,
    MEMBERS,
    PACKAGES,
)

# Migration 5: the histograms view, and activity without histogram events.
HISTOGRAM_REPORTING_STATEMENTS: tuple[Statement, ...] = (HISTOGRAMS, ACTIVITY)
