"""What a reproduction needs to know about a run, and where it reads it from.

:class:`RunRecord` (from the contract, :mod:`cairn_contract.reproduction`) is the run's recorded
capture flattened into plain values: what the query service answers and what unit tests build by
hand. :class:`RunRecordSource` is the one seam between the engine and the server, so the engine's
logic is tested without one.
"""

from __future__ import annotations

from typing import Protocol

from cairn_contract.reproduction import (
    TAG_CODE,
    TAG_DATA,
    TAG_OVERRIDES,
    TAG_PACKAGES,
    TAG_REPRODUCES,
    TERMINAL_STATUSES,
    CodeRecord,
    DatasetInput,
    Points,
    RunRecord,
)

__all__ = [
    "TAG_CODE",
    "TAG_DATA",
    "TAG_OVERRIDES",
    "TAG_PACKAGES",
    "TAG_REPRODUCES",
    "TERMINAL_STATUSES",
    "CodeRecord",
    "DatasetInput",
    "Points",
    "RunRecord",
    "RunRecordSource",
]


class RunRecordSource(Protocol):
    """Reads runs the caller may see; raises :class:`cairn.errors.NotFoundError` otherwise."""

    def get_run(self, run_id: str) -> RunRecord: ...

    def metric_points(self, run_id: str) -> Points:
        """Every point of every metric the run logged."""
        ...
