"""Draw the comparison's PNG; runs in a peer's (or a small tool) virtualenv with matplotlib.

Usage: ``python plot.py <data.json> <out.png>``. The data (written by ``bench/compare/report.py``)
holds medians: throughput per system and job count, latency per system and query. Two panels,
log scale, one bar per system in each group.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import matplotlib  # type: ignore[import-not-found]

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-not-found]


def _bars(
    ax: Any,
    series: dict[str, dict[str, float]],
    systems: dict[str, str],
    groups: list[str],
    ylabel: str,
    title: str,
) -> None:
    keys = [key for key in systems if key in series]
    width = 0.8 / max(1, len(keys))
    for k, key in enumerate(keys):
        values = [series[key].get(group, 0.0) or 0.0 for group in groups]
        positions = [g + k * width for g in range(len(groups))]
        ax.bar(positions, values, width, label=systems[key])
    ax.set_xticks([g + width * (len(keys) - 1) / 2 for g in range(len(groups))], groups)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def main() -> int:
    with open(sys.argv[1]) as handle:
        data = json.load(handle)
    systems = data["systems"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    throughput = data["throughput"]
    job_counts = sorted({g for s in throughput.values() for g in s}, key=int)
    _bars(
        left,
        throughput,
        systems,
        job_counts,
        "queryable points/s (median)",
        "Ingest throughput by concurrent jobs (N)",
    )
    left.set_xlabel("N jobs")
    queries = data["queries"]
    names = [
        q
        for q in ("search", "histories", "chart", "compare")
        if any(q in s for s in queries.values())
    ]
    _bars(right, queries, systems, names, "latency, ms (median)", "Queries at scale")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
