"""Validation of event batches: every rule ingest applies before an event may reach Kafka.

The contract (docs/events.md, "Validation"): a batch is accepted whole or rejected whole; the
first broken rule is reported as :class:`cairn.errors.ValidationError` whose ``field`` is a path
into the batch (``events[3].metrics.series[0].steps[7]``), whose ``rule`` names the rule, and
whose message says both. Nothing else escapes: malformed bytes become a ``malformed_protobuf``
validation error, never a crash.

Metric points and histogram bins are checked with numpy over whole arrays (``np.asarray`` on the packed repeated
fields copies them in C), so the cost per point is a few nanoseconds and there is no Python loop
per point; loops run per event, per series and per list item of the small event types.

NaN and ±inf metric values are valid and are not touched: they are stored as sent and stay
distinct. Steps must be non-negative; timestamps must lie between ``Limits.min_timestamp_ns`` and
``now + Limits.max_clock_skew_ns``. The caller passes ``now_ns`` so the rules stay pure.

Why one module of ~500 lines: it is one walk over a batch, in one class, whose private checks
share the limits, the field-rule plans and the error paths; the rules that stand alone already
live elsewhere (field formats in ``cairn_contract.field_rules``, rules across fields in
``domain/_cross_field.py``, reading the wire format in ``domain/wire.py``). Splitting the walk
would scatter one contract over files that must change together.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cairn_contract import field_rules as rules
from cairn_contract.event_types import (
    EVENT_TYPES,
    PROJECT_SCOPED_AGGREGATES,
    SUPPORTED_SCHEMA_VERSIONS,
    partition_key,
)
from cairn_contract.field_rules import aggregate_kind_name, fail
from cairn_contract.ids import UUID7_PATTERN
from cairn_contract.limits import Limits
from cairn_contract.v1 import envelope_pb2, events_pb2, metrics_pb2
from domain import _cross_field as cross_field
from domain.wire import field_slices


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a valid batch holds, for acks and metrics."""

    events: int
    points: int
    highest_sequence: int
    event_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One event ready for Kafka: type and schema version (headers), partition key, bytes."""

    event_type: str
    key: str
    data: bytes
    schema_version: int


@dataclass(slots=True)
class _Plan:
    """Per message type: required fields and the rule of each string field."""

    required: list[tuple[str, Callable[[Message], bool]]] = field(default_factory=list)
    strings: dict[str, rules.TextRule] = field(default_factory=dict)


class BatchValidator:
    """Checks batches against one set of :class:`Limits`. Stateless apart from caches."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._plans: dict[str, _Plan] = {}
        self._custom = cross_field.checks_for(self.limits)

    # -- entry points -------------------------------------------------------------------------

    def parse(self, data: bytes) -> events_pb2.EventBatch:
        """Decode wire bytes; oversize or undecodable input is a validation error."""
        if len(data) > self.limits.max_batch_bytes:
            fail("", "max_batch_bytes", self._over(len(data), self.limits.max_batch_bytes, "bytes"))
        batch = events_pb2.EventBatch()
        try:
            batch.ParseFromString(data)
        except Exception:  # DecodeError and friends: bad bytes must never crash ingest
            fail(
                "",
                "malformed_protobuf",
                "is not a valid cairn.v1.EventBatch (truncated or corrupt)",
            )
        return batch

    def check(self, batch: events_pb2.EventBatch, *, now_ns: int) -> BatchSummary:
        """Apply every rule except the serialized-size one (see :meth:`encode`)."""
        events = batch.events
        if not events:
            fail("events", "required", "a batch must contain at least one event")
        if len(events) > self.limits.max_events_per_batch:
            detail = self._over(len(events), self.limits.max_events_per_batch, "events")
            fail("events", "max_events_per_batch", detail)
        points = 0
        highest = 0
        last_sequence: dict[tuple[int, str], int] = {}
        types = []
        for i, event in enumerate(events):
            path = f"events[{i}]"
            event_type = self._check_envelope(event, path, now_ns)
            types.append(event_type)
            points += self._check_payload(event, event_type, path, now_ns)
            if points > self.limits.max_points_per_batch:
                detail = f"more than {self.limits.max_points_per_batch} metric points in the batch"
                fail("events", "max_points_per_batch", detail)
            envelope = event.envelope
            if envelope.sequence:
                aggregate = (envelope.aggregate_kind, envelope.aggregate_id)
                previous = last_sequence.get(aggregate)
                if previous is not None and envelope.sequence <= previous:
                    fail(
                        f"{path}.envelope.sequence",
                        "sequence_increasing",
                        f"{envelope.sequence} does not follow {previous} "
                        f"for aggregate {envelope.aggregate_id!r} in this batch",
                    )
                last_sequence[aggregate] = envelope.sequence
                highest = max(highest, envelope.sequence)
        return BatchSummary(len(events), points, highest, tuple(types))

    def encode(
        self,
        batch: events_pb2.EventBatch,
        *,
        received: bytes | None = None,
        stamp: Callable[[events_pb2.Event], bytes | None] | None = None,
    ) -> list[EncodedEvent]:
        """The bytes to store for each event of a checked batch, enforcing ``max_event_bytes``.

        Separate from :meth:`check` because ingest stamps server-owned envelope fields (actor,
        received time) between the two. With ``received`` (the bytes ``batch`` was parsed from)
        and ``stamp`` (what was stamped, serialized on its own:
        :func:`domain.write_authorization.stamp_bytes`), each event is kept as the bytes it
        arrived in followed by the stamp, which a parser merges into exactly the stamped event;
        nothing is re-encoded. Otherwise, or when ``stamp`` returns None, the event is
        serialized. The size rule applies to the bytes stored.
        """
        kept = _received_events(received, len(batch.events)) if stamp is not None else None
        encoded = []
        for i, event in enumerate(batch.events):
            suffix = stamp(event) if stamp is not None and kept is not None else None
            data = kept[i] + suffix if kept is not None and suffix is not None else None
            if data is None:
                data = event.SerializeToString()
            if len(data) > self.limits.max_event_bytes:
                detail = self._over(len(data), self.limits.max_event_bytes, "bytes serialized")
                fail(f"events[{i}]", "max_event_bytes", detail)
            event_type = event.WhichOneof("payload") or ""
            key = partition_key(event, event_type)
            encoded.append(EncodedEvent(event_type, key, data, event.envelope.schema_version))
        return encoded

    def check_slug(self, value: str, field: str) -> None:
        """Apply the team/project slug rule to a value outside any event (operator input)."""
        self._check_text(value, rules.SLUG, field, required=True)

    # -- envelope -------------------------------------------------------------------------------

    def _check_envelope(self, event: events_pb2.Event, path: str, now_ns: int) -> str:
        if not event.HasField("envelope"):
            fail(f"{path}.envelope", "required", "is required")
        env = event.envelope
        epath = f"{path}.envelope"
        if not env.event_id:
            fail(f"{epath}.event_id", "required", "is required")
        if not UUID7_PATTERN.fullmatch(env.event_id):
            fail(
                f"{epath}.event_id",
                "uuid7",
                f"{env.event_id[:80]!r} is not a UUIDv7 in canonical lowercase form",
            )
        if not env.schema_version:
            fail(f"{epath}.schema_version", "required", "is required")
        if env.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
            supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
            fail(
                f"{epath}.schema_version",
                "supported_schema_version",
                f"schema version {env.schema_version} is not supported (supported: {supported})",
            )
        kind_field = env.DESCRIPTOR.fields_by_name["aggregate_kind"]
        if not env.aggregate_kind:
            fail(f"{epath}.aggregate_kind", "required", "is required")
        self._check_enum(kind_field, env.aggregate_kind, f"{epath}.aggregate_kind")
        if not env.aggregate_id:
            fail(f"{epath}.aggregate_id", "required", "is required")
        # A rule's id is its name within the team: a slug, like a project's.
        id_rule = rules.SLUG if env.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RULE else rules.ID
        self._check_text(env.aggregate_id, id_rule, f"{epath}.aggregate_id")
        # A saved view's id is a UUIDv7 its writer made, so no one can claim a guessable id first.
        if env.aggregate_kind == envelope_pb2.AGGREGATE_KIND_VIEW and not UUID7_PATTERN.fullmatch(
            env.aggregate_id
        ):
            fail(f"{epath}.aggregate_id", "uuid7", "a saved view's id is a canonical UUIDv7")
        if not env.occurred_at_ns:
            fail(f"{epath}.occurred_at_ns", "required", "is required")
        self._check_time(env.occurred_at_ns, f"{epath}.occurred_at_ns", now_ns)
        if not env.team:
            fail(f"{epath}.team", "required", "is required")
        self._check_text(env.team, rules.SLUG, f"{epath}.team")
        if env.project:
            self._check_text(env.project, rules.SLUG, f"{epath}.project")
        elif env.aggregate_kind in PROJECT_SCOPED_AGGREGATES:
            kind = aggregate_kind_name(env.aggregate_kind)
            fail(f"{epath}.project", "required", f"is required for {kind} events")
        if env.HasField("actor"):
            self._walk(env.actor, f"{epath}.actor", now_ns)

        event_type = event.WhichOneof("payload")
        if event_type is None:
            fail(f"{path}.payload", "required", "is required (no event type is set)")
        spec = EVENT_TYPES[event_type]
        if env.aggregate_kind not in spec.aggregates:
            allowed = " or ".join(sorted(aggregate_kind_name(k) for k in spec.aggregates))
            fail(
                f"{epath}.aggregate_kind",
                "aggregate_kind",
                f"{event_type} events belong to {allowed}, "
                f"not {aggregate_kind_name(env.aggregate_kind)}",
            )
        scope = {
            envelope_pb2.AGGREGATE_KIND_TEAM: ("team", env.team),
            envelope_pb2.AGGREGATE_KIND_PROJECT: ("project", env.project),
        }.get(env.aggregate_kind)
        if scope is not None and env.aggregate_id != scope[1]:
            fail(
                f"{epath}.aggregate_id",
                "aggregate_matches_scope",
                f"{env.aggregate_id!r} must equal the envelope {scope[0]} {scope[1]!r}",
            )
        return event_type

    # -- payloads -------------------------------------------------------------------------------

    def _check_payload(self, event: events_pb2.Event, event_type: str, path: str, now: int) -> int:
        payload = getattr(event, event_type)
        ppath = f"{path}.{event_type}"
        if event_type == "metrics":
            return self._check_metric_batch(payload, ppath, now)
        if event_type == "system_metrics":
            return self._check_system_metric_batch(payload, ppath, now)
        if event_type == "histograms":
            self._check_histogram_batch(payload, ppath, now)
            return 0
        self._walk(payload, ppath, now)
        if event_type == "lineage_edge_recorded":
            cross_field.check_lineage_source(event, ppath)
        if event_type == "run_forked":
            cross_field.check_fork_parent(event, ppath)
        return 0

    def _check_metric_batch(self, batch: metrics_pb2.MetricBatch, path: str, now: int) -> int:
        series = batch.series
        lengths = self._series_lengths(series, path)
        for j, s in enumerate(series):
            self._check_text(s.key, rules.KEY, f"{path}.series[{j}].key", required=True)
            n = lengths[j]
            for name in ("steps", "timestamps_ns"):
                if len(getattr(s, name)) != n:
                    fail(
                        f"{path}.series[{j}].{name}",
                        "equal_lengths",
                        f"has {len(getattr(s, name))} items but values has {n}",
                    )
        steps = _gather(series, "steps", lengths)
        negative = np.flatnonzero(steps < 0)
        if negative.size:
            where, offset = self._locate(lengths, int(negative[0]))
            field_path = f"{path}.series[{where}].steps[{offset}]"
            detail = f"step must be >= 0, got {int(steps[negative[0]])}"
            fail(field_path, "non_negative_step", detail)
        self._check_times(series, lengths, path, now)
        return int(sum(lengths))

    def _check_system_metric_batch(
        self, batch: metrics_pb2.SystemMetricBatch, path: str, now: int
    ) -> int:
        series = batch.series
        lengths = self._series_lengths(series, path)
        metric_field = metrics_pb2.SystemMetricSeries.DESCRIPTOR.fields_by_name["metric"]
        for j, s in enumerate(series):
            spath = f"{path}.series[{j}]"
            if not s.metric:
                fail(f"{spath}.metric", "required", "is required")
            self._check_enum(metric_field, s.metric, f"{spath}.metric")
            if s.device:
                self._check_text(s.device, rules.ID, f"{spath}.device")
            if len(s.timestamps_ns) != lengths[j]:
                detail = f"has {len(s.timestamps_ns)} items but values has {lengths[j]}"
                fail(f"{spath}.timestamps_ns", "equal_lengths", detail)
        self._check_times(series, lengths, path, now)
        return int(sum(lengths))

    def _check_histogram_batch(
        self, batch: metrics_pb2.HistogramBatch, path: str, now: int
    ) -> None:
        histograms = batch.histograms
        if not histograms:
            fail(f"{path}.histograms", "required", "is required")
        limit = self.limits.max_histograms_per_event
        if len(histograms) > limit:
            detail = self._over(len(histograms), limit, "histograms")
            fail(f"{path}.histograms", "max_histograms_per_event", detail)
        for j, histogram in enumerate(histograms):
            hpath = f"{path}.histograms[{j}]"
            self._check_text(histogram.key, rules.KEY, f"{hpath}.key", required=True)
            if histogram.step < 0:
                detail = f"step must be >= 0, got {histogram.step}"
                fail(f"{hpath}.step", "non_negative_step", detail)
            if histogram.timestamp_ns:
                self._check_time(histogram.timestamp_ns, f"{hpath}.timestamp_ns", now)
            cross_field.check_bins(
                histogram.edges, histogram.counts, hpath, self.limits.max_bins_per_histogram
            )

    def _series_lengths(
        self, series: Sequence[metrics_pb2.MetricSeries | metrics_pb2.SystemMetricSeries], path: str
    ) -> list[int]:
        if not series:
            fail(f"{path}.series", "required", "is required")
        if len(series) > self.limits.max_series_per_event:
            detail = self._over(len(series), self.limits.max_series_per_event, "series")
            fail(f"{path}.series", "max_series_per_event", detail)
        lengths = [len(s.values) for s in series]
        for j, n in enumerate(lengths):
            if n == 0:
                fail(f"{path}.series[{j}].values", "required", "is required (no points)")
        total = sum(lengths)
        if total > self.limits.max_points_per_event:
            detail = self._over(total, self.limits.max_points_per_event, "metric points")
            fail(f"{path}.series", "max_points_per_event", detail)
        return lengths

    def _check_times(
        self,
        series: Sequence[metrics_pb2.MetricSeries | metrics_pb2.SystemMetricSeries],
        lengths: list[int],
        path: str,
        now: int,
    ) -> None:
        times = _gather(series, "timestamps_ns", lengths)
        low, high = self.limits.min_timestamp_ns, now + self.limits.max_clock_skew_ns
        outside = np.flatnonzero((times < low) | (times > high))
        if outside.size:
            where, offset = self._locate(lengths, int(outside[0]))
            value = int(times[outside[0]])
            self._check_time(value, f"{path}.series[{where}].timestamps_ns[{offset}]", now)

    @staticmethod
    def _locate(lengths: list[int], flat_index: int) -> tuple[int, int]:
        """Series index and offset within it of a position in the concatenated arrays."""
        ends = np.cumsum(lengths)
        where = int(np.searchsorted(ends, flat_index, side="right"))
        start = int(ends[where - 1]) if where else 0
        return where, flat_index - start

    # -- the generic walk over small messages ---------------------------------------------------

    def _walk(self, message: Message, path: str, now: int) -> None:
        descriptor = cast(Descriptor, message.DESCRIPTOR)
        plan = self._plan(descriptor)
        for name, is_set in plan.required:
            if not is_set(message):
                fail(f"{path}.{name}", "required", "is required")
        for fd, value in message.ListFields():
            fpath = f"{path}.{fd.name}"
            if fd.is_repeated:
                if len(value) > self.limits.max_items_per_list:
                    detail = self._over(len(value), self.limits.max_items_per_list, "items")
                    fail(fpath, "max_items", detail)
                for k, item in enumerate(value):
                    self._check_value(fd, item, f"{fpath}[{k}]", plan, now)
            else:
                self._check_value(fd, value, fpath, plan, now)
        custom = self._custom.get(descriptor.full_name)
        if custom is not None:
            custom(message, path)

    def _check_value(
        self, fd: FieldDescriptor, value: object, path: str, plan: _Plan, now: int
    ) -> None:
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            assert isinstance(value, Message)
            self._walk(value, path, now)
        elif fd.type == FieldDescriptor.TYPE_STRING:
            assert isinstance(value, str)
            self._check_text(value, plan.strings.get(fd.name, rules.TEXT), path)
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            assert isinstance(value, int)
            self._check_enum(fd, value, path)
        elif fd.name.endswith("_at_ns"):
            assert isinstance(value, int)
            if fd.name == "expires_at_ns":  # a future instant, bounded below only
                if value < self.limits.min_timestamp_ns:
                    self._check_time(value, path, now)
            else:
                self._check_time(value, path, now)

    def _plan(self, descriptor: Descriptor) -> _Plan:
        plan = self._plans.get(descriptor.full_name)
        if plan is None:
            plan = _Plan(strings=dict(rules.STRING_RULES.get(descriptor.full_name, {})))
            for name in rules.REQUIRED.get(descriptor.full_name, ()):
                plan.required.append((name, _presence_check(descriptor, name)))
            self._plans[descriptor.full_name] = plan
        return plan

    # -- single values --------------------------------------------------------------------------

    def _check_text(
        self, value: str, rule: rules.TextRule, path: str, *, required: bool = False
    ) -> None:
        if not value:
            if required:
                fail(path, "required", "is required")
            if rule.pattern is None:
                return
        limit = getattr(self.limits, rule.limit)
        if len(value) > limit:
            fail(path, "max_length", self._over(len(value), limit, "characters"))
        if rule.pattern is not None and not rule.pattern.fullmatch(value):
            fail(path, rule.format_rule, f"{value[:80]!r} is not valid: use {rule.describe}")
        if not rule.any_characters:
            bad = (rules.CONTROL_MULTILINE if rule.multiline else rules.CONTROL).search(value)
            if bad is not None:
                code = f"U+{ord(bad.group()):04X}"
                fail(path, "no_control_characters", f"contains the control character {code}")

    def _check_enum(self, fd: FieldDescriptor, value: int, path: str) -> None:
        enum_type = fd.enum_type
        assert enum_type is not None
        if value not in enum_type.values_by_number:
            fail(path, "known_enum", f"{value} is not a known {enum_type.full_name} value")

    def _check_time(self, value: int, path: str, now_ns: int) -> None:
        low, high = self.limits.min_timestamp_ns, now_ns + self.limits.max_clock_skew_ns
        if not low <= value <= high:
            hours = self.limits.max_clock_skew_ns / 3_600_000_000_000
            fail(
                path,
                "timestamp_range",
                f"{value} ns since the epoch is outside [{low}, now + {hours:g}h]",
            )

    @staticmethod
    def _over(count: int, limit: int, unit: str) -> str:
        return f"{count} {unit}, at most {limit} allowed"


