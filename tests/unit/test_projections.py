"""Events become the rows SQL users and the portal read; the same event always gives the same rows."""

from __future__ import annotations

import math

import pytest

from cairn.v1 import (
    collaboration_pb2,
    common_pb2,
    envelope_pb2,
    events_pb2,
    metrics_pb2,
    models_pb2,
    provenance_pb2,
    runs_pb2,
)
from domain.projections import LogPosition, PoisonEvent, Projection
from domain.row_fields import enum_label
from tests.builders import event

POS = LogPosition("cairn.events.v1", 0, 7)


def _rows(projection: Projection, table: str) -> list[dict[str, object]]:
    buffer = projection.buffers[table]
    columns = buffer.columns()
    names = buffer.schema.column_names
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def test_metric_batch_becomes_one_row_per_point_without_losing_nan_or_inf() -> None:
    series = metrics_pb2.MetricSeries(
        key="loss",
        steps=[0, 1, 2, 3],
        values=[1.0, math.nan, math.inf, -math.inf],
        timestamps_ns=[10, 20, 30, 40],
    )
    projection = Projection()
    projection.add(
        event("metrics", metrics_pb2.MetricBatch(series=[series]), sequence=5).SerializeToString(),
        POS,
    )

    step, timestamp, value, sequence = (
        projection.buffers["metrics"].columns()[i] for i in (2, 3, 4, 5)
    )
    assert step.tolist() == [0, 1, 2, 3]
    assert value[0] == 1.0
    assert math.isnan(value[1])
    assert value[2] == math.inf
    assert value[3] == -math.inf
    assert timestamp == [10, 20, 30, 40]
    assert sequence.tolist() == [5, 5, 5, 5]
    assert projection.points == 4


def test_points_without_timestamps_take_the_event_time() -> None:
    series = metrics_pb2.MetricSeries(key="acc", steps=[0, 1], values=[0.5, 0.6])
    projection = Projection()
    projection.add(
        event(
            "metrics", metrics_pb2.MetricBatch(series=[series]), occurred_at_ns=99
        ).SerializeToString(),
        POS,
    )
    assert projection.buffers["metrics"].columns()[3] == [99, 99]


def test_every_event_is_archived_with_its_log_position() -> None:
    ev = event("run_renamed", runs_pb2.RunRenamed(name="better"), run_id="r9", sequence=3)
    projection = Projection()
    projection.add(ev.SerializeToString(), POS)
    [archived] = _rows(projection, "events")
    assert archived["event_id"] == ev.envelope.event_id
    assert archived["event_type"] == "run_renamed"
    assert archived["aggregate_kind"] == "run"
    assert archived["payload"] == ev.SerializeToString()
    assert (archived["source_topic"], archived["source_partition"], archived["source_offset"]) == (
        "cairn.events.v1",
        0,
        7,
    )


def test_run_created_sets_every_run_field_and_status_change_sets_finished_at() -> None:
    created = runs_pb2.RunCreated(
        name="baseline", owner="alice", host="gpu-1", command_line=["python", "train.py"]
    )
    projection = Projection()
    projection.add(event("run_created", created, sequence=1).SerializeToString(), POS)
    finished = runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED)
    projection.add(
        event("run_status_changed", finished, sequence=2, occurred_at_ns=123).SerializeToString(),
        POS,
    )
    fields = {(r["field"], r["sequence"]): r["value"] for r in _rows(projection, "run_fields")}
    assert fields[("name", 1)] == "baseline"
    assert fields[("owner", 1)] == "alice"
    assert fields[("command_line", 1)] == '["python", "train.py"]'
    assert fields[("status", 1)] == "running"
    assert fields[("status", 2)] == "finished"
    assert fields[("finished_at", 2)] == "123"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (runs_pb2.ParamValue(double_value=3e-4), ("float", "0.0003", 3e-4)),
        (runs_pb2.ParamValue(int_value=64), ("int", "64", 64.0)),
        (runs_pb2.ParamValue(bool_value=True), ("bool", "true", 1.0)),
        (runs_pb2.ParamValue(string_value="adam"), ("string", "adam", math.nan)),
        (runs_pb2.ParamValue(), ("null", "", math.nan)),
    ],
)
def test_params_keep_their_type_text_and_numeric_value(
    value: runs_pb2.ParamValue, expected: tuple[str, str, float]
) -> None:
    projection = Projection()
    params = runs_pb2.ParamsSet(params=[runs_pb2.Param(key="opt.lr", value=value)])
    projection.add(event("params_set", params).SerializeToString(), POS)
    [row] = _rows(projection, "params")
    assert (row["key"], row["value_type"], row["value"]) == ("opt.lr", expected[0], expected[1])
    number = row["value_number"]
    assert isinstance(number, float)
    assert (math.isnan(number) and math.isnan(expected[2])) or number == expected[2]


