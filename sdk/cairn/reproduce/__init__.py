"""Reproducing a recorded run: ``cairn reproduce`` and the report it prints (docs/reproduce.md).

The engine reads a run's recorded capture (:class:`RunRecord`) from a :class:`RunRecordSource`
(the query service), restores its code, environment and data, re-runs its command as a new run
with lineage ``reproduces -> original``, and compares the two (:class:`ReproductionReport`).
"""

from __future__ import annotations

from cairn.reproduce._code import restorable, restore_code
from cairn.reproduce._context import ReproductionContext
from cairn.reproduce._data import DataCheck, DataState, check_dataset, fetch_dataset
from cairn.reproduce._engine import Reproduction, execute, wait_for_run
from cairn.reproduce._environment import EnvironmentResult, PackageOutcome, build_environment
from cairn.reproduce._plan import Plan, ReproduceOptions, build_plan, format_plan, parse_overrides
from cairn.reproduce._record import (
    TAG_DATA,
    TAG_OVERRIDES,
    TAG_PACKAGES,
    TAG_REPRODUCES,
    CodeRecord,
    DatasetInput,
    Points,
    RunRecord,
    RunRecordSource,
)
from cairn.reproduce._report import (
    Change,
    MetricComparison,
    ReproductionReport,
    build_report,
    compare_metrics,
    format_report,
)

__all__ = [
    "TAG_DATA",
    "TAG_OVERRIDES",
    "TAG_PACKAGES",
    "TAG_REPRODUCES",
    "Change",
    "CodeRecord",
    "DataCheck",
    "DataState",
    "DatasetInput",
    "EnvironmentResult",
    "MetricComparison",
    "PackageOutcome",
    "Plan",
    "Points",
    "ReproduceOptions",
    "Reproduction",
    "ReproductionContext",
    "ReproductionReport",
    "RunRecord",
    "RunRecordSource",
    "build_environment",
    "build_plan",
    "build_report",
    "check_dataset",
    "compare_metrics",
    "execute",
    "fetch_dataset",
    "format_plan",
    "format_report",
    "parse_overrides",
    "restorable",
    "restore_code",
    "wait_for_run",
]
