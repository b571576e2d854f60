"""What changes while runs train, read cheaply for pages that redraw every second.

:func:`run_progress` is the part of :func:`query.compare.compare_runs` that moves during
training: each run's summary (status, times, duration) and its metric summaries (last, min, max,
last step). Two queries instead of seven, so a live page (``ui/live.py``) can afford one read per
tick; the parameters, tags and identities a page shows come from ``compare_runs`` once.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from query import _records
from query._records import RunSummary
from query.access import Caller, Visibility
from query.compare import MetricSideBySide, _side_by_side, checked_run_ids


@dataclass(frozen=True)
class RunProgress:
    run_ids: tuple[str, ...]  # the order of every per-run tuple below
    runs: tuple[RunSummary, ...]
    metrics: tuple[MetricSideBySide, ...]


def run_progress(
    client: Client, caller: Caller, run_ids: Sequence[str], *, database: str | None = None
) -> RunProgress:
    """Summaries and metric summaries of visible runs; NotFoundError if any is missing or hidden
    (as :func:`~query.compare.compare_runs`: the gate's verdict comes before the metrics)."""
    ids = checked_run_ids(run_ids, "read at once")
    vis = Visibility.deferred(caller, str(database or client.database or "default"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        gate = pool.submit(_records.require_visible, client, vis, ids)
        metrics = pool.submit(_records.metric_summaries, client, vis, ids)
        summaries = gate.result()
        found = metrics.result()
    return RunProgress(tuple(ids), tuple(summaries[i] for i in ids), _side_by_side(ids, found))
