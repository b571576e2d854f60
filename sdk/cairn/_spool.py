"""A run's write-ahead spool: every event is on disk before it is sent, and stays until acked.

Layout of ``<CAIRN_DIR>/spool/<run id>/``:

- ``lock``: held with ``flock`` by the one process writing or delivering the spool, so concurrent
  runs, ``cairn sync`` and the next run's sweep never touch a live spool. The kernel drops the lock
  when the holder dies, however it dies.
- ``meta.json``: run id, team, project, mode; what ``cairn sync`` needs to know about the run.
- ``<first sequence>.seg``: append-only segments of records
  ``[u32 length][u32 crc32][u64 sequence][serialized cairn.v1.Event]`` (little-endian; the CRC
  covers sequence and payload). A new segment starts once one passes ``segment_bytes``.
- ``acked``: the highest sequence the server acknowledged (the watermark). Segments wholly at or
  below it are deleted. It is written without fsync: losing it only means resending, and event
  ids make a resent event harmless.

Recovery on open reads every segment and stops at the first record that is short or fails its
CRC: after a SIGKILL or power cut that is a torn last write, and cutting the file there drops
exactly the partial record and nothing before it. A process crash loses nothing ``append``
returned from (the bytes are in the kernel); ``fsync`` policy only matters for power loss.

Not thread-safe: one spool is used by one thread (the run's sender, or a sync).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cairn._packing import Record
from cairn.config import FsyncPolicy, Mode
from cairn.errors import FailedPreconditionError, NotFoundError

log = logging.getLogger("cairn")

HEADER = struct.Struct("<IIQ")
_SEQUENCE = struct.Struct("<Q")
SUFFIX = ".seg"
META = "meta.json"
ACKED = "acked"
LOCK = "lock"
FSYNC_INTERVAL_S = 1.0
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a length above this is corruption, not an event


@dataclass(frozen=True, slots=True)
class SpoolMeta:
    run_id: str
    team: str
    project: str
    mode: str = Mode.ONLINE.value
    created_at_ns: int = 0
    host: str = ""
    format: int = 1

    @classmethod
    def read(cls, directory: Path) -> SpoolMeta:
        try:
            raw = json.loads((directory / META).read_text())
        except FileNotFoundError:
            raise NotFoundError(f"{directory} holds no spooled run", field="spool") from None
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})

    def write(self, directory: Path) -> None:
        _write_atomic(directory / META, json.dumps(asdict(self), indent=1).encode())


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where the next record starts: the segment (named by its first sequence) and the offset."""

    segment: int
    offset: int


def _checksum(sequence: int, data: bytes) -> int:
    return zlib.crc32(data, zlib.crc32(_SEQUENCE.pack(sequence)))


def encode_records(records: Sequence[Record]) -> bytes:
    pack = HEADER.pack
    return b"".join(
        pack(len(r.data), _checksum(r.sequence, r.data), r.sequence) + r.data for r in records
    )


def decode_records(data: bytes | memoryview) -> tuple[list[Record], int]:
    """The whole, valid records at the start of ``data`` and how many bytes they span."""
    records: list[Record] = []
    offset, size = 0, len(data)
    while offset + HEADER.size <= size:
        length, crc, sequence = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if length > MAX_RECORD_BYTES or end > size:
            break
        payload = bytes(data[offset + HEADER.size : end])
        if _checksum(sequence, payload) != crc:
            break
        records.append(Record(sequence, payload))
        offset = end
    return records, offset


