"""The processors on the real broker and the real engine: every event type lands in its read model,
and restarts, kills, duplicates and poison never change what a query returns."""

from __future__ import annotations

import asyncio
import math

import pytest
from aiokafka import AIOKafkaConsumer

from cairn.v1 import (
    collaboration_pb2,
    common_pb2,
    envelope_pb2,
    events_pb2,
    identity_pb2,
    lineage_pb2,
    metrics_pb2,
    models_pb2,
    provenance_pb2,
    runs_pb2,
)
from processors.replay import replay
from tests.builders import event
from tests.integration.processors_harness import (
    Setup,
    eventually,
    produce,
    store,
)

pytestmark = pytest.mark.integration

RUN = envelope_pb2.AGGREGATE_KIND_RUN
MODEL = envelope_pb2.AGGREGATE_KIND_MODEL
TEAM = envelope_pb2.AGGREGATE_KIND_TEAM
PROJECT = envelope_pb2.AGGREGATE_KIND_PROJECT


def complete_run(run_id: str) -> list[events_pb2.Event]:
    """One run touching every run-level event type, in the order the SDK would send them."""
    seq = iter(range(1, 1000))

    def ev(field: str, payload: object, **kw: object) -> events_pb2.Event:
        return event(field, payload, run_id=run_id, sequence=next(seq), **kw)  # type: ignore[arg-type]

    loss = metrics_pb2.MetricSeries(
        key="loss", steps=list(range(100)), values=[1.0 / (s + 1) for s in range(100)]
    )
    acc = metrics_pb2.MetricSeries(key="acc", steps=[0, 50, 99], values=[0.1, math.nan, 0.9])
    return [
        ev(
            "run_created",
            runs_pb2.RunCreated(
                name="baseline", owner="alice", host="gpu-1", command_line=["train.py"]
            ),
        ),
        ev("run_status_changed", runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_RUNNING)),
        ev(
            "params_set",
            runs_pb2.ParamsSet(
                params=[
                    runs_pb2.Param(key="lr", value=runs_pb2.ParamValue(double_value=3e-4)),
                    runs_pb2.Param(key="model.layers", value=runs_pb2.ParamValue(int_value=4)),
                ]
            ),
        ),
        ev(
            "tags_set",
            runs_pb2.TagsSet(
                tags=[runs_pb2.Tag(key="stage", value="tuning"), runs_pb2.Tag(key="tmp", value="x")]
            ),
        ),
        ev("tags_removed", runs_pb2.TagsRemoved(keys=["tmp"])),
        ev("metrics", metrics_pb2.MetricBatch(series=[loss, acc])),
        ev(
            "system_metrics",
            metrics_pb2.SystemMetricBatch(
                series=[
                    metrics_pb2.SystemMetricSeries(
                        metric=metrics_pb2.SYSTEM_METRIC_CPU_PERCENT,
                        timestamps_ns=[1, 2],
                        values=[50.0, 60.0],
                    )
                ]
            ),
        ),
        ev(
            "code_version_recorded",
            provenance_pb2.CodeVersionRecorded(
                git_remote="git@example:ml.git",
                branch="main",
                commit="a" * 40,
                dirty=True,
                diff="+x",
            ),
        ),
        ev(
            "environment_recorded",
            provenance_pb2.EnvironmentRecorded(
                python_version="3.11.7",
                os="Linux",
                packages=[provenance_pb2.Package(name="numpy", version="2.4.6")],
            ),
        ),
        ev(
            "dataset_recorded",
            provenance_pb2.DatasetRecorded(
                name="train",
                uri="s3://d/train",
                digest="sha256:d1",
                role=common_pb2.DATA_ROLE_INPUT,
            ),
        ),
        ev(
            "artifact_logged",
            provenance_pb2.ArtifactLogged(
                name="model.pt",
                kind=provenance_pb2.ARTIFACT_KIND_MODEL,
                sha256="f" * 64,
                size_bytes=10,
            ),
        ),
        ev(
            "lineage_edge_recorded",
            lineage_pb2.LineageEdgeRecorded(
                source=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=run_id),
                relation=lineage_pb2.LINEAGE_RELATION_USED,
                target=lineage_pb2.LineageNode(
                    kind=lineage_pb2.LINEAGE_NODE_KIND_ARTIFACT, id="e" * 64, name="tokenizer"
                ),
            ),
        ),
        ev(
            "comment_added",
            collaboration_pb2.CommentAdded(
                comment_id=f"{run_id}-c1", body_markdown="plateau at 3k"
            ),
        ),
        ev(
            "comment_edited",
            collaboration_pb2.CommentEdited(
                comment_id=f"{run_id}-c1", body_markdown="plateau at 3k steps"
            ),
        ),
        ev(
            "comment_added",
            collaboration_pb2.CommentAdded(comment_id=f"{run_id}-c2", body_markdown="spam"),
        ),
        ev(
            "comment_deleted",
            collaboration_pb2.CommentDeleted(comment_id=f"{run_id}-c2", reason="spam"),
        ),
        ev(
            "resource_shared",
            collaboration_pb2.ResourceShared(
                grantee=collaboration_pb2.Principal(
                    kind=collaboration_pb2.PRINCIPAL_KIND_TEAM, id="fraud"
                ),
                access=collaboration_pb2.ACCESS_LEVEL_VIEW,
            ),
        ),
        ev(
            "ownership_transferred",
            collaboration_pb2.OwnershipTransferred(
                from_user="alice", to_user="bob", reason="leaving"
            ),
        ),
        ev("run_renamed", runs_pb2.RunRenamed(name="baseline-v2")),
        ev("run_description_set", runs_pb2.RunDescriptionSet(description="first try")),
        ev("run_archived", runs_pb2.RunArchived(reason="superseded")),
        ev("run_unarchived", runs_pb2.RunUnarchived(reason="needed")),
        ev("run_status_changed", runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED)),
    ]