def test_dataset_and_artifact_events_also_record_lineage_edges() -> None:
    projection = Projection()
    dataset = provenance_pb2.DatasetRecorded(
        name="train", digest="sha256:aa", role=common_pb2.DATA_ROLE_INPUT
    )
    artifact = provenance_pb2.ArtifactLogged(
        name="model.pt", sha256="bb", kind=provenance_pb2.ARTIFACT_KIND_MODEL
    )
    projection.add(event("dataset_recorded", dataset, run_id="r1").SerializeToString(), POS)
    projection.add(event("artifact_logged", artifact, run_id="r1").SerializeToString(), POS)
    edges = {
        (r["source_id"], r["relation"], r["target_kind"], r["target_id"])
        for r in _rows(projection, "lineage")
    }
    assert edges == {("r1", "used", "dataset", "sha256:aa"), ("r1", "produced", "artifact", "bb")}
    assert _rows(projection, "artifacts")[0]["kind"] == "model"


def test_model_version_is_built_by_its_run() -> None:
    projection = Projection()
    version = models_pb2.ModelVersionCreated(version=2, run_id="r1", artifact_sha256="bb")
    ev = event(
        "model_version_created",
        version,
        run_id="churn-model",
        aggregate_kind=envelope_pb2.AGGREGATE_KIND_MODEL,
    )
    projection.add(ev.SerializeToString(), POS)
    [edge] = _rows(projection, "lineage")
    assert (
        edge["source_kind"],
        edge["source_id"],
        edge["source_version"],
        edge["relation"],
        edge["target_id"],
    ) == (
        "model_version",
        "churn-model",
        2,
        "built_by",
        "r1",
    )


def test_comment_lifecycle_rows_keep_history() -> None:
    projection = Projection()
    anchor = collaboration_pb2.MetricAnchor(metric_key="loss", step_min=100, step_max=200)
    added = collaboration_pb2.CommentAdded(
        comment_id="c1", body_markdown="plateau", anchor=anchor, mentions=["bob"]
    )
    projection.add(event("comment_added", added).SerializeToString(), POS)
    projection.add(
        event(
            "comment_edited",
            collaboration_pb2.CommentEdited(comment_id="c1", body_markdown="plateau!"),
        ).SerializeToString(),
        POS,
    )
    projection.add(
        event(
            "comment_deleted", collaboration_pb2.CommentDeleted(comment_id="c1", reason="dup")
        ).SerializeToString(),
        POS,
    )
    rows = _rows(projection, "comments")
    assert [r["action"] for r in rows] == ["added", "edited", "deleted"]
    assert (rows[0]["anchor_metric"], rows[0]["anchor_step_max"]) == ("loss", 200)
    assert rows[0]["mentions"] == ["bob"]
    assert rows[1]["body_markdown"] == "plateau!"


def test_undecodable_bytes_are_poison_and_leave_no_rows() -> None:
    projection = Projection()
    with pytest.raises(PoisonEvent, match="undecodable event"):
        projection.add(b"\xff\xff\xff garbage", POS)
    assert (projection.rows, projection.events) == (0, 0)


def test_event_without_payload_is_poison() -> None:
    ev = event("run_renamed", runs_pb2.RunRenamed(name="x"))
    ev.ClearField("run_renamed")
    with pytest.raises(PoisonEvent, match="no known payload"):
        Projection().add(ev.SerializeToString(), POS)


