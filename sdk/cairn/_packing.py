"""Turning buffered entries into serialized, sequenced run events.

Runs in the sender thread only, so numbering needs no lock. Every event of a run gets the next
``sequence`` (strictly increasing; docs/sdk.md says where it starts), a fresh UUIDv7
``event_id`` and an ``occurred_at_ns`` that never goes backwards even if the wall clock does.

Metric rows are packed column-wise: when rows log the same keys (the usual case) they share one
encoding of their steps and timestamps, each key's values are read with a C-level ``map`` and
packed with ``struct``, and each key becomes one ``MetricSeries``. Rows with different keys in
the same stretch are merged per key, so an event never holds two series for one key. An event holds at most ``max_points``
points and ``max_series`` series, comfortably inside the server's per-event limits. Events are
assembled from framed bytes (``cairn._wire``) rather than by copying messages into an ``Event``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter

from cairn import _wire
from cairn._buffer import Barrier, Entry, MetricRow, Payload, Series, SystemSample
from cairn._ids import uuid7
from cairn_contract.envelopes import SCHEMA_VERSION
from cairn_contract.v1 import envelope_pb2, events_pb2, metrics_pb2

DEFAULT_MAX_POINTS = 20_000  # server limit: 100,000 per event
DEFAULT_MAX_SERIES = 5_000  # server limit: 10,000 per event
_FIELD_NUMBERS = {f.name: f.number for f in events_pb2.Event.DESCRIPTOR.fields}
_EVENT_ENVELOPE = _wire.field_number(events_pb2.Event, "envelope")
_SERIES_KEY = _wire.field_number(metrics_pb2.MetricSeries, "key")
_SERIES_VALUES = _wire.field_number(metrics_pb2.MetricSeries, "values")
_BATCH_SERIES = _wire.field_number(metrics_pb2.MetricBatch, "series")


@dataclass(frozen=True, slots=True)
class Record:
    """One serialized event as the spool stores it."""

    sequence: int
    data: bytes


class EventFactory:
    """Wraps payloads in envelopes for one run."""

    def __init__(self, run_id: str, team: str, project: str, first_sequence: int) -> None:
        self._template = envelope_pb2.Envelope(
            schema_version=SCHEMA_VERSION,  # what this SDK writes: the contract's current version
            aggregate_kind=envelope_pb2.AGGREGATE_KIND_RUN,
            aggregate_id=run_id,
            team=team,
            project=project,
        )
        self.next_sequence = first_sequence
        self._last_time = 0

    def seal(self, payload_field: str, payload: bytes, occurred_at_ns: int) -> Record:
        """The event with ``payload`` (serialized) as its ``payload_field``."""
        when = max(occurred_at_ns, self._last_time)
        self._last_time = when
        sequence = self.next_sequence
        self.next_sequence += 1
        envelope = envelope_pb2.Envelope()
        envelope.CopyFrom(self._template)
        envelope.event_id = uuid7(when)
        envelope.sequence = sequence
        envelope.occurred_at_ns = when
        data = _wire.frame(_EVENT_ENVELOPE, envelope.SerializeToString()) + _wire.frame(
            _FIELD_NUMBERS[payload_field], payload
        )
        return Record(sequence, data)


def _doubles(values: Sequence[float]) -> bytes:
    try:
        return _wire.packed_doubles(values)
    except (struct.error, OverflowError, TypeError):
        return _wire.packed_doubles([_safe_float(v) for v in values])


def _safe_float(value: object) -> float:
    """Values that passed the call-site checks but do not pack (an int beyond float range)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return -math.inf if value < 0 else math.inf  # type: ignore[operator]
    except (TypeError, ValueError):
        return math.nan


def _series(key: str, shared: bytes, values: Sequence[float]) -> bytes:
    """One MetricSeries: key and values, plus the already encoded steps and times."""
    return (
        _wire.frame(_SERIES_KEY, key.encode())
        + shared
        + _wire.frame(_SERIES_VALUES, _doubles(values))
    )


def _steps_and_times(steps: list[int], times: list[int]) -> bytes:
    scratch = metrics_pb2.MetricSeries()
    scratch.steps.extend(steps)
    scratch.timestamps_ns.extend(times)
    return scratch.SerializeToString()


