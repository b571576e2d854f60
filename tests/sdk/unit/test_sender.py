"""The background sender: a disk that refuses writes delays records, it never loses them."""

from __future__ import annotations

import errno
import logging
import threading
from pathlib import Path

import pytest

import cairn
from cairn._buffer import Barrier, Buffer
from cairn._packing import EventFactory, Packer, Record
from cairn._sender import Sender
from cairn._spool import Spool, SpoolMeta
from tests.sdk.helpers import offline_settings, points, spooled_events


class FlakySpool(Spool):
    failures = 0

    def append(self, records: list[Record]) -> None:  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        super().append(records)


def test_records_the_disk_refused_are_written_in_order_once_it_accepts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = FlakySpool.open(tmp_path / "s", SpoolMeta("run-1", "vision", "churn"))
    assert isinstance(spool, FlakySpool)
    buffer = Buffer(max_points=100_000)
    sender = Sender(
        buffer,
        Packer(EventFactory("run-1", "vision", "churn", 1)),
        spool,
        None,
        flush_interval_s=0.01,
        name="test-sender",
        wake=threading.Event(),
    )
    spool.failures = 2
    barrier = Barrier()
    buffer.put((0, 1_800_000_000_000_000_000, {"loss": 1.0}))
    buffer.put(barrier)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        for step in (1, 2):
            with pytest.raises(OSError, match="No space left"):
                sender.cycle()
            buffer.put((step, 1_800_000_000_000_000_000, {"loss": 2.0}))
        assert not barrier.done.is_set(), "flush() must not claim what is not on disk"
        sender.cycle()
        sender.cycle()
    assert barrier.done.is_set()
    events = spooled_events(tmp_path / "s")
    assert [e.envelope.sequence for e in events] == [1, 2]
    assert points(events)["loss"] == [(0, 1.0), (1, 2.0), (2, 2.0)]
    spool.close()


def test_a_loop_faster_than_the_sender_keeps_its_backlog_bounded_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """The sender thread never wakes on its own here (an hour between cycles), so every point
    that reaches the spool before finish() was written by run.log relieving the buffer."""
    settings = offline_settings(tmp_path, flush_interval_s=3600.0, buffer_max_points=1_000)
    keys = ("loss", "acc", "lr", "grad_norm", "tokens")
    most = 0
    with cairn.init(settings=settings) as run:
        backlog = run._parts.buffer.entries
        for step in range(20_000):
            run.log(dict.fromkeys(keys, step * 0.5), step=step)
            most = max(most, len(backlog) * len(keys))
        assert run.spool_dir is not None
        on_disk = points(spooled_events(run.spool_dir))
        assert len(on_disk["loss"]) >= 19_000, "the backlog was written while the loop ran"
        spool_dir = run.spool_dir
    assert most <= 1_000 + len(keys)
    found = points(spooled_events(spool_dir))
    assert sorted(found) == sorted(keys)
    for key in keys:
        assert found[key] == [(step, step * 0.5) for step in range(20_000)], key