def model_and_team_events(run_id: str) -> tuple[list[events_pb2.Event], list[events_pb2.Event]]:
    model = [
        event(
            "model_registered",
            models_pb2.ModelRegistered(name="churn"),
            run_id="churn-model",
            aggregate_kind=MODEL,
            sequence=1,
        ),
        event(
            "model_version_created",
            models_pb2.ModelVersionCreated(version=1, run_id=run_id, artifact_sha256="f" * 64),
            run_id="churn-model",
            aggregate_kind=MODEL,
            sequence=2,
        ),
        event(
            "model_version_stage_changed",
            models_pb2.ModelVersionStageChanged(
                version=1, stage=models_pb2.MODEL_STAGE_PRODUCTION, reason="best"
            ),
            run_id="churn-model",
            aggregate_kind=MODEL,
            sequence=3,
        ),
        event(
            "model_alias_set",
            models_pb2.ModelAliasSet(alias="champion", version=1),
            run_id="churn-model",
            aggregate_kind=MODEL,
            sequence=4,
        ),
        event(
            "decision_recorded",
            collaboration_pb2.DecisionRecorded(decision_id="d1", title="ship v1", run_ids=[run_id]),
            run_id="churn",
            aggregate_kind=PROJECT,
            sequence=1,
        ),
        event(
            "project_notes_set",
            collaboration_pb2.ProjectNotesSet(body_markdown="# Churn"),
            run_id="churn",
            aggregate_kind=PROJECT,
            sequence=2,
        ),
    ]
    identity = [
        event(
            "team_created",
            identity_pb2.TeamCreated(display_name="Risk"),
            run_id="risk",
            aggregate_kind=TEAM,
            sequence=1,
        ),
        event(
            "member_joined",
            identity_pb2.MemberJoined(user_id="alice", display_name="Alice"),
            run_id="risk",
            aggregate_kind=TEAM,
            sequence=2,
        ),
        event(
            "member_left",
            identity_pb2.MemberLeft(user_id="alice", reason="new job"),
            run_id="risk",
            aggregate_kind=TEAM,
            sequence=3,
        ),
        event(
            "api_key_issued",
            identity_pb2.ApiKeyIssued(
                key_id="k1", key_sha256="0" * 64, role=identity_pb2.API_KEY_ROLE_WRITER
            ),
            run_id="risk",
            aggregate_kind=TEAM,
            sequence=4,
        ),
        event(
            "project_created",
            identity_pb2.ProjectCreated(display_name="Churn"),
            run_id="churn",
            aggregate_kind=PROJECT,
            sequence=5,
        ),
    ]
    return model, identity


def _one(client_url: str, sql: str) -> object:
    rows = store(client_url).query(sql).result_rows
    return rows[0] if len(rows) == 1 else rows


