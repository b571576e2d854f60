"""Delivery from the spool over a stream (the in-memory FakeIngest): acks free the spool, failures
resend from the watermark, rejections are kept apart, authentication failures stop sending."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cairn._delivery import AUTH_RETRY_S, Delivery
from cairn._packing import EventFactory, Packer
from cairn._spool import Spool, SpoolMeta, decode_records
from cairn._transport import Rejection
from cairn.v1 import events_pb2
from tests.sdk.helpers import FakeIngest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spool_with(tmp_path: Path, events: int) -> Spool:
    spool = Spool.open(tmp_path / "spool", SpoolMeta("run-1", "vision", "churn"))
    the_packer = Packer(EventFactory("run-1", "vision", "churn", 1), max_points=10)
    rows = [(s, 1_800_000_000_000_000_000 + s, {"loss": float(s)}) for s in range(events * 10)]
    records, _ = the_packer.pack(rows)
    assert len(records) == events
    spool.append(records)
    return spool


def delivery(
    spool: Spool, ingest: FakeIngest, clock: Clock, tmp_path: Path, **kwargs: int
) -> Delivery:
    options = {"send_interval_s": 0.0, "max_batch_events": 5, "window": 3, **kwargs}
    return Delivery(
        spool,
        ingest,
        rejected_dir=tmp_path / "rejected",
        wake=lambda: None,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def test_everything_is_sent_once_acked_and_the_spool_emptied(tmp_path: Path) -> None:
    spool, ingest, clock = spool_with(tmp_path, 23), FakeIngest(), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    for _ in range(10):
        sender.pump()
    assert sender.done
    assert sender.delivered_events == 23
    assert [len(b.events) for b in ingest.batches] == [5, 5, 5, 5, 3]
    assert [b.batch_id for b in ingest.batches] == [1, 2, 3, 4, 5]
    sequences = [e.envelope.sequence for e in ingest.events()]
    assert sequences == list(range(1, 24))
    assert spool.close(remove_if_delivered=True)


def test_no_more_than_the_window_is_in_flight(tmp_path: Path) -> None:
    spool, ingest, clock = spool_with(tmp_path, 40), FakeIngest(hold=True), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    sender.pump()
    sender.pump()
    stream = ingest.streams[0]
    assert len(stream.held) == 3
    assert spool.acked_sequence == 0
    stream.release()
    sender.pump()
    assert spool.acked_sequence == 15
    assert len(stream.held) == 3
    spool.close()


def test_a_cut_stream_is_resent_from_the_watermark_after_a_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool, ingest, clock = spool_with(tmp_path, 20), FakeIngest(cut_after=2), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        sender.pump()
        sender.pump()
    assert spool.acked_sequence == 10
    assert sender.outage is not None
    assert "the server went away" in sender.outage
    assert "cannot deliver to ingest at fake-ingest:1" in caplog.text

    sender.pump()
    assert len(ingest.streams) == 1, "no reconnect before the backoff is over"
    ingest.cut_after = None
    clock.now += 10
    for _ in range(5):
        sender.pump()
    assert sender.done
    assert sender.outage is None
    assert [e.envelope.sequence for e in ingest.events()] == list(range(1, 21))
    assert len(set(ingest.event_ids())) == 20
    spool.close()


def test_a_server_that_is_down_leaves_everything_in_the_spool(tmp_path: Path) -> None:
    spool, ingest, clock = spool_with(tmp_path, 5), FakeIngest(down=True), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    for _ in range(6):
        sender.pump()
        clock.now += 60
    assert len(ingest.streams) == 3
    assert not ingest.batches
    assert sender.pending_events == 5
    assert not sender.done
    ingest.down = False
    clock.now += 60
    sender.pump()
    sender.pump()
    assert sender.done
    spool.close()


def test_a_rejected_batch_is_moved_aside_with_the_reason_and_the_rest_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def reject_second(batch: events_pb2.EventBatch) -> Rejection | None:
        if batch.batch_id != 2:
            return None
        return Rejection("invalid_argument", "events[0]: bad (rule x)", "events[0]", "x")

    spool, ingest, clock = spool_with(tmp_path, 12), FakeIngest(reject=reject_second), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    with caplog.at_level(logging.ERROR, logger="cairn"):
        for _ in range(5):
            sender.pump()
    assert sender.done
    assert sender.rejected_events == 5
    assert sender.delivered_events == 7
    assert [e.envelope.sequence for e in ingest.events()] == [1, 2, 3, 4, 5, 11, 12]
    kept = tmp_path / "rejected" / "run-1-6-10.spool"
    assert [r.sequence for r in decode_records(kept.read_bytes())[0]] == [6, 7, 8, 9, 10]
    reason = json.loads((tmp_path / "rejected" / "run-1-6-10.json").read_text())
    assert reason["rule"] == "x"
    assert reason["reason"] == "invalid_argument"
    assert "ingest rejected 5 events of run run-1: events[0]: bad (rule x)" in caplog.text
    spool.close()


def test_an_authentication_rejection_stops_sending_and_keeps_the_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def unauthenticated(batch: events_pb2.EventBatch) -> Rejection:
        return Rejection("unauthenticated", "unknown API key")

    spool, ingest, clock = spool_with(tmp_path, 8), FakeIngest(reject=unauthenticated), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    with caplog.at_level(logging.ERROR, logger="cairn"):
        for _ in range(3):
            sender.pump()
    assert spool.acked_sequence == 0
    assert len(ingest.streams) == 1
    assert "refused run run-1 (unauthenticated: unknown API key)" in caplog.text
    assert not list((tmp_path / "rejected").glob("*"))

    ingest.reject = None
    clock.now += AUTH_RETRY_S + 1
    for _ in range(4):
        sender.pump()
    assert sender.done
    assert len(ingest.events()) == 8
    spool.close()


def test_a_transient_rejection_is_retried(tmp_path: Path) -> None:
    calls = {"n": 0}

    def kafka_down_once(batch: events_pb2.EventBatch) -> Rejection | None:
        calls["n"] += 1
        return Rejection("unavailable", "Kafka did not acknowledge") if calls["n"] == 1 else None

    spool, ingest, clock = spool_with(tmp_path, 4), FakeIngest(reject=kafka_down_once), Clock()
    sender = delivery(spool, ingest, clock, tmp_path)
    sender.pump()
    sender.pump()
    clock.now += 10
    for _ in range(3):
        sender.pump()
    assert sender.done
    assert [e.envelope.sequence for e in ingest.events()] == [1, 2, 3, 4]
    spool.close()


def test_small_amounts_wait_for_the_send_interval_unless_flushed(tmp_path: Path) -> None:
    spool, ingest, clock = spool_with(tmp_path, 2), FakeIngest(), Clock()
    sender = delivery(spool, ingest, clock, tmp_path, send_interval_s=1)
    sender.pump()
    assert len(ingest.batches) == 1
    spool.append(
        Packer(EventFactory("run-1", "vision", "churn", 3)).pack(
            [(0, 1_800_000_000_000_000_000, {"a": 1.0})]
        )[0]
    )
    sender.pump()
    assert len(ingest.batches) == 1
    sender.pump(flush=True)
    assert len(ingest.batches) == 2
    spool.close()
