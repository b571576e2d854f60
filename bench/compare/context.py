"""What every workload receives: the sizes, the running systems, the results being collected."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.compare.plan import Sizes
from bench.compare.results import Better, Results
from bench.compare.systems import System


@dataclass
class Bench:
    sizes: Sizes
    results: Results
    systems: dict[str, System]  # running systems by key
    unavailable: dict[str, str]  # system key -> why it is not running (install/start error)
    workdir: Path
    log: Callable[[str], None]
    mlflow_mode: str = "async-buffered"  # the MLflow client mode used by workloads 2 and 3
    _projects: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def project(self, prefix: str) -> tuple[str, int]:
        """A fresh project (experiment) name and its index, unique within the run."""
        index = next(self._projects)
        return f"{prefix}-{index:03d}", index

    def present(self, keys: Sequence[str]) -> list[str]:
        return [key for key in keys if key in self.systems]

    @staticmethod
    def rotation(keys: Sequence[str], repetition: int) -> list[str]:
        """The systems in a different order each repetition, so no system is always first."""
        if not keys:
            return []
        shift = repetition % len(keys)
        return [*keys[shift:], *keys[:shift]]

    def mark_unavailable(
        self, workload: str, names: Sequence[tuple[str, str, Better]], keys: Sequence[str]
    ) -> None:
        """Give every measure a cell saying why an unavailable system has no value."""
        for key in keys:
            if key in self.unavailable and key not in self.systems:
                for name, unit, better in names:
                    self.results.fail(workload, name, unit, better, key, self.unavailable[key])