class Spool:
    """Use :meth:`open`; close with :meth:`close` (which also releases the lock)."""

    def __init__(
        self,
        directory: Path,
        meta: SpoolMeta,
        lock_fd: int,
        *,
        fsync: FsyncPolicy,
        max_bytes: int,
        segment_bytes: int,
    ) -> None:
        self.directory = directory
        self.meta = meta
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock_fd = lock_fd
        self._sizes: dict[int, int] = {}  # segment -> bytes of valid records
        self._active_fd: int | None = None
        self._read_fds: dict[int, int] = {}
        self._unsynced = False
        self._last_sync = time.monotonic()
        self.acked_sequence = 0
        self.last_sequence = 0
        self.acked_position = Position(0, 0)
        self.closed = False

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path,
        meta: SpoolMeta | None = None,
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        max_bytes: int = 1 << 30,
        segment_bytes: int | None = None,
    ) -> Spool:
        """Lock and recover the spool in ``directory``. With ``meta``, create or adopt it (and
        record ``meta``); without, it must exist (``cairn sync``). Raises
        FailedPreconditionError when another process holds it."""
        if meta is not None:
            directory.mkdir(parents=True, exist_ok=True)
        elif not (directory / META).exists():
            raise NotFoundError(f"{directory} holds no spooled run", field="spool")
        lock_fd = _lock(directory)
        try:
            if meta is None:
                meta = SpoolMeta.read(directory)
            else:
                meta.write(directory)
            size = segment_bytes or max(64 * 1024, min(8 << 20, max_bytes // 8))
            spool = cls(
                directory, meta, lock_fd, fsync=fsync, max_bytes=max_bytes, segment_bytes=size
            )
            spool._recover()
        except BaseException:
            os.close(lock_fd)
            raise
        return spool

    def _recover(self) -> None:
        segments = sorted(int(p.name[: -len(SUFFIX)]) for p in self.directory.glob(f"*{SUFFIX}"))
        self.acked_sequence = self.last_sequence = _read_int(self.directory / ACKED)
        acked_position: Position | None = None
        for segment in segments:
            path = self._path(segment)
            data = path.read_bytes()
            records, valid = decode_records(data)
            if valid < len(data):
                log.warning(
                    "cairn: dropped %d bytes of a torn or corrupt record at the end of %s",
                    len(data) - valid,
                    path,
                )
                with path.open("r+b") as handle:
                    handle.truncate(valid)
            self._sizes[segment] = valid
            offset = 0
            for record in records:
                if acked_position is None and record.sequence > self.acked_sequence:
                    acked_position = Position(segment, offset)
                offset += HEADER.size + len(record.data)
            if records:
                self.last_sequence = max(self.last_sequence, records[-1].sequence)
        if acked_position is None:
            last = segments[-1] if segments else 0
            acked_position = Position(last, self._sizes.get(last, 0))
        self.acked_position = acked_position
        self._delete_before(acked_position.segment)

    # -- writing ---------------------------------------------------------------------------------

    @property
    def bytes_on_disk(self) -> int:
        return sum(self._sizes.values())

    @property
    def full(self) -> bool:
        return self.bytes_on_disk >= self.max_bytes

    @property
    def pending(self) -> bool:
        return self.last_sequence > self.acked_sequence

    def bytes_after(self, position: Position) -> int:
        """Bytes of records from ``position`` to the end of the spool."""
        return sum(
            size - (position.offset if segment == position.segment else 0)
            for segment, size in self._sizes.items()
            if segment >= position.segment
        )

    def append(self, records: Sequence[Record]) -> None:
        """Write ``records`` (in sequence order) with one ``write`` call."""
        if not records:
            return
        active = max(self._sizes) if self._sizes else None
        if active is None or self._sizes[active] >= self.segment_bytes:
            active = self._start_segment(records[0].sequence)
        fd = self._active_fd
        if fd is None:
            fd = self._active_fd = os.open(self._path(active), os.O_WRONLY | os.O_APPEND)
        data = encode_records(records)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self._sizes[active] += len(data)
        self.last_sequence = records[-1].sequence
        self._unsynced = True
        if self.fsync is FsyncPolicy.ALWAYS:
            self.sync()
        else:
            self.maintain()

    def maintain(self) -> None:
        """Apply the interval fsync policy; the sender calls it every cycle."""
        if (
            self.fsync is FsyncPolicy.INTERVAL
            and self._unsynced
            and time.monotonic() - self._last_sync >= FSYNC_INTERVAL_S
        ):
            self.sync()

    def sync(self) -> None:
        if self._active_fd is not None and self._unsynced:
            os.fsync(self._active_fd)
        self._unsynced = False
        self._last_sync = time.monotonic()

    def _start_segment(self, first_sequence: int) -> int:
        if self._active_fd is not None:
            if self.fsync is not FsyncPolicy.NEVER:
                self.sync()
            os.close(self._active_fd)
            self._active_fd = None
        fd = os.open(self._path(first_sequence), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.close(fd)
        if self.fsync is FsyncPolicy.ALWAYS:
            _fsync_dir(self.directory)
        self._sizes[first_sequence] = 0
        if not self.pending:
            self.acked_position = Position(first_sequence, 0)
            self._delete_before(first_sequence)
        return first_sequence

    # -- reading and acknowledging ----------------------------------------------------------------

    def read(
        self, position: Position, max_bytes: int, max_records: int
    ) -> tuple[list[Record], Position]:
        """Whole records from ``position`` on, at least one if any remain, then as many as fit in
        ``max_bytes`` and ``max_records``; and the position after them."""
        records: list[Record] = []
        total = 0
        while len(records) < max_records and total < max_bytes:
            position = self._skip_finished_segment(position)
            size = self._sizes.get(position.segment, 0)
            if position.offset >= size:
                break
            fd = self._read_fd(position.segment)
            chunk = os.pread(fd, min(size - position.offset, max_bytes - total), position.offset)
            got, used = decode_records(chunk)
            if not got:
                if records:
                    break  # the next record does not fit the budget; it leads the next read
                length = HEADER.unpack_from(os.pread(fd, HEADER.size, position.offset))[0]
                got, used = decode_records(os.pread(fd, HEADER.size + length, position.offset))
                if not got:
                    raise FailedPreconditionError(
                        f"spool {self.directory} is corrupt at {position}"
                    )
            if len(got) > max_records - len(records):
                got = got[: max_records - len(records)]
                used = sum(HEADER.size + len(r.data) for r in got)
            records.extend(got)
            total += used
            position = Position(position.segment, position.offset + used)
        return records, position

    def _skip_finished_segment(self, position: Position) -> Position:
        if position.offset < self._sizes.get(position.segment, 0):
            return position
        later = [s for s in self._sizes if s > position.segment]
        return Position(min(later), 0) if later else position

    def ack(self, sequence: int, position: Position) -> None:
        """Everything up to ``sequence`` (ending at ``position``) is acknowledged."""
        if sequence <= self.acked_sequence:
            return
        self.acked_sequence = sequence
        self.acked_position = position
        _write_atomic(self.directory / ACKED, str(sequence).encode())
        self._delete_before(position.segment)

    def _delete_before(self, segment: int) -> None:
        for old in [s for s in self._sizes if s < segment]:
            fd = self._read_fds.pop(old, None)
            if fd is not None:
                os.close(fd)
            self._path(old).unlink(missing_ok=True)
            del self._sizes[old]

    def _read_fd(self, segment: int) -> int:
        fd = self._read_fds.get(segment)
        if fd is None:
            fd = self._read_fds[segment] = os.open(self._path(segment), os.O_RDONLY)
        return fd

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:020d}{SUFFIX}"

    # -- closing ---------------------------------------------------------------------------------

    def close(self, *, remove_if_delivered: bool = False) -> bool:
        """Release everything; with ``remove_if_delivered``, delete the directory when nothing is
        pending. Returns True if it was removed."""
        if self.closed:
            return False
        self.closed = True
        if self.fsync is not FsyncPolicy.NEVER:
            self.sync()
        for fd in [self._active_fd, *self._read_fds.values()]:
            if fd is not None:
                os.close(fd)
        self._active_fd = None
        self._read_fds.clear()
        removed = remove_if_delivered and not self.pending
        if removed:
            for path in self.directory.iterdir():
                if path.name != LOCK:
                    path.unlink(missing_ok=True)
            (self.directory / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.directory.rmdir()
        os.close(self._lock_fd)
        return removed


def _lock(directory: Path) -> int:
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise FailedPreconditionError(
                f"the spool {directory} is in use by another process ({holder or 'unknown'})",
                field="spool",
                rule="spool_locked",
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
    return fd


def is_locked(directory: Path) -> bool:
    """Whether a live process holds the spool in ``directory``."""
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