async def test_a_complete_run_with_every_event_type_is_projected(setup: Setup) -> None:
    run_events = complete_run("run-a")
    model, identity = model_and_team_events("run-a")
    await produce(setup.bootstrap, setup.topics.events, run_events + model)
    await produce(setup.bootstrap, setup.topics.identity, identity)
    worker = setup.worker().start()
    try:
        total = len(run_events) + len(model) + len(identity)
        await eventually(
            lambda: _one(setup.url, "SELECT count() FROM events FINAL") == (total,), what="archive"
        )
        await eventually(
            lambda: _one(setup.url, "SELECT status FROM runs") == ("finished",), what="run finished"
        )
    finally:
        worker.stop()

    client = store(setup.url)
    run = client.query(
        "SELECT name, owner, created_by, description, archived, host, git_commit, git_dirty, params, tags,"
        " metrics_last['loss'], metrics_count['loss'], metrics_min['acc'], metrics_max['acc'], finished_at IS NOT NULL"
        " FROM runs WHERE run_id = 'run-a'"
    ).result_rows
    assert run == [
        (
            "baseline-v2",
            "bob",
            "alice",
            "first try",
            False,
            "gpu-1",
            "a" * 40,
            True,
            {"lr": "0.0003", "model.layers": "4"},
            {"stage": "tuning"},
            0.01,
            100,
            0.1,
            0.9,
            True,
        )
    ]
    assert client.query("SELECT count(), countIf(isNaN(value)) FROM metric_points").result_rows == [
        (103, 1)
    ]
    assert client.query(
        "SELECT metric, value FROM system_metric_points ORDER BY timestamp"
    ).result_rows == [("cpu_percent", 50.0), ("cpu_percent", 60.0)]
    assert client.query("SELECT name, version FROM environment_packages").result_rows == [
        ("numpy", "2.4.6")
    ]
    assert client.query(
        "SELECT relation, target_kind, target_id FROM lineage WHERE source_id = 'run-a' ORDER BY target_kind, relation"
    ).result_rows == [
        ("produced", "artifact", "f" * 64),
        ("used", "artifact", "e" * 64),
        ("used", "dataset", "sha256:d1"),
    ]
    assert client.query(
        "SELECT comment_id, body_markdown, edit_count, deleted FROM comments_current ORDER BY comment_id"
    ).result_rows == [
        ("run-a-c1", "plateau at 3k steps", 1, False),
        ("run-a-c2", "spam", 0, True),
    ]  # a tombstone keeps its body for admins
    assert client.query("SELECT grantee_id, access, active FROM shares_current").result_rows == [
        ("fraud", "view", True)
    ]
    assert client.query(
        "SELECT version, run_id, stage, aliases FROM model_versions_current"
    ).result_rows == [(1, "run-a", "production", ["champion"])]
    assert client.query(
        "SELECT source_kind, relation, target_id FROM lineage WHERE source_kind = 'model_version'"
    ).result_rows == [("model_version", "built_by", "run-a")]
    assert client.query("SELECT title, run_ids FROM decisions").result_rows == [
        ("ship v1", ["run-a"])
    ]
    assert client.query("SELECT body_markdown FROM project_notes_current").result_rows == [
        ("# Churn",)
    ]
    assert client.query(
        "SELECT user_id, display_name, active FROM members_current"
    ).result_rows == [("alice", "Alice", False)]
    assert client.query("SELECT key_id, role FROM api_keys").result_rows == [("k1", "writer")]
    assert client.query("SELECT project, display_name FROM projects").result_rows == [
        ("churn", "Churn")
    ]


async def test_status_is_decided_by_sequence_not_arrival_order(setup: Setup) -> None:
    created = event("run_created", runs_pb2.RunCreated(name="r"), run_id="run-o", sequence=1)
    finished = event(
        "run_status_changed",
        runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED),
        run_id="run-o",
        sequence=9,
    )
    failed_late_arrival = event(
        "run_status_changed",
        runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FAILED),
        run_id="run-o",
        sequence=5,
    )
    await produce(setup.bootstrap, setup.topics.events, [created, finished, failed_late_arrival])
    worker = setup.worker().start()
    try:
        await eventually(
            lambda: _one(setup.url, "SELECT count() FROM events FINAL") == (3,), what="archive"
        )
    finally:
        worker.stop()
    assert _one(setup.url, "SELECT status FROM runs") == ("finished",)


def metric_stream(run_id: str, batches: int, points: int) -> list[events_pb2.Event]:
    return [
        event(
            "metrics",
            metrics_pb2.MetricBatch(
                series=[
                    metrics_pb2.MetricSeries(
                        key="loss",
                        steps=list(range(b * points, (b + 1) * points)),
                        values=[float(b)] * points,
                    )
                ]
            ),
            run_id=run_id,
            sequence=b + 2,
        )
        for b in range(batches)
    ]


async def test_duplicates_sent_on_purpose_leave_no_trace(setup: Setup) -> None:
    events = [
        event("run_created", runs_pb2.RunCreated(name="dup"), run_id="run-d", sequence=1),
        *metric_stream("run-d", 5, 100),
    ]
    events.append(
        event(
            "comment_added",
            collaboration_pb2.CommentAdded(comment_id="cd", body_markdown="hi"),
            run_id="run-d",
            sequence=50,
        )
    )
    await produce(setup.bootstrap, setup.topics.events, events + events + events[3:5])
    worker = setup.worker().start()
    try:
        await eventually(
            lambda: _one(setup.url, "SELECT count() FROM events") >= (len(events),), what="archive"
        )
        await asyncio.sleep(1.5)  # let every duplicate be written too
    finally:
        worker.stop()
    client = store(setup.url)
    assert client.query("SELECT count() FROM events FINAL").result_rows == [(len(events),)]
    assert client.query("SELECT count(), sum(value) FROM metric_points").result_rows == [
        (500, 1000.0)
    ]
    assert client.query(
        "SELECT metrics_count['loss'], metrics_last_step['loss'] FROM runs"
    ).result_rows == [(500, 499)]
    assert client.query("SELECT count() FROM comments_current").result_rows == [(1,)]


