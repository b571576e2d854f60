"""Packing buffered entries into events: exact content, one series per key, sizes within limits,
sequence and time order, and every event valid by the server's own rules."""

from __future__ import annotations

import math
import time

from cairn._buffer import Barrier, Entry, Payload, Series, SystemSample
from cairn._packing import EventFactory, Packer, Record
from cairn.v1 import events_pb2, metrics_pb2, runs_pb2
from domain.validation import BatchValidator
from tests.sdk.helpers import points

NOW = time.time_ns()


def decode(records: list[Record]) -> list[events_pb2.Event]:
    return [events_pb2.Event.FromString(r.data) for r in records]


def packer(**kwargs: int) -> Packer:
    return Packer(EventFactory("run-1", "vision", "churn", first_sequence=1), **kwargs)


def test_rows_with_the_same_keys_become_one_event_with_one_series_per_key() -> None:
    rows = [(s, NOW + s, {"loss": 1.0 / (s + 1), "acc": s / 10}) for s in range(10)]
    records, _ = packer().pack(rows)
    events = decode(records)
    assert len(events) == 1
    series = events[0].metrics.series
    assert [s.key for s in series] == ["loss", "acc"]
    assert list(series[0].steps) == list(range(10))
    assert list(series[0].values) == [1.0 / (s + 1) for s in range(10)]
    assert list(series[1].timestamps_ns) == [NOW + s for s in range(10)]


def test_rows_with_different_keys_are_merged_per_key() -> None:
    rows = [
        (0, NOW, {"loss": 1.0}),
        (1, NOW + 1, {"loss": 0.5, "val": 9.0}),
        (2, NOW + 2, {"loss": 0.25}),
    ]
    events = decode(packer().pack(rows)[0])
    assert len(events) == 1
    assert sorted(s.key for s in events[0].metrics.series) == ["loss", "val"]
    assert points(events) == {"loss": [(0, 1.0), (1, 0.5), (2, 0.25)], "val": [(1, 9.0)]}


def test_special_values_and_extreme_ints_are_kept_or_clamped_never_fatal() -> None:
    rows = [(0, NOW, {"a": math.nan, "b": math.inf, "c": -math.inf, "d": 3, "e": 10**400})]
    found = points(decode(packer().pack(rows)[0]))
    assert math.isnan(found["a"][0][1])
    assert (found["b"], found["c"], found["d"], found["e"]) == (
        [(0, math.inf)],
        [(0, -math.inf)],
        [(0, 3.0)],
        [(0, math.inf)],
    )


def test_events_are_cut_at_the_point_and_series_limits() -> None:
    rows = [(s, NOW, {f"k{i}": float(s) for i in range(10)}) for s in range(100)]
    events = decode(packer(max_points=250).pack(rows)[0])
    assert [sum(len(s.values) for s in e.metrics.series) for e in events] == [250] * 4
    wide = [(0, NOW, {f"k{i}": 1.0 for i in range(25)})]
    events = decode(packer(max_series=10).pack(wide)[0])
    assert [len(e.metrics.series) for e in events] == [10, 10, 5]


def test_sequences_increase_by_one_and_times_never_go_back() -> None:
    message = runs_pb2.TagsSet(tags=[runs_pb2.Tag(key="a", value="b")])
    entries: list[Entry] = [
        Payload("tags_set", message, NOW),
        (0, NOW + 50, {"loss": 1.0}),
        Payload("tags_set", message, NOW - 1_000_000),  # the wall clock stepped back
        (1, NOW - 2_000_000, {"loss": 1.0}),
    ]
    the_packer = Packer(EventFactory("run-1", "vision", "churn", first_sequence=7))
    events = decode(the_packer.pack(entries)[0])
    assert [e.envelope.sequence for e in events] == [7, 8, 9, 10]
    times = [e.envelope.occurred_at_ns for e in events]
    assert times == sorted(times)
    assert times[0] == NOW
    assert the_packer.factory.next_sequence == 11
    assert len({e.envelope.event_id for e in events}) == 4


def test_series_and_system_samples_pack_and_barriers_are_returned() -> None:
    barrier = Barrier()
    entries: list[Entry] = [
        Series("lr", list(range(5)), [0.1] * 5, [NOW] * 5),
        SystemSample(NOW, [(metrics_pb2.SYSTEM_METRIC_CPU_PERCENT, "", 12.5)]),
        SystemSample(NOW + 1, [(metrics_pb2.SYSTEM_METRIC_CPU_PERCENT, "", 13.5)]),
        SystemSample(NOW + 2, []),
        barrier,
    ]
    records, barriers = packer(max_points=3).pack(entries)
    events = decode(records)
    assert [e.WhichOneof("payload") for e in events] == ["metrics", "metrics", "system_metrics"]
    assert points(events) == {"lr": [(s, 0.1) for s in range(5)]}
    cpu = events[2].system_metrics.series[0]
    assert (list(cpu.values), list(cpu.timestamps_ns)) == ([12.5, 13.5], [NOW, NOW + 1])
    assert barriers == [barrier]


def test_every_packed_event_passes_the_servers_validation() -> None:
    entries: list[Entry] = [
        Payload("run_created", runs_pb2.RunCreated(name="baseline", started_at_ns=NOW), NOW),
        *[(s, NOW + s, {"train/loss": 0.5, "acc": 1.0}) for s in range(1000)],
        Series("lr", list(range(3)), [1e-3] * 3, [NOW] * 3),
        SystemSample(NOW, [(metrics_pb2.SYSTEM_METRIC_MEMORY_PERCENT, "", 50.0)]),
        Payload(
            "run_status_changed",
            runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED),
            NOW,
        ),
    ]
    batch = events_pb2.EventBatch(events=decode(packer().pack(entries)[0]), batch_id=1)
    summary = BatchValidator().check(batch, now_ns=time.time_ns())
    assert summary.points == 2000 + 3 + 1
    assert summary.highest_sequence == 5