def test_mismatched_series_lengths_are_poison_without_partial_rows() -> None:
    good = metrics_pb2.MetricSeries(key="a", steps=[0], values=[1.0])
    bad = metrics_pb2.MetricSeries(key="b", steps=[0, 1], values=[1.0])
    projection = Projection()
    with pytest.raises(PoisonEvent, match="2 steps for 1 values"):
        projection.add(
            event("metrics", metrics_pb2.MetricBatch(series=[good, bad])).SerializeToString(), POS
        )
    assert projection.rows == 0


def test_projecting_the_same_event_twice_gives_identical_rows() -> None:
    ev = event(
        "tags_set", runs_pb2.TagsSet(tags=[runs_pb2.Tag(key="stage", value="tuning")])
    ).SerializeToString()
    first, second = Projection(), Projection()
    first.add(ev, POS)
    second.add(ev, POS)
    for table in ("events", "tags"):
        assert _rows(first, table) == _rows(second, table)


def test_enum_labels_are_readable() -> None:
    assert enum_label(runs_pb2.RunStatus, runs_pb2.RUN_STATUS_KILLED) == "killed"
    assert enum_label(models_pb2.ModelStage, models_pb2.MODEL_STAGE_PRODUCTION) == "production"
    assert enum_label(runs_pb2.RunStatus, 999) == "999"


def test_events_written_by_the_portal_are_attributed_to_the_person_it_acted_for() -> None:
    ev = event("comment_added", collaboration_pb2.CommentAdded(comment_id="c9", body_markdown="hi"))
    ev.envelope.actor.kind = envelope_pb2.ACTOR_KIND_SERVICE
    ev.envelope.actor.id = "portal"
    ev.envelope.actor.on_behalf_of = "carol"
    projection = Projection()
    projection.add(ev.SerializeToString(), POS)
    assert _rows(projection, "comments")[0]["author"] == "carol"
    archived = _rows(projection, "events")[0]
    # The person is the actor (activity, docs/sql.md query 10); the portal only the channel,
    # which the archived envelope still names.
    assert (archived["actor_kind"], archived["actor"]) == ("user", "carol")
    stored = event_pb_from(archived["payload"])
    assert (stored.envelope.actor.id, stored.envelope.actor.on_behalf_of) == ("portal", "carol")


def test_a_service_acting_for_nobody_stays_a_service() -> None:
    ev = event("comment_added", collaboration_pb2.CommentAdded(comment_id="c8", body_markdown="x"))
    ev.envelope.actor.kind = envelope_pb2.ACTOR_KIND_SERVICE
    ev.envelope.actor.id = "ci"
    projection = Projection()
    projection.add(ev.SerializeToString(), POS)
    assert (
        _rows(projection, "events")[0]["actor_kind"],
        _rows(projection, "events")[0]["actor"],
    ) == ("service", "ci")


def event_pb_from(payload: object) -> events_pb2.Event:
    parsed = events_pb2.Event()
    assert isinstance(payload, bytes)
    parsed.ParseFromString(payload)
    return parsed


def test_metric_points_are_not_copied_into_the_archive() -> None:
    series = metrics_pb2.MetricSeries(key="loss", steps=[1, 2], values=[0.5, 0.4])
    ev = event("metrics", metrics_pb2.MetricBatch(series=[series]), run_id="r9", sequence=2)
    projection = Projection()
    projection.add(ev.SerializeToString(), POS)
    [archived] = _rows(projection, "events")
    assert archived["event_type"] == "metrics"
    assert archived["event_id"] == ev.envelope.event_id
    assert archived["payload"] == b""
    assert projection.buffers["metrics"].rows == 2


def test_every_event_type_of_the_one_table_has_exactly_one_projection() -> None:
    from cairn_contract.event_types import EVENT_TYPES
    from domain import projections

    assert projections.handled_event_types() == frozenset(EVENT_TYPES)
    with pytest.raises(LookupError, match="'run_teleported' has 0 projections"):
        projections._handler("run_teleported")
