"""Every validation rule with an input that breaks it and the exact error it must produce.

Shared by the unit tests of ``domain.validation`` and the integration tests that send the same
input through a real ingest server (where the error arrives as INVALID_ARGUMENT with details).
Limits are small here (``LIMITS``) so the size rules are cheap to trip; the ingest server under
test is started with the same limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from cairn.v1 import envelope_pb2, events_pb2, lineage_pb2, media_pb2, runs_pb2
from cairn_contract.limits import KIB, Limits
from tests.event_samples import RUN_ID, batch_of, metric_event, sample_event

LIMITS = Limits(
    max_batch_bytes=256 * KIB,
    max_events_per_batch=50,
    max_event_bytes=64 * KIB,
    max_points_per_event=3_000,
    max_points_per_batch=5_000,
    max_series_per_event=100,
    max_items_per_list=100,
    max_histograms_per_event=10,
    max_bins_per_histogram=32,
    max_media_per_event=3,
    max_media_per_step=5,
    max_media_blob_bytes=1_000,
    max_view_param_chars=100,
)
FAR_FUTURE_NS = 4_000_000_000_000_000_000  # year 2096
RANGE = f"[{LIMITS.min_timestamp_ns}, now + 24h]"
FIXED_ID = "0190a8d2-58c5-7a3e-9b1c-2f4d6e8a0b1c"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], events_pb2.EventBatch | bytes]
    field: str
    rule: str
    detail: str
    pattern: bool = False  # detail is a regular expression (the size depends on stamping)

    def matches(self, message: str) -> bool:
        prefix, suffix = f"{self.field or 'EventBatch'}: ", f" (rule {self.rule})"
        if not (message.startswith(prefix) and message.endswith(suffix)):
            return False
        detail = message[len(prefix) : len(message) - len(suffix)]
        return bool(re.fullmatch(self.detail, detail)) if self.pattern else detail == self.detail

    def data(self) -> bytes:
        built = self.build()
        return built if isinstance(built, bytes) else built.SerializeToString()


def _one(
    event_type: str, change: Callable[[events_pb2.Event], object]
) -> Callable[[], events_pb2.EventBatch]:
    def build() -> events_pb2.EventBatch:
        event = sample_event(event_type)
        change(event)
        return batch_of(event)

    return build


def _metrics(
    change: Callable[[events_pb2.Event], object], **shape: int
) -> Callable[[], events_pb2.EventBatch]:
    def build() -> events_pb2.EventBatch:
        event = metric_event(keys=("a", "b"), points=shape.get("points", 5))
        change(event)
        return batch_of(event)

    return build


def _set(obj: object, **values: object) -> None:
    for name, value in values.items():
        setattr(obj, name, value)


def _clear(obj: object, name: str) -> None:
    obj.ClearField(name)  # type: ignore[attr-defined]


def _two_runs_out_of_order() -> events_pb2.EventBatch:
    return batch_of(
        metric_event(sequence=5), metric_event("run-other", sequence=1), metric_event(sequence=5)
    )


def _too_many_points_in_batch() -> events_pb2.EventBatch:
    return batch_of(*(metric_event(run_id=f"r{i}", points=2_000) for i in range(3)))


def _oversize_event() -> events_pb2.Event:
    event = sample_event("params_set")
    for index in range(11):
        event.params_set.params.add(key=f"long{index}").value.string_value = "v" * 6_000
    return event


def _series_count(event: events_pb2.Event) -> None:
    for index in range(LIMITS.max_series_per_event):
        event.metrics.series.add(
            key=f"k{index}", steps=[0], values=[0.0], timestamps_ns=[event.envelope.occurred_at_ns]
        )


def _empty_series(event: events_pb2.Event) -> None:
    for name in ("steps", "values", "timestamps_ns"):
        event.metrics.series[1].ClearField(name)


def _negative_step(event: events_pb2.Event) -> None:
    event.metrics.series[1].steps[3] = -7


def _bad_time(event: events_pb2.Event) -> None:
    event.metrics.series[1].timestamps_ns[2] = FAR_FUTURE_NS


def _histogram(index: int, **values: object) -> Callable[[events_pb2.Event], None]:
    def change(event: events_pb2.Event) -> None:
        _set(event.histograms.histograms[index], **values)

    return change


def _media(item: int, **values: object) -> Callable[[events_pb2.Event], None]:
    def change(event: events_pb2.Event) -> None:
        _set(event.media_logged.items[item], **values)

    return change


def _too_many_media(event: events_pb2.Event) -> None:
    for index in range(LIMITS.max_media_per_event - 1):
        event.media_logged.items.add(key=f"t{index}", kind=media_pb2.MEDIA_KIND_TEXT, text="x")


def _short_row(event: events_pb2.Event) -> None:
    event.media_logged.items[1].table.rows[0].cells.pop()


def _too_many_histograms(event: events_pb2.Event) -> None:
    for index in range(LIMITS.max_histograms_per_event - 1):
        event.histograms.histograms.add(key=f"h{index}", edges=[0.0, 1.0], counts=[1.0])


def _too_many_bins(event: events_pb2.Event) -> None:
    histogram = event.histograms.histograms[1]
    histogram.edges[:] = [float(i) for i in range(34)]
    histogram.counts[:] = [1.0] * 33


def _no_bins(event: events_pb2.Event) -> None:
    _clear(event.histograms.histograms[1], "edges")
    _clear(event.histograms.histograms[1], "counts")


def _lineage(
    source: lineage_pb2.LineageNode,
    relation: lineage_pb2.LineageRelation.ValueType,
    target: lineage_pb2.LineageNode,
) -> Callable[[events_pb2.Event], None]:
    def change(event: events_pb2.Event) -> None:
        edge = event.lineage_edge_recorded
        edge.source.CopyFrom(source)
        edge.relation = relation
        edge.target.CopyFrom(target)

    return change


RUN_NODE = lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=RUN_ID)
DATASET_NODE = lineage_pb2.LineageNode(
    kind=lineage_pb2.LINEAGE_NODE_KIND_DATASET, id="sha256:" + "0" * 64
)
EP = "events[0].envelope"
ID_HELP = "use letters, digits and . _ : @ + -, starting with a letter or digit"
SLUG_HELP = "use lowercase letters, digits, _ and -, starting with a letter or digit"

CASES: list[Case] = [
    # The batch as a whole.
    Case(
        "garbage bytes",
        lambda: b"\xff\xff\xff\xff",
        "",
        "malformed_protobuf",
        "is not a valid cairn.v1.EventBatch (truncated or corrupt)",
    ),
    Case(
        "truncated batch",
        lambda: batch_of(metric_event()).SerializeToString()[:-3],
        "",
        "malformed_protobuf",
        "is not a valid cairn.v1.EventBatch (truncated or corrupt)",
    ),
    Case(
        "empty batch",
        lambda: events_pb2.EventBatch(),
        "events",
        "required",
        "a batch must contain at least one event",
    ),
    Case(
        "too many events",
        lambda: batch_of(*(sample_event("run_renamed") for _ in range(51))),
        "events",
        "max_events_per_batch",
        "51 events, at most 50 allowed",
    ),
    Case(
        "too many points in the batch",
        _too_many_points_in_batch,
        "events",
        "max_points_per_batch",
        "more than 5000 metric points in the batch",
    ),
    Case(
        "sequence goes backwards",
        _two_runs_out_of_order,
        "events[2].envelope.sequence",
        "sequence_increasing",
        "5 does not follow 5 for aggregate 'run-0001' in this batch",
    ),
    Case(
        "event too large",
        lambda: batch_of(_oversize_event()),
        "events[0]",
        "max_event_bytes",
        r"\d+ bytes serialized, at most 65536 allowed",
        pattern=True,
    ),
    # The envelope.
    Case(
        "no envelope",
        _one("run_renamed", lambda e: _clear(e, "envelope")),
        EP,
        "required",
        "is required",
    ),
    Case(
        "no event id",
        _one("run_renamed", lambda e: _set(e.envelope, event_id="")),
        f"{EP}.event_id",
        "required",
        "is required",
    ),
    Case(
        "event id not a UUIDv7",
        _one(
            "run_renamed",
            lambda e: _set(e.envelope, event_id="0190a8d2-58c5-4a3e-9b1c-2f4d6e8a0b1c"),
        ),
        f"{EP}.event_id",
        "uuid7",
        "'0190a8d2-58c5-4a3e-9b1c-2f4d6e8a0b1c' is not a UUIDv7 in canonical lowercase form",
    ),
    Case(
        "event id in upper case",
        _one("run_renamed", lambda e: _set(e.envelope, event_id=FIXED_ID.upper())),
        f"{EP}.event_id",
        "uuid7",
        f"{FIXED_ID.upper()!r} is not a UUIDv7 in canonical lowercase form",
    ),
    Case(
        "no schema version",
        _one("run_renamed", lambda e: _set(e.envelope, schema_version=0)),
        f"{EP}.schema_version",
        "required",
        "is required",
    ),
    Case(
        "future schema version",
        _one("run_renamed", lambda e: _set(e.envelope, schema_version=2)),
        f"{EP}.schema_version",
        "supported_schema_version",
        "schema version 2 is not supported (supported: 1)",
    ),
    Case(
        "no aggregate kind",
        _one("run_renamed", lambda e: _set(e.envelope, aggregate_kind=0)),
        f"{EP}.aggregate_kind",
        "required",
        "is required",
    ),
    Case(
        "unknown aggregate kind",
        _one("run_renamed", lambda e: _set(e.envelope, aggregate_kind=42)),
        f"{EP}.aggregate_kind",
        "known_enum",
        "42 is not a known cairn.v1.AggregateKind value",
    ),
    Case(
        "no aggregate id",
        _one("run_renamed", lambda e: _set(e.envelope, aggregate_id="")),
        f"{EP}.aggregate_id",
        "required",
        "is required",
    ),
    Case(
        "aggregate id with a space",
        _one("run_renamed", lambda e: _set(e.envelope, aggregate_id="run 1")),
        f"{EP}.aggregate_id",
        "id_format",
        "'run 1' is not valid: " + ID_HELP,
    ),
    Case(
        "aggregate id too long",
        _one("run_renamed", lambda e: _set(e.envelope, aggregate_id="r" * 129)),
        f"{EP}.aggregate_id",
        "max_length",
        "129 characters, at most 128 allowed",
    ),
    Case(
        "no occurred_at",
        _one("run_renamed", lambda e: _set(e.envelope, occurred_at_ns=0)),
        f"{EP}.occurred_at_ns",
        "required",
        "is required",
    ),
    Case(
        "occurred_at before 2000",
        _one("run_renamed", lambda e: _set(e.envelope, occurred_at_ns=1_000)),
        f"{EP}.occurred_at_ns",
        "timestamp_range",
        f"1000 ns since the epoch is outside {RANGE}",
    ),
    Case(
        "occurred_at in the far future",
        _one("run_renamed", lambda e: _set(e.envelope, occurred_at_ns=FAR_FUTURE_NS)),
        f"{EP}.occurred_at_ns",
        "timestamp_range",
        f"{FAR_FUTURE_NS} ns since the epoch is outside {RANGE}",
    ),
    Case(
        "no team",
        _one("run_renamed", lambda e: _set(e.envelope, team="")),
        f"{EP}.team",
        "required",
        "is required",
    ),
    Case(
        "team not a slug",
        _one("run_renamed", lambda e: _set(e.envelope, team="Vision")),
        f"{EP}.team",
        "slug_format",
        "'Vision' is not valid: " + SLUG_HELP,
    ),
    Case(
        "run event without project",
        _one("run_renamed", lambda e: _set(e.envelope, project="")),
        f"{EP}.project",
        "required",
        "is required for AGGREGATE_KIND_RUN events",
    ),
    Case(
        "project not a slug",
        _one("run_renamed", lambda e: _set(e.envelope, project="-mnist")),
        f"{EP}.project",
        "slug_format",
        "'-mnist' is not valid: " + SLUG_HELP,
    ),
    Case(
        "actor on_behalf_of not an id",
        _one("run_renamed", lambda e: _set(e.envelope.actor, on_behalf_of="al ice")),
        f"{EP}.actor.on_behalf_of",
        "id_format",
        "'al ice' is not valid: " + ID_HELP,
    ),
    Case(
        "no payload",
        _one("run_renamed", lambda e: _clear(e, "run_renamed")),
        "events[0].payload",
        "required",
        "is required (no event type is set)",
    ),
    Case(
        "metrics on a model",
        _metrics(lambda e: _set(e.envelope, aggregate_kind=envelope_pb2.AGGREGATE_KIND_MODEL)),
        f"{EP}.aggregate_kind",
        "aggregate_kind",
        "metrics events belong to AGGREGATE_KIND_RUN, not AGGREGATE_KIND_MODEL",
    ),
    Case(
        "team event for another team id",
        _one("member_joined", lambda e: _set(e.envelope, aggregate_id="audio")),
        f"{EP}.aggregate_id",
        "aggregate_matches_scope",
        "'audio' must equal the envelope team 'vision'",
    ),
    # Metric batches.
    Case(
        "metrics without series",
        _metrics(lambda e: _clear(e.metrics, "series")),
        "events[0].metrics.series",
        "required",
        "is required",
    ),
    Case(
        "too many series",
        _metrics(_series_count),
        "events[0].metrics.series",
        "max_series_per_event",
        "102 series, at most 100 allowed",
    ),
    Case(
        "series without points",
        _metrics(_empty_series),
        "events[0].metrics.series[1].values",
        "required",
        "is required (no points)",
    ),
    Case(
        "too many points in one event",
        _metrics(lambda e: None, points=1_501),
        "events[0].metrics.series",
        "max_points_per_event",
        "3002 metric points, at most 3000 allowed",
    ),
    Case(
        "series without key",
        _metrics(lambda e: _set(e.metrics.series[1], key="")),
        "events[0].metrics.series[1].key",
        "required",
        "is required",
    ),
    Case(
        "metric key with a space",
        _metrics(lambda e: _set(e.metrics.series[1], key="train loss")),
        "events[0].metrics.series[1].key",
        "key_format",
        "'train loss' is not valid: use dot-separated segments of letters, digits and _ - / :",
    ),
    Case(
        "metric key with an empty segment",
        _metrics(lambda e: _set(e.metrics.series[0], key="train..loss")),
        "events[0].metrics.series[0].key",
        "key_format",
        "'train..loss' is not valid: use dot-separated segments of letters, digits and _ - / :",
    ),
    Case(
        "metric key too long",
        _metrics(lambda e: _set(e.metrics.series[0], key="k" * 251)),
        "events[0].metrics.series[0].key",
        "max_length",
        "251 characters, at most 250 allowed",
    ),
    Case(
        "fewer steps than values",
        _metrics(lambda e: e.metrics.series[1].steps.pop()),
        "events[0].metrics.series[1].steps",
        "equal_lengths",
        "has 4 items but values has 5",
    ),
    Case(
        "more timestamps than values",
        _metrics(lambda e: e.metrics.series[0].timestamps_ns.append(e.envelope.occurred_at_ns)),
        "events[0].metrics.series[0].timestamps_ns",
        "equal_lengths",
        "has 6 items but values has 5",
    ),
    Case(
        "negative step",
        _metrics(_negative_step),
        "events[0].metrics.series[1].steps[3]",
        "non_negative_step",
        "step must be >= 0, got -7",
    ),
    Case(
        "metric timestamp in the far future",
        _metrics(_bad_time),
        "events[0].metrics.series[1].timestamps_ns[2]",
        "timestamp_range",
        f"{FAR_FUTURE_NS} ns since the epoch is outside {RANGE}",
    ),
    Case(
        "system metric without metric",
        _one("system_metrics", lambda e: _set(e.system_metrics.series[0], metric=0)),
        "events[0].system_metrics.series[0].metric",
        "required",
        "is required",
    ),
    Case(
        "unknown system metric",
        _one("system_metrics", lambda e: _set(e.system_metrics.series[0], metric=999)),
        "events[0].system_metrics.series[0].metric",
        "known_enum",
        "999 is not a known cairn.v1.SystemMetric value",
    ),
    Case(
        "system metric device with a slash",
        _one("system_metrics", lambda e: _set(e.system_metrics.series[0], device="/dev/sda")),
        "events[0].system_metrics.series[0].device",
        "id_format",
        "'/dev/sda' is not valid: " + ID_HELP,
    ),
    Case(
        "system metric missing a timestamp",
        _one("system_metrics", lambda e: e.system_metrics.series[0].timestamps_ns.pop()),
        "events[0].system_metrics.series[0].timestamps_ns",
        "equal_lengths",
        "has 1 items but values has 2",
    ),
    # Media.
    Case(
        "too many media items",
        _one("media_logged", _too_many_media),
        "events[0].media_logged.items",
        "max_media_per_event",
        "4 items, at most 3 allowed",
    ),
    Case(
        "media item at a negative step",
        _one("media_logged", _media(0, step=-1)),
        "events[0].media_logged.items[0].step",
        "non_negative_step",
        "step must be >= 0, got -1",
    ),
    Case(
        "media item beyond the per-step count",
        _one("media_logged", _media(0, index=5)),
        "events[0].media_logged.items[0].index",
        "max_media_per_step",
        "index must be in [0, 5) (at most 5 items per key and step), got 5",
    ),
    Case(
        "image without its image blob",
        _one("media_logged", lambda e: _clear(e.media_logged.items[0], "blobs")),
        "events[0].media_logged.items[0].blobs",
        "media_content",
        "a MEDIA_KIND_IMAGE needs a blob with role 'image'",
    ),
    Case(
        "blob larger than the limit",
        _one("media_logged", lambda e: _set(e.media_logged.items[0].blobs[0], size_bytes=1_001)),
        "events[0].media_logged.items[0].blobs[0].size_bytes",
        "max_media_blob_bytes",
        "1001 bytes, at most 1000 allowed",
    ),
    Case(
        "blob digest not a sha256",
        _one("media_logged", lambda e: _set(e.media_logged.items[0].blobs[0], sha256="abc")),
        "events[0].media_logged.items[0].blobs[0].sha256",
        "sha256_format",
        "'abc' is not valid: use 64 lowercase hex digits",
    ),
    Case(
        "box with corners the wrong way round",
        _one("media_logged", lambda e: _set(e.media_logged.items[0].boxes[0], x_min=5.0)),
        "events[0].media_logged.items[0].boxes[0]",
        "box_corners",
        "needs x_min <= x_max and y_min <= y_max, got (5.0, 0.0, 2.0, 1.0)",
    ),
    Case(
        "table row shorter than its columns",
        _one("media_logged", _short_row),
        "events[0].media_logged.items[1].table.rows[0].cells",
        "row_cells",
        "has 1 cells but the table has 2 columns",
    ),
    Case(
        "media item without a kind",
        _one("media_logged", _media(0, kind=0)),
        "events[0].media_logged.items[0].kind",
        "required",
        "is required",
    ),
    # Saved views.
    Case(
        "saved view id that is not a UUIDv7",
        _one("view_saved", lambda e: _set(e.envelope, aggregate_id="default")),
        f"{EP}.aggregate_id",
        "uuid7",
        "a saved view's id is a canonical UUIDv7",
    ),
    Case(
        "saved view without a name",
        _one("view_saved", lambda e: _set(e.view_saved, name="")),
        "events[0].view_saved.name",
        "required",
        "is required",
    ),
    Case(
        "saved view without a visibility",
        _one("view_saved", lambda e: _set(e.view_saved, visibility=0)),
        "events[0].view_saved.visibility",
        "required",
        "is required",
    ),
    Case(
        "saved view of a page that is not a slug",
        _one("view_saved", lambda e: _set(e.view_saved, page="Runs Page")),
        "events[0].view_saved.page",
        "slug_format",
        "'Runs Page' is not valid: " + SLUG_HELP,
    ),
    Case(
        "saved view parameter too long",
        _one("view_saved", lambda e: _set(e.view_saved.params[0], value="x" * 101)),
        "events[0].view_saved.params[0].value",
        "max_length",
        "101 characters, at most 100 allowed",
    ),
    Case(
        "saved view naming a parameter twice",
        _one("view_saved", lambda e: _set(e.view_saved.params[1], name="filter")),
        "events[0].view_saved.params[1].name",
        "unique_name",
        "'filter' appears twice",
    ),
    Case(
        "a team view as a person's default",
        _one("view_saved", lambda e: _set(e.view_saved, user_default=True)),
        "events[0].view_saved.user_default",
        "default_is_personal",
        "only a personal view is a default",
    ),
    Case(
        "saved view event on a run",
        _one(
            "view_deleted",
            lambda e: _set(e.envelope, aggregate_kind=envelope_pb2.AGGREGATE_KIND_RUN),
        ),
        f"{EP}.aggregate_kind",
        "aggregate_kind",
        "view_deleted events belong to AGGREGATE_KIND_VIEW, not AGGREGATE_KIND_RUN",
    ),
    # Histograms.
    Case(
        "histograms event without histograms",
        _one("histograms", lambda e: _clear(e.histograms, "histograms")),
        "events[0].histograms.histograms",
        "required",
        "is required",
    ),
    Case(
        "too many histograms",
        _one("histograms", _too_many_histograms),
        "events[0].histograms.histograms",
        "max_histograms_per_event",
        "11 histograms, at most 10 allowed",
    ),
    Case(
        "histograms on a model",
        _one(
            "histograms",
            lambda e: _set(e.envelope, aggregate_kind=envelope_pb2.AGGREGATE_KIND_MODEL),
        ),
        f"{EP}.aggregate_kind",
        "aggregate_kind",
        "histograms events belong to AGGREGATE_KIND_RUN, not AGGREGATE_KIND_MODEL",
    ),
    Case(
        "histogram without key",
        _one("histograms", _histogram(1, key="")),
        "events[0].histograms.histograms[1].key",
        "required",
        "is required",
    ),
    Case(
        "histogram key with a space",
        _one("histograms", _histogram(0, key="layer 1")),
        "events[0].histograms.histograms[0].key",
        "key_format",
        "'layer 1' is not valid: use dot-separated segments of letters, digits and _ - / :",
    ),
    Case(
        "histogram at a negative step",
        _one("histograms", _histogram(1, step=-2)),
        "events[0].histograms.histograms[1].step",
        "non_negative_step",
        "step must be >= 0, got -2",
    ),
    Case(
        "histogram time in the far future",
        _one("histograms", _histogram(0, timestamp_ns=FAR_FUTURE_NS)),
        "events[0].histograms.histograms[0].timestamp_ns",
        "timestamp_range",
        f"{FAR_FUTURE_NS} ns since the epoch is outside {RANGE}",
    ),
    Case(
        "histogram without bins",
        _one("histograms", _no_bins),
        "events[0].histograms.histograms[1].counts",
        "required",
        "is required (no bins)",
    ),
    Case(
        "histogram with too many bins",
        _one("histograms", _too_many_bins),
        "events[0].histograms.histograms[1].counts",
        "max_bins_per_histogram",
        "33 bins, at most 32 allowed",
    ),
    Case(
        "histogram with as many edges as counts",
        _one("histograms", lambda e: e.histograms.histograms[0].edges.pop()),
        "events[0].histograms.histograms[0].edges",
        "bin_edges",
        "has 4 items but counts has 4: a histogram has one more edge than counts",
    ),
    Case(
        "histogram edge not a number",
        _one("histograms", lambda e: e.histograms.histograms[0].edges.__setitem__(2, math.nan)),
        "events[0].histograms.histograms[0].edges[2]",
        "finite_edges",
        "edges must be finite, got nan",
    ),
    Case(
        "histogram edges not increasing",
        _one("histograms", lambda e: e.histograms.histograms[0].edges.__setitem__(3, 0.0)),
        "events[0].histograms.histograms[0].edges[3]",
        "increasing_edges",
        "0.0 does not follow 0.0: edges must increase strictly",
    ),
    Case(
        "negative histogram count",
        _one("histograms", lambda e: e.histograms.histograms[0].counts.__setitem__(1, -1.0)),
        "events[0].histograms.histograms[0].counts[1]",
        "non_negative_count",
        "counts must be finite and >= 0, got -1.0",
    ),
    Case(
        "infinite histogram count",
        _one("histograms", lambda e: e.histograms.histograms[1].counts.__setitem__(0, math.inf)),
        "events[0].histograms.histograms[1].counts[0]",
        "non_negative_count",
        "counts must be finite and >= 0, got inf",
    ),
    # Other payloads, through the generic walk.
    Case(
        "rename without name",
        _one("run_renamed", lambda e: _set(e.run_renamed, name="")),
        "events[0].run_renamed.name",
        "required",
        "is required",
    ),
    Case(
        "name too long",
        _one("run_renamed", lambda e: _set(e.run_renamed, name="n" * 257)),
        "events[0].run_renamed.name",
        "max_length",
        "257 characters, at most 256 allowed",
    ),
    Case(
        "newline in a name",
        _one("run_renamed", lambda e: _set(e.run_renamed, name="line\nbreak")),
        "events[0].run_renamed.name",
        "no_control_characters",
        "contains the control character U+000A",
    ),
    Case(
        "bell in markdown",
        _one("run_description_set", lambda e: _set(e.run_description_set, description="ok\n\x07")),
        "events[0].run_description_set.description",
        "no_control_characters",
        "contains the control character U+0007",
    ),
    Case(
        "unknown run status",
        _one("run_status_changed", lambda e: _set(e.run_status_changed, status=99)),
        "events[0].run_status_changed.status",
        "known_enum",
        "99 is not a known cairn.v1.RunStatus value",
    ),
    Case(
        "start time before 2000",
        _one("run_created", lambda e: _set(e.run_created, started_at_ns=5)),
        "events[0].run_created.started_at_ns",
        "timestamp_range",
        f"5 ns since the epoch is outside {RANGE}",
    ),
    Case(
        "too many tags",
        _one(
            "tags_set",
            lambda e: e.tags_set.tags.extend(runs_pb2.Tag(key=f"t{i}") for i in range(100)),
        ),
        "events[0].tags_set.tags",
        "max_items",
        "101 items, at most 100 allowed",
    ),
    Case(
        "param without value",
        _one("params_set", lambda e: _clear(e.params_set.params[1], "value")),
        "events[0].params_set.params[1].value",
        "required",
        "is required",
    ),
    Case(
        "param value without kind",
        _one("params_set", lambda e: _clear(e.params_set.params[1].value, "int_value")),
        "events[0].params_set.params[1].value.kind",
        "required",
        "is required",
    ),
    Case(
        "config too deep",
        _one("params_set", lambda e: _set(e.params_set.params[0], key=".".join("abcdefghijk"))),
        "events[0].params_set.params[0].key",
        "max_config_depth",
        "'a.b.c.d.e.f.g.h.i.j.k' is 11 levels deep, at most 10",
    ),
    Case(
        "param string too long",
        _one("params_set", lambda e: _set(e.params_set.params[3].value, string_value="v" * 6_001)),
        "events[0].params_set.params[3].value.string_value",
        "max_length",
        "6001 characters, at most 6000 allowed",
    ),
    Case(
        "dataset uri without scheme",
        _one("dataset_recorded", lambda e: _set(e.dataset_recorded, uri="/data/mnist")),
        "events[0].dataset_recorded.uri",
        "uri_format",
        "'/data/mnist' is not valid: use scheme:rest without whitespace, e.g. s3://bucket/key or file:///data/x",
    ),
    Case(
        "dataset digest without algorithm",
        _one("dataset_recorded", lambda e: _set(e.dataset_recorded, digest="abc123")),
        "events[0].dataset_recorded.digest",
        "digest_format",
        "'abc123' is not valid: use algorithm:hex such as sha256:<64 hex digits>",
    ),
    Case(
        "artifact sha256 in upper case",
        _one("artifact_logged", lambda e: _set(e.artifact_logged, sha256="A" * 64)),
        "events[0].artifact_logged.sha256",
        "sha256_format",
        f"{'A' * 64!r} is not valid: use 64 lowercase hex digits",
    ),
    Case(
        "short commit hash",
        _one("code_version_recorded", lambda e: _set(e.code_version_recorded, commit="abc1234")),
        "events[0].code_version_recorded.commit",
        "commit_format",
        "'abc1234' is not valid: use a full commit hash of 40 or 64 lowercase hex digits",
    ),
    Case(
        "anchor range reversed",
        _one("comment_added", lambda e: _set(e.comment_added.anchor, step_min=9, step_max=3)),
        "events[0].comment_added.anchor",
        "step_range",
        "needs 0 <= step_min <= step_max, got [9, 3]",
    ),
    Case(
        "empty mention",
        _one("comment_added", lambda e: e.comment_added.mentions.append("")),
        "events[0].comment_added.mentions[1]",
        "id_format",
        "'' is not valid: " + ID_HELP,
    ),
    Case(
        "model alias not a slug",
        _one("model_alias_set", lambda e: _set(e.model_alias_set, alias="Champion!")),
        "events[0].model_alias_set.alias",
        "slug_format",
        "'Champion!' is not valid: " + SLUG_HELP,
    ),
    Case(
        "model version node without version",
        _one(
            "lineage_edge_recorded",
            _lineage(
                RUN_NODE,
                lineage_pb2.LINEAGE_RELATION_USED,
                lineage_pb2.LineageNode(
                    kind=lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION, id="digits"
                ),
            ),
        ),
        "events[0].lineage_edge_recorded.target.version",
        "required",
        "is required for model version nodes",
    ),
    Case(
        "dataset node with a version",
        _one(
            "lineage_edge_recorded",
            _lineage(
                RUN_NODE,
                lineage_pb2.LINEAGE_RELATION_USED,
                lineage_pb2.LineageNode(
                    kind=lineage_pb2.LINEAGE_NODE_KIND_DATASET, id="d", version=2
                ),
            ),
        ),
        "events[0].lineage_edge_recorded.target.version",
        "lineage_node_version",
        "is only allowed on model versions",
    ),
    Case(
        "used edge starting at a dataset",
        _one(
            "lineage_edge_recorded",
            _lineage(DATASET_NODE, lineage_pb2.LINEAGE_RELATION_USED, RUN_NODE),
        ),
        "events[0].lineage_edge_recorded.source.kind",
        "lineage_relation",
        "LINEAGE_RELATION_USED edges start at a LINEAGE_NODE_KIND_RUN",
    ),
    Case(
        "edge recorded on another run",
        _one(
            "lineage_edge_recorded",
            _lineage(
                lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id="run-9"),
                lineage_pb2.LINEAGE_RELATION_USED,
                DATASET_NODE,
            ),
        ),
        "events[0].lineage_edge_recorded.source",
        "lineage_source_is_aggregate",
        "an edge is recorded on its source's aggregate: "
        "source must be AGGREGATE_KIND_RUN 'run-0001'",
    ),
    Case(
        "user key without user",
        _one(
            "api_key_issued",
            lambda e: _set(e.api_key_issued, principal_kind=envelope_pb2.ACTOR_KIND_USER),
        ),
        "events[0].api_key_issued.user_id",
        "required",
        "is required for keys issued to a user",
    ),
    Case(
        "service key with a user",
        _one("api_key_issued", lambda e: _set(e.api_key_issued, user_id="alice")),
        "events[0].api_key_issued.user_id",
        "service_key_user",
        "must be empty for service keys",
    ),
    Case(
        "key expiring before 2000",
        _one("api_key_issued", lambda e: _set(e.api_key_issued, expires_at_ns=7)),
        "events[0].api_key_issued.expires_at_ns",
        "timestamp_range",
        f"7 ns since the epoch is outside {RANGE}",
    ),
]
