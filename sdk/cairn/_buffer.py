"""The in-memory hand-off between the training thread and the sender thread.

``run.log`` must cost a few microseconds, so the training thread does no protobuf or disk work:
it appends a plain tuple (and a copy of the logged dict) to a :class:`collections.deque` (``append`` is atomic under the GIL, no
lock is taken) and returns. The sender thread drains the deque every ``flush_interval_s`` and
turns what it finds into events (``cairn._packing``). Everything else a run records (params,
tags, lineage ...) travels through the same deque as a :class:`Payload`, so events keep the order
in which the calls were made.

The hand-off is bounded (``Settings.buffer_max_points``): a loop that logs faster than the sender
packs would otherwise hold the whole backlog as Python objects (~240 bytes a point; 487 MB after
2 M points). Past the bound, ``run.log`` calls :attr:`Buffer.relieve`, which the sender sets to
pack and spool the backlog in the calling thread: the loop then runs at the pace the points can be
written to disk, and memory stays flat. Nothing is dropped and nothing waits for the network.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
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


def _nothing_to_relieve() -> None:
    """The relief of a buffer without a sender (a disabled run): nothing is kept to write."""


class Buffer:
    """A deque of entries; ``put`` is the deque's own bound ``append``, the cheapest call there is.

    ``entries`` is the deque itself, so a caller can bound it with one ``len`` and no call;
    ``relieve`` empties it into the spool from the calling thread (set by the sender)."""

    __slots__ = ("_items", "entries", "max_points", "put", "relieve")

    def __init__(self, max_points: int) -> None:
        self._items: deque[Entry] = deque()
        self.entries = self._items
        self.put = self._items.append
        self.max_points = max_points
        self.relieve: Callable[[], None] = _nothing_to_relieve

    def __len__(self) -> int:
        return len(self._items)

    def drain(self) -> list[Entry]:
        """Everything appended so far, oldest first. Safe while other threads keep appending:
        only the entries counted at the start are taken, each by ``popleft``."""
        items = self._items
        pop = items.popleft
        return [pop() for _ in range(len(items))]
