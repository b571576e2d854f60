"""The in-memory hand-off between the training thread and the sender thread.

``run.log`` must cost a few microseconds, so the training thread does no protobuf or disk work:
it appends a plain tuple (and a copy of the logged dict) to a :class:`collections.deque` (``append`` is atomic under the GIL, no
lock is taken) and returns. The sender thread drains the deque every ``flush_interval_s`` and
turns what it finds into events (``cairn._packing``). Everything else a run records (params,
tags, lineage ...) travels through the same deque as a :class:`Payload`, so events keep the order
in which the calls were made.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from google.protobuf.message import Message

# One run.log call: (step, time ns, {key: value}); the dict is the run's own copy.
MetricRow: TypeAlias = tuple[int, int, dict[str, float]]


@dataclass(slots=True)
class Series:
    """One run.log_series call: a whole array of points for one key."""

    key: str
    steps: list[int]
    values: list[float]
    timestamps_ns: list[int]


@dataclass(slots=True)
class SystemSample:
    """One system-metrics sample: (SystemMetric enum value, device, value) triples at one time."""

    timestamp_ns: int
    values: list[tuple[int, str, float]]


@dataclass(slots=True)
class Payload:
    """Any other event: the name of the ``Event.payload`` field and its message, already built."""

    field: str
    message: Message
    occurred_at_ns: int


@dataclass(slots=True)
class Barrier:
    """Released by the sender once everything appended before it is on the spool."""

    done: threading.Event = field(default_factory=threading.Event)


Entry: TypeAlias = MetricRow | Series | SystemSample | Payload | Barrier


class Buffer:
    """A deque of entries; ``put`` is the deque's own bound ``append``, the cheapest call there is."""

    __slots__ = ("_items", "put")

    def __init__(self) -> None:
        self._items: deque[Entry] = deque()
        self.put = self._items.append

    def __len__(self) -> int:
        return len(self._items)

    def drain(self) -> list[Entry]:
        """Everything appended so far, oldest first. Safe while other threads keep appending:
        only the entries counted at the start are taken, each by ``popleft``."""
        items = self._items
        pop = items.popleft
        return [pop() for _ in range(len(items))]