def _gather(series: Sequence[Message], name: str, lengths: list[int]) -> npt.NDArray[np.int64]:
    """One packed int64 field of every series, concatenated into one array.

    Copying each series' field with ``np.asarray`` is fastest for long series; for many short
    ones the per-call overhead dominates and one ``np.fromiter`` over all of them wins.
    """
    total = sum(lengths)
    if len(series) == 1:
        return np.asarray(getattr(series[0], name), dtype=np.int64)
    if total < 32 * len(series):
        chained = itertools.chain.from_iterable(getattr(s, name) for s in series)
        return np.fromiter(chained, dtype=np.int64, count=total)
    return np.concatenate([np.asarray(getattr(s, name), dtype=np.int64) for s in series])


def _presence_check(descriptor: Descriptor, name: str) -> Callable[[Message], bool]:
    """How to tell that ``name`` (a field or a oneof) is set on a message of this type."""
    if name in descriptor.oneofs_by_name:
        return lambda m: m.WhichOneof(name) is not None
    fd = descriptor.fields_by_name[name]
    if fd.is_repeated:
        return lambda m: len(getattr(m, name)) > 0
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return lambda m: m.HasField(name)
    return lambda m: bool(getattr(m, name))


_EVENTS_FIELD = events_pb2.EventBatch.DESCRIPTOR.fields_by_name["events"].number


def _received_events(received: bytes | None, count: int) -> list[bytes] | None:
    """Each event's bytes within the batch bytes ``received``; None when they cannot be told
    apart (then the events are re-encoded)."""
    if received is None:
        return None
    try:
        found = field_slices(received, _EVENTS_FIELD)
    except ValueError:
        return None
    return found if len(found) == count else None
