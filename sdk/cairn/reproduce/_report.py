"""The reproduction report (defined in the contract, so the portal and ``cairn diff`` show the
same verdict as ``cairn reproduce``)."""

from __future__ import annotations

from cairn_contract.reproduction import (
    Change,
    MetricComparison,
    ReproductionReport,
    build_report,
    compare_metrics,
    format_report,
)

__all__ = [
    "Change",
    "MetricComparison",
    "ReproductionReport",
    "build_report",
    "compare_metrics",
    "format_report",
]
