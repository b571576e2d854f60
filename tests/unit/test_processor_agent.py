"""The processor agent, driven by faust's ``agent.test_context()`` (no broker): it writes batches,
dead-letters poison, and retries a failing store instead of skipping the batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import faust
import pytest

from cairn.v1 import metrics_pb2, runs_pb2
from domain.projections import LogPosition, Projection
from processors.app import byte_bounded, create_app
from processors.projection_writer import WriteResult
from processors.settings import ProcessorsSettings
from tests.builders import event


class FakeWriter:
    """Records projections; fails the first ``fail_times`` writes like an unreachable store."""

    def __init__(self, fail_times: int = 0) -> None:
        self.projections: list[Projection] = []
        self.attempts = 0
        self.fail_times = fail_times
        self.failing_since: float | None = None

    async def write_until_done(self, projection: Projection) -> WriteResult:
        while True:
            self.attempts += 1
            if self.attempts <= self.fail_times:
                await asyncio.sleep(0)
                continue
            self.projections.append(projection)
            return WriteResult(projection.rows, len(projection.nonempty()), 0.0, self.attempts)


async def _eventually(predicate: Any, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


@pytest.fixture(autouse=True)
def close_faust_consumer_loops(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``agent.test_context()`` builds the app's Kafka consumer thread, whose private event loop is
    never started and so never closed; close those loops so no resource leaks between tests."""
    created: list[Any] = []
    original = faust.App._new_consumer

    def tracking(self: faust.App) -> Any:
        consumer = original(self)
        created.append(consumer)
        return consumer

    monkeypatch.setattr(faust.App, "_new_consumer", tracking)
    yield
    for consumer in created:
        thread = getattr(consumer, "_thread", None)
        loop = getattr(thread, "thread_loop", None)
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()


@pytest.fixture
def settings(tmp_path: Path) -> ProcessorsSettings:
    return ProcessorsSettings(data_dir=tmp_path, flush_interval_s=0.05, flush_max_events=3)


async def test_agent_writes_events_in_batches_and_counts_points(
    settings: ProcessorsSettings,
) -> None:
    writer = FakeWriter()
    _, project_events = create_app(settings, writer=writer, dead_letter=_no_dead_letter)
    series = metrics_pb2.MetricSeries(key="loss", steps=[0, 1, 2], values=[3.0, 2.0, 1.0])
    async with project_events.test_context() as agent:
        await agent.put(event("run_created", runs_pb2.RunCreated(name="a")).SerializeToString())
        await agent.put(
            event("metrics", metrics_pb2.MetricBatch(series=[series])).SerializeToString()
        )
        await _eventually(lambda: sum(p.events for p in writer.projections) == 2)
    assert sum(p.points for p in writer.projections) == 3
    assert sum(p.buffers["events"].rows for p in writer.projections) == 2


async def test_a_batch_larger_than_flush_max_bytes_is_written_in_parts_in_log_order(
    tmp_path: Path,
) -> None:
    settings = ProcessorsSettings(
        data_dir=tmp_path, flush_interval_s=0.5, flush_max_events=10, flush_max_bytes=1
    )
    writer = FakeWriter()
    _, project_events = create_app(settings, writer=writer, dead_letter=_no_dead_letter)
    names = [f"r{i}" for i in range(4)]
    async with project_events.test_context() as agent:
        for name in names:
            await agent.put(
                event("run_renamed", runs_pb2.RunRenamed(name=name)).SerializeToString()
            )
        await _eventually(lambda: sum(p.events for p in writer.projections) == 4)
    assert [p.events for p in writer.projections] == [1, 1, 1, 1]  # each event over the limit


def test_byte_bounded_cuts_a_batch_by_stored_size_and_keeps_the_order() -> None:
    class Message(NamedTuple):
        value: bytes

    class Event(NamedTuple):
        message: Message

    events = [Event(Message(b"x" * size)) for size in (3, 3, 5, 1, 9, 2)]
    parts = byte_bounded(events, 6)
    assert [[len(e.message.value) for e in part] for part in parts] == [[3, 3], [5, 1], [9], [2]]
    assert [e for part in parts for e in part] == events


async def test_poison_goes_to_dead_letter_with_reason_and_the_rest_is_written(
    settings: ProcessorsSettings,
) -> None:
    writer = FakeWriter()
    dead: list[tuple[bytes, str, LogPosition]] = []

    async def dead_letter(value: bytes, key: bytes | None, reason: str, pos: LogPosition) -> None:
        dead.append((value, reason, pos))

    _, project_events = create_app(settings, writer=writer, dead_letter=dead_letter)
    async with project_events.test_context() as agent:
        await agent.put(b"not a protobuf \xff\xff")
        await agent.put(event("run_renamed", runs_pb2.RunRenamed(name="ok")).SerializeToString())
        await _eventually(lambda: dead and sum(p.events for p in writer.projections) == 1)
    [(value, reason, _)] = dead
    assert value == b"not a protobuf \xff\xff"
    assert reason.startswith("undecodable event")


async def test_a_failing_store_is_retried_never_skipped(settings: ProcessorsSettings) -> None:
    writer = FakeWriter(fail_times=3)
    _, project_events = create_app(settings, writer=writer, dead_letter=_no_dead_letter)
    async with project_events.test_context() as agent:
        await agent.put(event("run_renamed", runs_pb2.RunRenamed(name="x")).SerializeToString())
        await _eventually(lambda: writer.projections)
    assert writer.attempts == 4
    assert writer.projections[0].events == 1


class GatedWriter(FakeWriter):
    """Holds its first write until ``gate`` opens; counts writes started."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.started = 0

    async def write_until_done(self, projection: Projection) -> WriteResult:
        self.started += 1
        await self.gate.wait()
        return await super().write_until_done(projection)


async def test_the_next_batch_is_projected_while_the_last_is_written_one_write_at_a_time(
    settings: ProcessorsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processors import app as app_module

    projected: list[int] = []
    original = app_module.project_batch

    def counting(events: list[Any], owners: Any = None) -> Any:
        projected.append(len(events))
        return original(events, owners)

    monkeypatch.setattr(app_module, "project_batch", counting)
    writer = GatedWriter()
    _, project_events = create_app(settings, writer=writer, dead_letter=_no_dead_letter)
    names = [f"n{i}" for i in range(6)]
    async with project_events.test_context() as agent:
        for name in names:  # two batches of three (flush_max_events)
            await agent.put(
                event("run_renamed", runs_pb2.RunRenamed(name=name)).SerializeToString()
            )
        await _eventually(lambda: len(projected) == 2)
        assert writer.started == 1, "the second write waits for the first"
        assert writer.projections == []
        writer.gate.set()
        await _eventually(lambda: len(writer.projections) == 2)
    written = [name for p in writer.projections for name in p.buffers["run_fields"].columns()[2]]
    assert [n for n in written if n in names] == names  # in log order


async def _no_dead_letter(value: bytes, key: bytes | None, reason: str, pos: LogPosition) -> None:
    raise AssertionError(f"unexpected dead letter: {reason}")
