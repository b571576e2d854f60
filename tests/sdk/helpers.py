"""Helpers for SDK tests: settings in a temporary directory, reading a spool back, a fake ingest.

:class:`FakeIngest` stands in for the network in unit tests only (the integration tests use the
real ingest server and the real broker). It implements the SDK's ``Transport`` protocol: every
batch is parsed as the server would parse it, recorded, and acknowledged (or rejected, or the
stream is cut) as the test arranges.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cairn._spool import SUFFIX, decode_records
from cairn._transport import Ack, Rejection, StreamFailure
from cairn.config import Capture, Mode, Settings
from cairn.v1 import events_pb2

TEAM = "vision"
PROJECT = "churn"


def offline_settings(tmp_path: Path, **changes: Any) -> Settings:
    """Offline, nothing captured, everything under ``tmp_path``."""
    base = Settings(
        team=TEAM,
        project=PROJECT,
        dir=tmp_path / "cairn",
        mode=Mode.OFFLINE,
        capture=Capture.nothing(),
        flush_interval_s=0.01,
    )
    return replace(base, **changes)


def spooled_events(directory: Path) -> list[events_pb2.Event]:
    """Every event in a spool directory, in order."""
    events: list[events_pb2.Event] = []
    for segment in sorted(directory.glob(f"*{SUFFIX}")):
        records, _ = decode_records(segment.read_bytes())
        events.extend(events_pb2.Event.FromString(r.data) for r in records)
    return events


def payloads(events: list[events_pb2.Event], kind: str) -> list[Any]:
    return [getattr(e, kind) for e in events if e.WhichOneof("payload") == kind]


def points(events: list[events_pb2.Event]) -> dict[str, list[tuple[int, float]]]:
    """Metric points per key, as (step, value), in the order they were sent."""
    found: dict[str, list[tuple[int, float]]] = {}
    for batch in payloads(events, "metrics"):
        for series in batch.series:
            found.setdefault(series.key, []).extend(zip(series.steps, series.values, strict=True))
    return found


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError(f"{what} not reached within {timeout}s")


@dataclass
class FakeIngest:
    """The Transport protocol, in memory. ``reject`` may return a Rejection for a batch;
    ``cut_after`` ends every stream after that many batches (acking none of the last one);
    ``down`` makes new streams fail at once; ``hold`` stops acks until released."""

    address: str = "fake-ingest:1"
    batches: list[events_pb2.EventBatch] = field(default_factory=list)
    reject: Callable[[events_pb2.EventBatch], Rejection | None] | None = None
    cut_after: int | None = None
    down: bool = False
    hold: bool = False
    streams: list[FakeStream] = field(default_factory=list)
    closed: bool = False

    def open(self, on_activity: Callable[[], None]) -> FakeStream:
        stream = FakeStream(self, on_activity)
        self.streams.append(stream)
        if self.down:
            stream.fail("UNAVAILABLE", "connection refused")
        return stream

    def close(self) -> None:
        self.closed = True

    def event_ids(self) -> list[str]:
        return [e.envelope.event_id for b in self.batches for e in b.events]

    def events(self) -> list[events_pb2.Event]:
        return [e for b in self.batches for e in b.events]


class FakeStream:
    def __init__(self, server: FakeIngest, on_activity: Callable[[], None]) -> None:
        self.server = server
        self.on_activity = on_activity
        self.acks: deque[Ack] = deque()
        self.held: list[Ack] = []
        self._failure: StreamFailure | None = None
        self.sent = 0
        self.closed = False

    def fail(self, code: str, message: str) -> None:
        self._failure = StreamFailure(code, message)
        self.on_activity()

    def send(self, batch: bytes) -> None:
        assert not self.closed, "send on a closed stream"
        if self._failure is not None:
            return
        parsed = events_pb2.EventBatch.FromString(batch)
        self.sent += 1
        if self.server.cut_after is not None and self.sent > self.server.cut_after:
            self.fail("UNAVAILABLE", "the server went away")
            return
        rejection = self.server.reject(parsed) if self.server.reject else None
        if rejection is None:
            self.server.batches.append(parsed)
        ack = Ack(parsed.batch_id, 0 if rejection else len(parsed.events), rejection)
        if self.server.hold:
            self.held.append(ack)
        else:
            self.acks.append(ack)
        self.on_activity()

    def release(self) -> None:
        self.acks.extend(self.held)
        self.held.clear()
        self.on_activity()

    def poll(self) -> list[Ack]:
        return [self.acks.popleft() for _ in range(len(self.acks))]

    @property
    def failure(self) -> StreamFailure | None:
        return self._failure if not self.acks else None

    def close(self) -> None:
        self.closed = True


def default_signals() -> None:
    """``preexec_fn`` for a child that must react to signals as one started from a terminal:
    SIGINT, SIGHUP and SIGTERM back to their default. A test run started in the background
    (``nohup``, ``cmd &`` in a script) passes SIGHUP, and SIGINT, on *ignored*, and a child
    inherits that."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