async def test_worker_killed_mid_stream_and_restarted_leaves_exact_counts(setup: Setup) -> None:
    batches, points = 300, 1000
    await produce(setup.bootstrap, setup.topics.events, metric_stream("run-k", batches, points))
    worker = setup.worker(group=f"kill-{setup.database}").start()
    await eventually(
        lambda: _one(setup.url, "SELECT count() FROM metrics") >= (20_000,), what="first writes"
    )
    worker.kill()
    written_before_restart = _one(setup.url, "SELECT count() FROM metric_points")
    assert written_before_restart < (batches * points,), "the kill came too late to prove anything"
    restarted = setup.worker(group=f"kill-{setup.database}").start()
    try:
        await eventually(
            lambda: _one(setup.url, "SELECT count() FROM metric_points") == (batches * points,),
            timeout=120,
            what="all points after restart",
        )
    finally:
        restarted.stop()
    client = store(setup.url)
    assert client.query(
        "SELECT count(), uniqExact(step), sum(value) FROM metric_points"
    ).result_rows == [(batches * points, batches * points, float(points * sum(range(batches))))]
    assert client.query("SELECT count() FROM events FINAL").result_rows == [(batches,)]
    assert client.query("SELECT count FROM metric_summary").result_rows == [(batches * points,)]


async def test_poison_event_lands_in_dead_letter_topic_and_the_worker_goes_on(setup: Setup) -> None:
    good = event(
        "run_created", runs_pb2.RunCreated(name="after-poison"), run_id="run-p", sequence=1
    )
    await produce(
        setup.bootstrap, setup.topics.events, [b"\x08\x96\x01 this is not an event", good]
    )
    worker = setup.worker().start()
    try:
        await eventually(
            lambda: _one(setup.url, "SELECT name FROM runs") == ("after-poison",), what="good event"
        )
    finally:
        worker.stop()
    consumer = AIOKafkaConsumer(
        setup.topics.dead_letter, bootstrap_servers=setup.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    headers = dict(message.headers)
    assert message.value == b"\x08\x96\x01 this is not an event"
    assert headers["cairn-dlq-reason"].startswith(b"undecodable event")
    assert headers["cairn-source"].startswith(setup.topics.events.encode())


async def test_replay_rebuilds_projections_that_answer_queries_identically(setup: Setup) -> None:
    model, identity = model_and_team_events("run-r")
    await produce(
        setup.bootstrap,
        setup.topics.events,
        complete_run("run-r") + model + metric_stream("run-r2", 3, 50),
    )
    await produce(setup.bootstrap, setup.topics.identity, identity)
    queries = [
        "SELECT * FROM runs ORDER BY run_id",
        "SELECT * FROM metric_points ORDER BY run_id, key, step",
        "SELECT * FROM metric_summary ORDER BY run_id, key",
        "SELECT * FROM comments_current ORDER BY comment_id",
        "SELECT * FROM model_versions_current",
        "SELECT * FROM members_current",
        "SELECT * FROM lineage FINAL ORDER BY ALL",
        "SELECT event_id, payload FROM events FINAL ORDER BY event_id",
    ]
    worker = setup.worker().start()
    try:
        await eventually(
            lambda: _one(setup.url, "SELECT count() FROM events FINAL") == (23 + 6 + 3 + 5,),
            what="archive",
        )
    finally:
        worker.stop()
    client = store(setup.url)
    # Compared as the engine's text output: exact, and NaN equals NaN there.
    before = [client.raw_query(q, fmt="TabSeparatedWithNames") for q in queries]

    result = await replay(
        setup.bootstrap,
        (setup.topics.events, setup.topics.identity),
        lambda: store(setup.url),
        setup.database,
    )
    assert (result.events, result.poison) == (37, 0)
    after = [client.raw_query(q, fmt="TabSeparatedWithNames") for q in queries]
    assert all(len(text.splitlines()) > 1 for text in before)  # every view has rows to compare
    assert after == before
    # The swapped-in tables are live: a new point still updates the summary view.
    client.insert(
        "metrics",
        [["run-r2", "loss", 10_000, 0, 7.0, 99]],
        column_names=["run_id", "key", "step", "timestamp", "value", "sequence"],
    )
    assert client.query(
        "SELECT last_step, last FROM metric_summary WHERE run_id = 'run-r2'"
    ).result_rows == [(10_000, 7.0)]
