"""What the comparison measured: one :class:`Measure` per reported quantity, one :class:`Cell`
per system, and the run's context (machine, versions, sizes, notes).

A cell keeps every repetition's value, so the report can print the median and the spread; a cell
whose system could not do the workload keeps the error instead, and the report prints it rather
than dropping the row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from bench.compare import stats


class Better(StrEnum):
    LOWER = "lower"  # times, lags, resource use
    HIGHER = "higher"  # throughputs


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    error: str = ""  # why the system has no value (its error, or the limit it hit)
    note: str = ""  # what the reader must know to read the value

    @property
    def median(self) -> float:
        return stats.median(self.values)


@dataclass
class Measure:
    workload: str  # section, e.g. "2. Ingest throughput"
    name: str  # row label, e.g. "N = 8 jobs: queryable points/s"
    unit: str
    better: Better
    cells: dict[str, Cell] = field(default_factory=dict)
    ratio: bool = True  # False for context rows (e.g. load times) that are not results

    def cell(self, system: str) -> Cell:
        return self.cells.setdefault(system, Cell())


@dataclass
class Results:
    """Everything one ``python -m bench.compare`` run found out."""

    mode: str  # "full" or "quick"
    started_at: str
    machine: dict[str, str] = field(default_factory=dict)
    systems: dict[str, str] = field(default_factory=dict)  # key -> column label, table order
    products: dict[str, str] = field(default_factory=dict)  # product -> version description
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> driver versions
    installs: list[dict[str, Any]] = field(default_factory=list)
    sizes: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    duration_s: float = 0.0
    measures: list[Measure] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # workload -> notes
    plot: dict[str, Any] = field(default_factory=dict)  # series the PNG is drawn from

    def measure(self, workload: str, name: str, unit: str, better: Better) -> Measure:
        for existing in self.measures:
            if existing.workload == workload and existing.name == name:
                return existing
        created = Measure(workload, name, unit, better)
        self.measures.append(created)
        return created

    def add(
        self, workload: str, name: str, unit: str, better: Better, system: str, value: float
    ) -> None:
        self.measure(workload, name, unit, better).cell(system).values.append(float(value))

    def fail(
        self, workload: str, name: str, unit: str, better: Better, system: str, error: str
    ) -> None:
        """Record that ``system`` could not produce this measure (first error wins)."""
        cell = self.measure(workload, name, unit, better).cell(system)
        if not cell.error:
            cell.error = error

    def note(self, workload: str, text: str) -> None:
        kept = self.notes.setdefault(workload, [])
        if text not in kept:
            kept.append(text)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
