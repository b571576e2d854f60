"""Valid example events of every type, for tests that need realistic input.

``sample_event(event_type)`` returns a fully valid event (it passes ``BatchValidator.check``) of
the given type, with a fresh UUIDv7 id; tests then break exactly one thing. ``metric_event``
builds metric batches of any shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from google.protobuf import struct_pb2

from cairn.v1 import (
    automations_pb2,
    collaboration_pb2,
    common_pb2,
    envelope_pb2,
    events_pb2,
    identity_pb2,
    lineage_pb2,
    media_pb2,
    metrics_pb2,
    models_pb2,
    provenance_pb2,
    runs_pb2,
    views_pb2,
)
from cairn_contract.envelopes import new_envelope

TEAM = "vision"
PROJECT = "mnist"
RUN_ID = "run-0001"
MODEL_ID = "digits"
VIEW_ID = "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"  # a saved view's id is a UUIDv7
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
NOW_NS = time.time_ns()

_RUN = envelope_pb2.AGGREGATE_KIND_RUN
_PROJECT = envelope_pb2.AGGREGATE_KIND_PROJECT
_RULE = envelope_pb2.AGGREGATE_KIND_RULE
_RULE_DEF = automations_pb2.RuleDefinition(
    trigger="metric.threshold",
    condition="metrics.loss > 10 or isnan(metrics.loss)",
    actions=[
        automations_pb2.RuleAction(
            webhook=automations_pb2.WebhookAction(url="https://example.com/hook", secret="k")
        )
    ],
)
_MODEL = envelope_pb2.AGGREGATE_KIND_MODEL
_TEAM = envelope_pb2.AGGREGATE_KIND_TEAM
_VIEW = envelope_pb2.AGGREGATE_KIND_VIEW


def envelope(
    aggregate_kind: envelope_pb2.AggregateKind.ValueType = _RUN,
    aggregate_id: str = RUN_ID,
    *,
    team: str = TEAM,
    project: str = PROJECT,
    sequence: int = 0,
    occurred_at_ns: int | None = None,
) -> envelope_pb2.Envelope:
    return new_envelope(
        aggregate_kind,
        aggregate_id,
        team=team,
        project=project,
        sequence=sequence,
        occurred_at_ns=occurred_at_ns or time.time_ns(),
    )


def metric_event(
    run_id: str = RUN_ID,
    *,
    keys: Sequence[str] = ("train/loss",),
    points: int = 10,
    first_step: int = 0,
    sequence: int = 0,
    team: str = TEAM,
) -> events_pb2.Event:
    """A metrics event with ``points`` points per key, steps counting up from ``first_step``."""
    now = time.time_ns()
    batch = metrics_pb2.MetricBatch()
    for index, key in enumerate(keys):
        series = batch.series.add(key=key)
        series.steps.extend(range(first_step, first_step + points))
        series.values.extend(float(index + step) / 7 for step in range(points))
        series.timestamps_ns.extend(now - (points - step) * 1000 for step in range(points))
    return events_pb2.Event(
        envelope=envelope(_RUN, run_id, sequence=sequence, team=team), metrics=batch
    )


def _node(
    kind: lineage_pb2.LineageNodeKind.ValueType, node_id: str, version: int = 0
) -> lineage_pb2.LineageNode:
    return lineage_pb2.LineageNode(kind=kind, id=node_id, version=version)


def _payloads() -> dict[str, tuple[envelope_pb2.AggregateKind.ValueType, str, object]]:
    now = NOW_NS
    user = collaboration_pb2.Principal(kind=collaboration_pb2.PRINCIPAL_KIND_USER, id="bob")
    return {
        "run_created": (
            _RUN,
            RUN_ID,
            runs_pb2.RunCreated(
                name="baseline lr=1e-3",
                owner="alice",
                parent_run_id="run-0000",
                sweep_id="sweep-7",
                host="gpu-node-3",
                command_line=["python", "train.py", "--lr", "1e-3"],
                started_at_ns=now,
                description="First *baseline*.",
            ),
        ),
        "run_status_changed": (
            _RUN,
            RUN_ID,
            runs_pb2.RunStatusChanged(
                status=runs_pb2.RUN_STATUS_FAILED, reason="CUDA OOM", exit_code=1, traceback="..."
            ),
        ),
        "run_resumed": (
            _RUN,
            RUN_ID,
            runs_pb2.RunResumed(host="gpu-node-4", command_line=["python"], resumed_at_ns=now),
        ),
        "run_renamed": (_RUN, RUN_ID, runs_pb2.RunRenamed(name="baseline v2")),
        "run_description_set": (_RUN, RUN_ID, runs_pb2.RunDescriptionSet(description="# Notes")),
        "run_archived": (_RUN, RUN_ID, runs_pb2.RunArchived(reason="superseded")),
        "run_unarchived": (_RUN, RUN_ID, runs_pb2.RunUnarchived(reason="needed again")),
        "run_forked": (
            _RUN,
            RUN_ID,
            runs_pb2.RunForked(parent_run_id="run-0000", fork_step=20_000, inherited_points=3),
        ),
        "run_rewound": (_RUN, RUN_ID, runs_pb2.RunRewound(to_step=1_000)),
        "params_set": (
            _RUN,
            RUN_ID,
            runs_pb2.ParamsSet(
                params=[
                    runs_pb2.Param(
                        key="optimizer.lr", value=runs_pb2.ParamValue(double_value=1e-3)
                    ),
                    runs_pb2.Param(key="epochs", value=runs_pb2.ParamValue(int_value=10)),
                    runs_pb2.Param(key="amp", value=runs_pb2.ParamValue(bool_value=True)),
                    runs_pb2.Param(key="opt.name", value=runs_pb2.ParamValue(string_value="adam")),
                    runs_pb2.Param(
                        key="seed", value=runs_pb2.ParamValue(null_value=struct_pb2.NULL_VALUE)
                    ),
                ]
            ),
        ),
        "tags_set": (_RUN, RUN_ID, runs_pb2.TagsSet(tags=[runs_pb2.Tag(key="stage", value="dev")])),
        "tags_removed": (_RUN, RUN_ID, runs_pb2.TagsRemoved(keys=["stage"])),
        "metrics": (_RUN, RUN_ID, metric_event().metrics),
        "system_metrics": (
            _RUN,
            RUN_ID,
            metrics_pb2.SystemMetricBatch(
                series=[
                    metrics_pb2.SystemMetricSeries(
                        metric=metrics_pb2.SYSTEM_METRIC_GPU_UTILIZATION_PERCENT,
                        device="gpu0",
                        timestamps_ns=[now, now + 1],
                        values=[87.5, 91.0],
                    )
                ]
            ),
        ),
        "histograms": (
            _RUN,
            RUN_ID,
            metrics_pb2.HistogramBatch(
                histograms=[
                    metrics_pb2.Histogram(
                        key="layer1/weights",
                        step=3,
                        timestamp_ns=now,
                        edges=[-1.0, -0.5, 0.0, 0.5, 1.0],
                        counts=[2.0, 7.0, 9.0, 0.0],
                    ),
                    metrics_pb2.Histogram(
                        key="layer1/grad", step=3, edges=[-0.01, 0.01], counts=[16.0]
                    ),
                ]
            ),
        ),
        "media_logged": (
            _RUN,
            RUN_ID,
            media_pb2.MediaBatch(
                items=[
                    media_pb2.MediaItem(
                        key="val/samples",
                        step=3,
                        logged_at_ns=now,
                        kind=media_pb2.MEDIA_KIND_IMAGE,
                        caption="a cat",
                        blobs=[
                            media_pb2.MediaBlob(
                                role="image", sha256=SHA, content_type="image/png", size_bytes=90
                            )
                        ],
                        width=4,
                        height=3,
                        boxes=[media_pb2.BoundingBox(x_max=2.0, y_max=1.0, label="cat")],
                    ),
                    media_pb2.MediaItem(
                        key="val/predictions",
                        step=3,
                        kind=media_pb2.MEDIA_KIND_TABLE,
                        table=media_pb2.MediaTable(
                            columns=["id", "correct"],
                            rows=[
                                media_pb2.TableRow(
                                    cells=[
                                        media_pb2.TableCell(text="ex1"),
                                        media_pb2.TableCell(flag=True),
                                    ]
                                )
                            ],
                        ),
                    ),
                ]
            ),
        ),
        "code_version_recorded": (
            _RUN,
            RUN_ID,
            provenance_pb2.CodeVersionRecorded(
                git_remote="git@github.com:acme/vision.git",
                branch="main",
                commit="a" * 40,
                dirty=True,
                diff="--- a/train.py\n+++ b/train.py\n",
                diff_sha256=SHA,
                entry_point="train.py",
            ),
        ),
        "environment_recorded": (
            _RUN,
            RUN_ID,
            provenance_pb2.EnvironmentRecorded(
                python_version="3.11.9",
                os="Linux",
                cpu_count=16,
                gpus=[provenance_pb2.Gpu(name="A100", memory_bytes=80 << 30)],
                cuda_version="12.4",
                packages=[provenance_pb2.Package(name="torch", version="2.4.0", source="pip")],
                container_image="ghcr.io/acme/train:1.2",
                container_digest="sha256:" + SHA,
            ),
        ),
        "dataset_recorded": (
            _RUN,
            RUN_ID,
            provenance_pb2.DatasetRecorded(
                name="mnist-train",
                uri="s3://data/mnist/train",
                digest="sha256:" + SHA,
                size_bytes=47_040_000,
                manifest_digest="sha256:" + SHA,
                file_count=60_000,
                role=common_pb2.DATA_ROLE_INPUT,
            ),
        ),
        "artifact_logged": (
            _RUN,
            RUN_ID,
            provenance_pb2.ArtifactLogged(
                name="model.pt",
                kind=provenance_pb2.ARTIFACT_KIND_MODEL,
                uri="s3://artifacts/run-0001/model.pt",
                sha256=SHA,
                size_bytes=1 << 20,
                metadata=[common_pb2.KeyValue(key="framework", value="torch")],
                role=common_pb2.DATA_ROLE_OUTPUT,
            ),
        ),
        "lineage_edge_recorded": (
            _RUN,
            RUN_ID,
            lineage_pb2.LineageEdgeRecorded(
                source=_node(lineage_pb2.LINEAGE_NODE_KIND_RUN, RUN_ID),
                relation=lineage_pb2.LINEAGE_RELATION_USED,
                target=_node(lineage_pb2.LINEAGE_NODE_KIND_DATASET, "sha256:" + SHA),
            ),
        ),
        "model_registered": (_MODEL, MODEL_ID, models_pb2.ModelRegistered(name="Digits")),
        "model_version_created": (
            _MODEL,
            MODEL_ID,
            models_pb2.ModelVersionCreated(
                version=1, run_id=RUN_ID, artifact_name="model.pt", artifact_sha256=SHA
            ),
        ),
        "model_version_stage_changed": (
            _MODEL,
            MODEL_ID,
            models_pb2.ModelVersionStageChanged(
                version=1, stage=models_pb2.MODEL_STAGE_PRODUCTION, reason="beats v0"
            ),
        ),
        "model_alias_set": (
            _MODEL,
            MODEL_ID,
            models_pb2.ModelAliasSet(alias="champion", version=1, reason="best"),
        ),
        "model_alias_removed": (_MODEL, MODEL_ID, models_pb2.ModelAliasRemoved(alias="champion")),
        "model_version_updated": (
            _MODEL,
            MODEL_ID,
            models_pb2.ModelVersionUpdated(
                version=1,
                description="retrained on March data",
                set_description=True,
                set_tags=[common_pb2.KeyValue(key="reviewed", value="yes")],
                removed_tags=["draft"],
            ),
        ),
        "team_created": (_TEAM, TEAM, identity_pb2.TeamCreated(display_name="Vision")),
        "member_joined": (
            _TEAM,
            TEAM,
            identity_pb2.MemberJoined(
                user_id="alice", display_name="Alice", role=identity_pb2.MEMBER_ROLE_MEMBER
            ),
        ),
        "member_left": (_TEAM, TEAM, identity_pb2.MemberLeft(user_id="alice", reason="moved on")),
        "api_key_issued": (
            _TEAM,
            TEAM,
            identity_pb2.ApiKeyIssued(
                key_id="0123456789ab",
                key_sha256=SHA,
                role=identity_pb2.API_KEY_ROLE_WRITER,
                name="ci",
                principal_kind=envelope_pb2.ACTOR_KIND_SERVICE,
            ),
        ),
        "api_key_revoked": (_TEAM, TEAM, identity_pb2.ApiKeyRevoked(key_id="0123456789ab")),
        "project_created": (_PROJECT, PROJECT, identity_pb2.ProjectCreated(display_name="MNIST")),
        "comment_added": (
            _RUN,
            RUN_ID,
            collaboration_pb2.CommentAdded(
                comment_id="c-1",
                body_markdown="Loss spikes here, @bob?",
                anchor=collaboration_pb2.MetricAnchor(
                    metric_key="train/loss", step_min=100, step_max=200
                ),
                mentions=["bob"],
            ),
        ),
        "comment_edited": (
            _RUN,
            RUN_ID,
            collaboration_pb2.CommentEdited(comment_id="c-1", body_markdown="Loss spikes."),
        ),
        "comment_deleted": (_RUN, RUN_ID, collaboration_pb2.CommentDeleted(comment_id="c-1")),
        "decision_recorded": (
            _PROJECT,
            PROJECT,
            collaboration_pb2.DecisionRecorded(
                decision_id="d-1", title="Ship lr=1e-3", run_ids=[RUN_ID]
            ),
        ),
        "resource_shared": (
            _VIEW,
            VIEW_ID,
            collaboration_pb2.ResourceShared(
                grantee=user, access=collaboration_pb2.ACCESS_LEVEL_VIEW
            ),
        ),
        "resource_unshared": (_RUN, RUN_ID, collaboration_pb2.ResourceUnshared(grantee=user)),
        "ownership_transferred": (
            _PROJECT,
            PROJECT,
            collaboration_pb2.OwnershipTransferred(
                from_user="alice", to_user="bob", reason="alice left"
            ),
        ),
        "project_notes_set": (
            _PROJECT,
            PROJECT,
            collaboration_pb2.ProjectNotesSet(body_markdown="## Goals"),
        ),
        "rule_created": (_RULE, "nan-loss", automations_pb2.RuleCreated(definition=_RULE_DEF)),
        "rule_changed": (_RULE, "nan-loss", automations_pb2.RuleChanged(definition=_RULE_DEF)),
        "rule_paused": (_RULE, "nan-loss", automations_pb2.RulePaused(reason="too noisy")),
        "rule_resumed": (_RULE, "nan-loss", automations_pb2.RuleResumed()),
        "rule_deleted": (_RULE, "nan-loss", automations_pb2.RuleDeleted()),
        "inbox_items_read": (
            _TEAM,
            TEAM,
            automations_pb2.InboxItemsRead(user_id="alice", item_ids=["d-1", "d-2"]),
        ),
        "view_saved": (
            _VIEW,
            VIEW_ID,
            views_pb2.ViewSaved(
                name="Best AUC",
                page="runs",
                state_version=1,
                params=[
                    views_pb2.ViewParam(name="filter", value="metrics.val/auc > 0.9"),
                    views_pb2.ViewParam(name="cols", value="name,metrics.val/auc"),
                ],
                visibility=views_pb2.VIEW_VISIBILITY_TEAM,
            ),
        ),
        "view_deleted": (_VIEW, VIEW_ID, views_pb2.ViewDeleted(reason="superseded")),
    }


def sample_event(event_type: str, *, team: str = TEAM, sequence: int = 0) -> events_pb2.Event:
    kind, aggregate_id, payload = _payloads()[event_type]
    if kind == _TEAM:
        aggregate_id = team
    event = events_pb2.Event(envelope=envelope(kind, aggregate_id, team=team, sequence=sequence))
    getattr(event, event_type).CopyFrom(payload)
    return event


def all_event_types() -> list[str]:
    return sorted(_payloads())


def batch_of(*events: events_pb2.Event, batch_id: int = 1) -> events_pb2.EventBatch:
    return events_pb2.EventBatch(events=list(events), batch_id=batch_id)


Mutation = Callable[[events_pb2.EventBatch], None]
