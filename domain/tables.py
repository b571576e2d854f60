"""The read tables that events are projected into: names, columns and identities.

This is the one definition of each table's shape. :mod:`domain.projections` fills rows by these
column names; ``query/schema.py`` renders them as ClickHouse DDL. Each table is deduplicated on
its ``identity`` (the engine's sorting key), which is what makes a redelivered or resent event
harmless: the same event always yields rows with the same identity and the same content.

Why one module of ~600 lines: it is a table of tables, one declaration per table and nothing
else; every table's shape is read side by side with its neighbours (the same identity columns,
the same version column), and ``ALL_TABLES`` must list each exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    STR = "str"  # free text
    LABEL = "label"  # a string from a small set (enum names, metric keys, teams)
    INT = "int"  # signed 64-bit
    UINT = "uint"  # unsigned 64-bit
    FLOAT = "float"  # 64-bit float; NaN and ±inf are kept
    BOOL = "bool"
    TIME = "time"  # nanoseconds since the Unix epoch (UTC), stored as DateTime64(9)
    BYTES = "bytes"  # opaque bytes (serialized events)
    STRINGS = "strings"  # list of strings
    FLOATS = "floats"  # list of 64-bit floats
    MAP = "map"  # string -> string
    TUPLE = "tuple"  # a fixed tuple of numbers (a point of an aggregate partial), written as is


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[tuple[str, Kind], ...]
    identity: tuple[str, ...]  # sorting key; rows with equal identity are the same fact
    version: str | None = None  # for ReplacingMergeTree: the highest version wins
    doc: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def kind(self, column: str) -> Kind:
        return dict(self.columns)[column]


# Columns every history row carries: when it happened, in which order, from which event.
_ORDER = (
    ("sequence", Kind.UINT),
    ("occurred_at", Kind.TIME),
    ("event_id", Kind.STR),
)

EVENTS = TableSchema(
    "events",
    (
        ("event_id", Kind.STR),
        ("event_type", Kind.LABEL),
        ("schema_version", Kind.UINT),
        ("aggregate_kind", Kind.LABEL),
        ("aggregate_id", Kind.STR),
        ("sequence", Kind.UINT),
        ("occurred_at", Kind.TIME),
        ("received_at", Kind.TIME),
        ("actor_kind", Kind.LABEL),
        ("actor", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("payload", Kind.BYTES),
        ("source_topic", Kind.LABEL),
        ("source_partition", Kind.UINT),
        ("source_offset", Kind.UINT),
    ),
    identity=("team", "aggregate_id", "event_id"),
    doc="Every event as received: the queryable archive and the replay source.",
)

METRICS = TableSchema(
    "metrics",
    (
        ("run_id", Kind.STR),
        ("key", Kind.LABEL),
        ("step", Kind.INT),
        ("timestamp", Kind.TIME),
        ("value", Kind.FLOAT),
        ("sequence", Kind.UINT),
    ),
    identity=("run_id", "key", "step"),
    version="sequence",
    doc="Every metric point; a step logged again with a higher sequence replaces the earlier value.",
)

RUN_BRANCHES = TableSchema(
    "run_branches",
    (
        ("run_id", Kind.STR),
        ("kind", Kind.LABEL),  # 'fork' (run_forked) or 'rewind' (run_rewound)
        ("parent_run_id", Kind.STR),  # the run forked from; '' for a rewind
        ("step", Kind.INT),  # the fork step, or the step rewound to
        ("inherited_points", Kind.UINT),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("run_id", "event_id"),
    doc="Forks (where a run started from another's history) and rewinds (where it went back).",
)

METRIC_ATTEMPTS = TableSchema(
    "metric_attempts",
    (
        ("run_id", Kind.STR),
        ("rewind_sequence", Kind.UINT),  # the sequence of the rewind that abandoned the point
        ("rewind_to_step", Kind.INT),
        ("key", Kind.LABEL),
        ("step", Kind.INT),
        ("timestamp", Kind.TIME),
        ("value", Kind.FLOAT),
        ("sequence", Kind.UINT),
    ),
    identity=("run_id", "rewind_sequence", "key", "step"),
    version="sequence",
    doc="Metric points a rewind abandoned (steps after it, logged before it): earlier attempts.",
)

SYSTEM_METRICS = TableSchema(
    "system_metrics",
    (
        ("run_id", Kind.STR),
        ("metric", Kind.LABEL),
        ("device", Kind.LABEL),
        ("timestamp", Kind.TIME),
        ("value", Kind.FLOAT),
        ("sequence", Kind.UINT),
    ),
    identity=("run_id", "metric", "device", "timestamp"),
    version="sequence",
    doc="CPU, memory, GPU, disk and network samples.",
)

HISTOGRAMS = TableSchema(
    "histograms",
    (
        ("run_id", Kind.STR),
        ("key", Kind.LABEL),
        ("step", Kind.INT),
        ("timestamp", Kind.TIME),
        ("edges", Kind.FLOATS),
        ("counts", Kind.FLOATS),
        ("sequence", Kind.UINT),
    ),
    identity=("run_id", "key", "step"),
    version="sequence",
    doc="One histogram per run, key and step; logged again with a higher sequence, it replaces the earlier.",
)

MEDIA = TableSchema(
    "media",
    (
        ("run_id", Kind.STR),
        ("key", Kind.LABEL),
        ("step", Kind.INT),
        ("position", Kind.INT),  # the item's index among the key's items at the step
        ("timestamp", Kind.TIME),
        ("kind", Kind.LABEL),  # image, table, text, figure, audio
        ("caption", Kind.STR),
        ("digest", Kind.STR),  # sha256 of the main blob ("" for text and tables)
        ("content_type", Kind.LABEL),
        ("size_bytes", Kind.UINT),  # all of the item's blobs
        ("blobs", Kind.MAP),  # role -> sha256: image, svg, plotly, audio, mask:<name>
        ("width", Kind.INT),
        ("height", Kind.INT),
        ("boxes", Kind.STR),  # JSON list of {x_min, y_min, x_max, y_max, label, score}
        ("text", Kind.STR),
        ("columns", Kind.STRINGS),  # a table's column names
        ("row_count", Kind.INT),
        ("sample_rate", Kind.INT),
        ("duration_seconds", Kind.FLOAT),
        ("sequence", Kind.UINT),
    ),
    identity=("run_id", "key", "step", "position"),
    version="sequence",
    doc="One media item per run, key, step and index; logged again with a higher sequence, it replaces the earlier.",
)

TABLE_ROWS = TableSchema(
    "table_rows",
    (
        ("run_id", Kind.STR),
        ("key", Kind.LABEL),
        ("step", Kind.INT),
        ("row_index", Kind.INT),
        ("cells", Kind.MAP),  # column -> the cell as text (numbers, true/false, image sha256)
        ("sequence", Kind.UINT),
    ),
    identity=("run_id", "key", "step", "row_index"),
    version="sequence",
    doc="Each row of each logged table; read through table_rows_current, which keeps the rows of the latest table at a step.",
)

RUN_FIELDS = TableSchema(
    "run_fields",
    (("run_id", Kind.STR), ("field", Kind.LABEL), ("value", Kind.STR), *_ORDER),
    identity=("run_id", "field", "event_id"),
    doc="Every value each run-level field ever had; the latest by (sequence, occurred_at) is current.",
)

PARAMS = TableSchema(
    "params",
    (
        ("run_id", Kind.STR),
        ("key", Kind.STR),
        ("value_type", Kind.LABEL),
        ("value", Kind.STR),
        ("value_number", Kind.FLOAT),
        *_ORDER,
    ),
    identity=("run_id", "key", "event_id"),
    doc="Hyperparameters and config, flattened to dotted keys; value_number is NaN for non-numbers.",
)

TAGS = TableSchema(
    "tags",
    (("run_id", Kind.STR), ("key", Kind.STR), ("value", Kind.STR), ("removed", Kind.BOOL), *_ORDER),
    identity=("run_id", "key", "event_id"),
)

CODE_VERSIONS = TableSchema(
    "code_versions",
    (
        ("run_id", Kind.STR),
        ("git_remote", Kind.STR),
        ("branch", Kind.STR),
        ("commit", Kind.STR),
        ("dirty", Kind.BOOL),
        ("diff", Kind.STR),
        ("diff_truncated", Kind.BOOL),
        ("diff_sha256", Kind.STR),
        ("entry_point", Kind.STR),
        *_ORDER,
    ),
    identity=("run_id", "event_id"),
)

ENVIRONMENTS = TableSchema(
    "environments",
    (
        ("run_id", Kind.STR),
        ("python_version", Kind.STR),
        ("python_implementation", Kind.LABEL),
        ("os", Kind.LABEL),
        ("os_version", Kind.STR),
        ("cpu_model", Kind.STR),
        ("cpu_count", Kind.UINT),
        ("memory_bytes", Kind.UINT),
        ("gpus", Kind.STRINGS),
        ("cuda_version", Kind.STR),
        ("cudnn_version", Kind.STR),
        ("container_image", Kind.STR),
        ("container_digest", Kind.STR),
        ("hostname", Kind.STR),
        ("package_count", Kind.UINT),
        *_ORDER,
    ),
    identity=("run_id", "event_id"),
)

ENVIRONMENT_PACKAGES = TableSchema(
    "environment_packages",
    (
        ("run_id", Kind.STR),
        ("name", Kind.STR),
        ("version", Kind.STR),
        ("source", Kind.LABEL),
        *_ORDER,
    ),
    identity=("run_id", "event_id", "name"),
    doc="One row per installed package per recorded environment, for package-level queries.",
)

DATASETS = TableSchema(
    "datasets",
    (
        ("run_id", Kind.STR),
        ("name", Kind.STR),
        ("uri", Kind.STR),
        ("digest", Kind.STR),
        ("size_bytes", Kind.UINT),
        ("manifest_digest", Kind.STR),
        ("file_count", Kind.UINT),
        ("role", Kind.LABEL),
        ("version", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        *_ORDER,
    ),
    identity=("run_id", "role", "digest", "name", "event_id"),
)

ARTIFACTS = TableSchema(
    "artifacts",
    (
        ("run_id", Kind.STR),
        ("name", Kind.STR),
        ("kind", Kind.LABEL),
        ("uri", Kind.STR),
        ("sha256", Kind.STR),
        ("size_bytes", Kind.UINT),
        ("metadata", Kind.MAP),
        ("role", Kind.LABEL),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        *_ORDER,
    ),
    identity=("run_id", "name", "sha256", "event_id"),
)

LINEAGE = TableSchema(
    "lineage",
    (
        ("source_kind", Kind.LABEL),
        ("source_id", Kind.STR),
        ("source_version", Kind.UINT),
        ("source_name", Kind.STR),
        ("relation", Kind.LABEL),
        ("target_kind", Kind.LABEL),
        ("target_id", Kind.STR),
        ("target_version", Kind.UINT),
        ("target_name", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=(
        "source_kind",
        "source_id",
        "source_version",
        "relation",
        "target_kind",
        "target_id",
        "target_version",
    ),
    version="sequence",
    doc="Edges: run USED dataset/artifact/model version, run PRODUCED X, model version BUILT_BY run.",
)

MODELS = TableSchema(
    "models",
    (
        ("model_id", Kind.STR),
        ("name", Kind.STR),
        ("description", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("model_id", "event_id"),
)

MODEL_VERSIONS = TableSchema(
    "model_versions",
    (
        ("model_id", Kind.STR),
        ("version", Kind.UINT),
        ("run_id", Kind.STR),
        ("artifact_name", Kind.STR),
        ("artifact_uri", Kind.STR),
        ("artifact_sha256", Kind.STR),
        ("description", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("model_id", "version", "event_id"),
)

MODEL_STAGES = TableSchema(
    "model_stages",
    (
        ("model_id", Kind.STR),
        ("version", Kind.UINT),
        ("kind", Kind.LABEL),  # "stage" or "alias"
        ("name", Kind.STR),  # stage name (staging, production, ...) or alias
        ("removed", Kind.BOOL),  # alias removed
        ("reason", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("model_id", "kind", "name", "version", "event_id"),
    doc="Stage and alias history of model versions; the latest per version (stage) or alias is current.",
)

MODEL_VERSION_LOG = TableSchema(
    "model_version_log",
    (
        ("model_id", Kind.STR),
        ("event_id", Kind.STR),
        ("source_partition", Kind.UINT),
        ("source_offset", Kind.UINT),
        ("run_id", Kind.STR),
        ("artifact_name", Kind.STR),
        ("artifact_uri", Kind.STR),
        ("artifact_sha256", Kind.STR),
        ("description", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("actor", Kind.STR),
        ("occurred_at", Kind.TIME),
    ),
    identity=("model_id", "event_id", "source_offset"),
    doc="Where each model_version_created event stands in its model's partition: the registry "
    "numbers a model's versions 1, 2, 3, ... in this order (docs/models.md).",
)

MODEL_VERSION_EDITS = TableSchema(
    "model_version_edits",
    (
        ("model_id", Kind.STR),
        ("version", Kind.UINT),
        ("field", Kind.LABEL),  # "description" or "tag"
        ("key", Kind.STR),  # the tag key ('' for the description)
        ("value", Kind.STR),
        ("removed", Kind.BOOL),  # tag removed
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("model_id", "version", "field", "key", "event_id"),
    doc="Every description and tag a model version ever had; the latest per (version, field, key) "
    "is current.",
)

TEAMS = TableSchema(
    "teams",
    (
        ("team", Kind.LABEL),
        ("display_name", Kind.STR),
        ("description", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("team", "event_id"),
)

MEMBERSHIPS = TableSchema(
    "memberships",
    (
        ("team", Kind.LABEL),
        ("user_id", Kind.STR),
        ("action", Kind.LABEL),  # joined / left
        ("display_name", Kind.STR),
        ("email", Kind.STR),
        ("role", Kind.LABEL),
        ("reason", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("team", "user_id", "event_id"),
    doc="Joins and departures; a departure keeps every record of the person.",
)

API_KEYS = TableSchema(
    "api_keys",
    (
        ("team", Kind.LABEL),
        ("key_id", Kind.STR),
        ("action", Kind.LABEL),  # issued / revoked
        ("role", Kind.LABEL),
        ("name", Kind.STR),
        ("user_id", Kind.STR),
        ("reason", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("team", "key_id", "event_id"),
    doc="Key metadata for audits; the key hashes stay in the identity topic only.",
)

PROJECTS = TableSchema(
    "projects",
    (
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("display_name", Kind.STR),
        ("description", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("team", "project", "event_id"),
)

COMMENTS = TableSchema(
    "comments",
    (
        ("comment_id", Kind.STR),
        ("action", Kind.LABEL),  # added / edited / deleted
        ("target_kind", Kind.LABEL),
        ("target_id", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("author", Kind.STR),
        ("body_markdown", Kind.STR),
        ("anchor_metric", Kind.STR),
        ("anchor_step_min", Kind.INT),
        ("anchor_step_max", Kind.INT),
        ("reply_to", Kind.STR),
        ("mentions", Kind.STRINGS),
        ("reason", Kind.STR),
        *_ORDER,
    ),
    identity=("comment_id", "event_id"),
    doc="Every version of every comment: edits are history, deletions are tombstones.",
)

DECISIONS = TableSchema(
    "decisions",
    (
        ("decision_id", Kind.STR),
        ("target_kind", Kind.LABEL),
        ("target_id", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("author", Kind.STR),
        ("title", Kind.STR),
        ("body_markdown", Kind.STR),
        ("run_ids", Kind.STRINGS),
        *_ORDER,
    ),
    identity=("decision_id", "event_id"),
)

SHARES = TableSchema(
    "shares",
    (
        ("target_kind", Kind.LABEL),
        ("target_id", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("grantee_kind", Kind.LABEL),
        ("grantee_id", Kind.STR),
        ("access", Kind.LABEL),
        ("active", Kind.BOOL),
        ("note", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("target_kind", "target_id", "grantee_kind", "grantee_id", "event_id"),
)

OWNERSHIP = TableSchema(
    "ownership",
    (
        ("target_kind", Kind.LABEL),
        ("target_id", Kind.STR),
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("from_user", Kind.STR),
        ("to_user", Kind.STR),
        ("reason", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("target_kind", "target_id", "event_id"),
)

PROJECT_NOTES = TableSchema(
    "project_notes",
    (
        ("team", Kind.LABEL),
        ("project", Kind.STR),
        ("body_markdown", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("team", "project", "event_id"),
)

RULES = TableSchema(
    "rules",
    (
        ("team", Kind.LABEL),
        ("rule", Kind.STR),
        ("rule_id", Kind.STR),
        ("action", Kind.LABEL),  # created, changed, paused, resumed, deleted
        ("trigger", Kind.LABEL),
        ("condition", Kind.STR),
        ("rule_project", Kind.STR),
        ("stalled_after_s", Kind.FLOAT),
        ("targets", Kind.STRINGS),  # "webhook <url>", "email <address>", "inbox <user>"; no secrets
        ("reason", Kind.STR),
        ("actor", Kind.STR),
        *_ORDER,
    ),
    identity=("team", "rule", "event_id"),
    doc="Automation rule history, one row per rule event (webhook secrets are never projected).",
)

DELIVERIES = TableSchema(
    "deliveries",
    (
        ("delivery_id", Kind.STR),
        ("team", Kind.LABEL),
        ("rule", Kind.STR),
        ("trigger", Kind.LABEL),
        ("event_id", Kind.STR),
        ("action_kind", Kind.LABEL),
        ("target", Kind.STR),
        ("attempt", Kind.UINT),
        ("status", Kind.LABEL),  # retrying, delivered, dead, skipped
        ("http_status", Kind.UINT),
        ("error", Kind.STR),
        ("text", Kind.STR),
        ("attempted_at", Kind.TIME),
    ),
    identity=("team", "rule", "delivery_id", "attempt"),
    doc="The delivery log: one row per attempt to deliver an automation notification.",
)

INBOX = TableSchema(
    "inbox",
    (
        ("user_id", Kind.STR),
        ("team", Kind.LABEL),
        ("item_id", Kind.STR),  # the delivery id
        ("rule", Kind.STR),
        ("trigger", Kind.LABEL),
        ("text", Kind.STR),
        ("subject", Kind.STR),  # JSON
        ("occurred_at", Kind.TIME),
    ),
    identity=("user_id", "item_id"),
    doc="Inbox items delivered by automation rules (inbox actions).",
)

INBOX_READS = TableSchema(
    "inbox_reads",
    (
        ("team", Kind.LABEL),
        ("user_id", Kind.STR),
        ("item_id", Kind.STR),
        *_ORDER,
    ),
    identity=("user_id", "item_id", "event_id"),
    doc="Inbox items their person marked read (inbox_items_read events).",
)

SAVED_VIEWS = TableSchema(
    "saved_views",
    (
        ("view_id", Kind.STR),
        ("action", Kind.LABEL),  # 'saved' or 'deleted'
        ("team", Kind.LABEL),
        ("project", Kind.STR),  # '' when the view spans projects
        ("name", Kind.STR),
        ("page", Kind.LABEL),  # the portal page: 'runs'
        ("state_version", Kind.UINT),
        ("params", Kind.MAP),  # URL parameter -> value: the page's state
        ("visibility", Kind.LABEL),  # 'personal' or 'team'; '' on a deletion
        ("user_default", Kind.BOOL),
        ("actor", Kind.STR),
        ("reason", Kind.STR),
        *_ORDER,
    ),
    identity=("view_id", "event_id"),
    doc="Every save and deletion of a saved view (migration 11); saved_views_current reads it.",
)

AUTOMATION_TABLES = (RULES, DELIVERIES, INBOX, INBOX_READS)
# Written by the automation sender, not projected from events: a replay must leave them alone.
OPERATIONAL_TABLES = (DELIVERIES, INBOX)

ALL_TABLES: tuple[TableSchema, ...] = (
    EVENTS,
    METRICS,
    SYSTEM_METRICS,
    HISTOGRAMS,
    MEDIA,
    TABLE_ROWS,
    RUN_BRANCHES,
    METRIC_ATTEMPTS,
    RUN_FIELDS,
    PARAMS,
    TAGS,
    CODE_VERSIONS,
    ENVIRONMENTS,
    ENVIRONMENT_PACKAGES,
    DATASETS,
    ARTIFACTS,
    LINEAGE,
    MODELS,
    MODEL_VERSIONS,
    MODEL_STAGES,
    MODEL_VERSION_LOG,
    MODEL_VERSION_EDITS,
    TEAMS,
    MEMBERSHIPS,
    API_KEYS,
    PROJECTS,
    COMMENTS,
    DECISIONS,
    SHARES,
    OWNERSHIP,
    PROJECT_NOTES,
    *AUTOMATION_TABLES,
    SAVED_VIEWS,
)
TABLES_BY_NAME = {table.name: table for table in ALL_TABLES}
