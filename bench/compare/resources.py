"""Workload 5's instrument: peak RSS and CPU seconds of process trees, sampled with psutil.

A :class:`TreeSampler` watches groups of process trees (a server's parts, or a system's driver
processes) from :meth:`start` to :meth:`stop`. Every ``interval`` it walks each tree again, so
children that appear later (workers, forks) are included. RSS is summed over a group's live
processes at each sample and the peak kept; CPU seconds are, per process, the last ``cpu_times``
seen minus those seen first (or zero for a process created after the start), summed per group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Usage:
    peak_rss_bytes: int
    cpu_s: float
    processes: int  # distinct processes seen

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class TreeSampler:
    def __init__(self, groups: Mapping[str, list[int]], interval: float = 0.2) -> None:
        """``groups`` maps a label to the root PIDs whose trees count for it."""
        self.groups = {label: list(roots) for label, roots in groups.items()}
        self.interval = interval
        self._first: dict[str, dict[int, float]] = {label: {} for label in self.groups}
        self._last: dict[str, dict[int, float]] = {label: {} for label in self.groups}
        self._peak: dict[str, int] = dict.fromkeys(self.groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)
        self._started_at = 0.0

    def start(self) -> TreeSampler:
        self._started_at = time.time()
        self._sample()
        self._thread.start()
        return self

    def _sample(self) -> None:
        for label, roots in self.groups.items():
            rss = 0
            first, last = self._first[label], self._last[label]
            for process in (p for root in roots for p in _tree(root)):
                try:
                    with process.oneshot():
                        cpu = _cpu(process)
                        rss += process.memory_info().rss
                        if process.pid not in first:
                            new = process.create_time() >= self._started_at
                            first[process.pid] = 0.0 if new else cpu
                except psutil.Error:
                    continue
                last[process.pid] = cpu
            self._peak[label] = max(self._peak[label], rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> dict[str, Usage]:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()
        return {
            label: Usage(
                peak_rss_bytes=self._peak[label],
                cpu_s=sum(
                    self._last[label][pid] - self._first[label][pid] for pid in self._last[label]
                ),
                processes=len(self._last[label]),
            )
            for label in self.groups
        }
