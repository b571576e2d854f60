"""The spool: crash-safe append, exact recovery after a torn write, acks that free disk, locking."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cairn._packing import Record
from cairn._spool import HEADER, Position, Spool, SpoolMeta, decode_records, encode_records
from cairn.config import FsyncPolicy
from cairn.errors import FailedPreconditionError, NotFoundError

META = SpoolMeta(run_id="run-1", team="vision", project="churn")


def records(first: int, count: int, size: int = 100) -> list[Record]:
    return [Record(s, bytes([s % 251]) * size) for s in range(first, first + count)]


def open_spool(directory: Path, **kwargs: object) -> Spool:
    return Spool.open(directory, META, **kwargs)  # type: ignore[arg-type]


def read_all(spool: Spool) -> list[Record]:
    found, _ = spool.read(spool.acked_position, 1 << 40, 1 << 30)
    return found


def test_records_round_trip_through_the_file_format() -> None:
    written = [*records(1, 5), Record(6, b"")]
    decoded, used = decode_records(encode_records(written))
    assert decoded == written
    assert used == sum(HEADER.size + len(r.data) for r in written)


def test_appended_records_are_read_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s", segment_bytes=1000)
    for first in range(1, 101, 10):
        spool.append(records(first, 10))
    assert len(list((tmp_path / "s").glob("*.seg"))) > 5
    assert read_all(spool) == records(1, 100)
    assert spool.last_sequence == 100
    assert spool.pending
    spool.close()


def test_read_respects_byte_and_record_budgets_but_returns_at_least_one(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s")
    spool.append(records(1, 10, size=500))
    got, position = spool.read(spool.acked_position, 10, 100)
    assert [r.sequence for r in got] == [1]
    got, position = spool.read(position, 1200, 100)
    assert [r.sequence for r in got] == [2, 3]
    got, _ = spool.read(position, 1 << 20, 4)
    assert [r.sequence for r in got] == [4, 5, 6, 7]
    spool.close()


def test_a_torn_last_record_is_dropped_and_everything_before_it_survives(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s")
    spool.append(records(1, 20))
    spool.close()
    segment = next((tmp_path / "s").glob("*.seg"))
    intact = segment.stat().st_size
    with segment.open("ab") as handle:  # what a SIGKILL in the middle of a write leaves
        handle.write(encode_records(records(21, 1))[:-37])

    reopened = Spool.open(tmp_path / "s")
    assert read_all(reopened) == records(1, 20)
    assert reopened.last_sequence == 20
    assert segment.stat().st_size == intact
    reopened.append(records(21, 5))
    assert read_all(reopened) == records(1, 25)
    reopened.close()


def test_zeroed_or_corrupt_tails_are_detected_by_the_checksum(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s")
    spool.append(records(1, 3))
    spool.close()
    segment = next((tmp_path / "s").glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[-5] ^= 0xFF  # flip a bit in the last record's payload
    segment.write_bytes(bytes(data) + b"\0" * 4096)  # and a zero-filled tail (power loss)

    reopened = Spool.open(tmp_path / "s")
    assert [r.sequence for r in read_all(reopened)] == [1, 2]
    reopened.close()


def test_acks_move_the_watermark_and_delete_fully_acknowledged_segments(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s", segment_bytes=1000)
    for first in range(1, 61, 10):
        spool.append(records(first, 10))
    segments_before = len(list((tmp_path / "s").glob("*.seg")))
    got, position = spool.read(spool.acked_position, 1 << 40, 45)
    spool.ack(got[-1].sequence, position)

    assert spool.acked_sequence == 45
    assert len(list((tmp_path / "s").glob("*.seg"))) < segments_before
    assert [r.sequence for r in read_all(spool)] == list(range(46, 61))
    spool.close()

    reopened = Spool.open(tmp_path / "s")
    assert reopened.acked_sequence == 45
    assert [r.sequence for r in read_all(reopened)] == list(range(46, 61))
    reopened.close()


def test_a_delivered_spool_is_removed_on_close_and_an_undelivered_one_kept(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "kept")
    spool.append(records(1, 3))
    assert spool.close(remove_if_delivered=True) is False
    assert (tmp_path / "kept" / "meta.json").exists()

    spool = open_spool(tmp_path / "gone")
    spool.append(records(1, 3))
    _got, position = spool.read(spool.acked_position, 1 << 20, 100)
    spool.ack(3, position)
    assert spool.close(remove_if_delivered=True) is True
    assert not (tmp_path / "gone").exists()


def test_bytes_after_counts_what_is_left_to_send(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s", segment_bytes=500)
    spool.append(records(1, 10, size=100))
    total = 10 * (HEADER.size + 100)
    assert spool.bytes_after(spool.acked_position) == total
    _, position = spool.read(spool.acked_position, 1 << 20, 4)
    assert spool.bytes_after(position) == 6 * (HEADER.size + 100)
    assert spool.bytes_after(Position(1 << 60, 0)) == 0
    spool.close()


def test_the_spool_reports_full_at_its_bound(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s", max_bytes=2000)
    spool.append(records(1, 10, size=100))
    assert not spool.full
    spool.append(records(11, 10, size=100))
    assert spool.full
    spool.close()


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_every_fsync_policy_writes_the_same_records(tmp_path: Path, policy: FsyncPolicy) -> None:
    spool = open_spool(tmp_path / "s", fsync=policy)
    spool.append(records(1, 5))
    spool.maintain()
    spool.close()
    reopened = Spool.open(tmp_path / "s")
    assert read_all(reopened) == records(1, 5)
    reopened.close()


def test_a_spool_is_locked_against_a_second_opener_in_this_process(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "s")
    with pytest.raises(FailedPreconditionError) as caught:
        open_spool(tmp_path / "s")
    assert caught.value.rule == "spool_locked"
    assert "in use by another process" in str(caught.value)
    spool.close()
    open_spool(tmp_path / "s").close()


def test_a_spool_is_locked_against_another_process_until_it_dies(tmp_path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from cairn._spool import Spool, SpoolMeta
        spool = Spool.open(Path({str(tmp_path / "s")!r}), SpoolMeta("run-1", "vision", "churn"))
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        with pytest.raises(FailedPreconditionError, match=r"in use by another process \(pid "):
            Spool.open(tmp_path / "s")
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    Spool.open(tmp_path / "s").close()  # the kernel released the dead holder's lock


def test_opening_a_missing_spool_for_delivery_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        Spool.open(tmp_path / "nothing")