def _same_keys(rows: list[MetricRow]) -> list[bytes] | None:
    """The common case, every row logging the same keys: columns are read with one C-level
    ``map(itemgetter(key), ...)`` per key. None when the rows' keys differ."""
    dicts = [row[2] for row in rows]
    keys = tuple(dicts[0])
    if set(map(len, dicts)) != {len(keys)}:
        return None
    try:
        columns = [list(map(itemgetter(key), dicts)) for key in keys]
    except KeyError:
        return None
    shared = _steps_and_times([row[0] for row in rows], [row[1] for row in rows])
    return [_series(key, shared, column) for key, column in zip(keys, columns, strict=True)]


def _merged(rows: list[MetricRow]) -> list[bytes]:
    """Rows with differing keys: one series per key, with that key's own steps and times."""
    merged: dict[str, tuple[list[int], list[float], list[int]]] = {}
    for step, stamp, values in rows:
        for key, value in values.items():
            found = merged.get(key)
            if found is None:
                merged[key] = ([step], [value], [stamp])
            else:
                found[0].append(step)
                found[1].append(value)
                found[2].append(stamp)
    return [_series(k, _steps_and_times(s, t), v) for k, (s, v, t) in merged.items()]


class Packer:
    def __init__(
        self,
        factory: EventFactory,
        *,
        max_points: int = DEFAULT_MAX_POINTS,
        max_series: int = DEFAULT_MAX_SERIES,
    ) -> None:
        self.factory = factory
        self.max_points = max_points
        self.max_series = max_series

    def pack(self, entries: Iterable[Entry]) -> tuple[list[Record], list[Barrier]]:
        """Records for ``entries`` in order, and the barriers met along the way (to release once
        the records are on the spool)."""
        records: list[Record] = []
        barriers: list[Barrier] = []
        rows: list[MetricRow] = []
        samples: list[SystemSample] = []
        points = 0
        for entry in entries:
            if type(entry) is tuple:
                rows.append(entry)
                points += len(entry[2])
                if points >= self.max_points:
                    records.extend(self._metrics(rows))
                    rows, points = [], 0
                continue
            if rows:
                records.extend(self._metrics(rows))
                rows, points = [], 0
            if type(entry) is SystemSample:
                samples.append(entry)
                continue
            if samples:
                records.extend(self._system(samples))
                samples = []
            if type(entry) is Series:
                records.extend(self._whole_series(entry))
            elif type(entry) is Payload:
                payload = entry.message.SerializeToString()
                records.append(self.factory.seal(entry.field, payload, entry.occurred_at_ns))
            elif type(entry) is Barrier:
                barriers.append(entry)
        if rows:
            records.extend(self._metrics(rows))
        if samples:
            records.extend(self._system(samples))
        return records, barriers

    def _metrics(self, rows: list[MetricRow]) -> Iterator[Record]:
        series = _same_keys(rows)
        if series is None:
            series = _merged(rows)
        latest = max(row[1] for row in rows)
        for start in range(0, len(series), self.max_series):
            chunk = series[start : start + self.max_series]
            batch = b"".join(_wire.frame(_BATCH_SERIES, s) for s in chunk)
            yield self.factory.seal("metrics", batch, latest)

    def _whole_series(self, entry: Series) -> Iterator[Record]:
        for start in range(0, len(entry.steps), self.max_points):
            end = start + self.max_points
            times = entry.timestamps_ns[start:end]
            shared = _steps_and_times(entry.steps[start:end], times)
            one = _series(entry.key, shared, entry.values[start:end])
            yield self.factory.seal("metrics", _wire.frame(_BATCH_SERIES, one), max(times))

    def _system(self, samples: list[SystemSample]) -> Iterator[Record]:
        merged: dict[tuple[int, str], tuple[list[int], list[float]]] = {}
        for sample in samples:
            for metric, device, value in sample.values:
                times, values = merged.setdefault((metric, device), ([], []))
                times.append(sample.timestamp_ns)
                values.append(value)
        if not merged:
            return
        batch = metrics_pb2.SystemMetricBatch()
        for (metric, device), (times, values) in merged.items():
            series = batch.series.add(device=device, timestamps_ns=times, values=values)
            series.metric = metric  # type: ignore[assignment]
        yield self.factory.seal(
            "system_metrics", batch.SerializeToString(), samples[-1].timestamp_ns
        )
