"""Histograms a run logged (weights, gradients, activations per step), for tables and heatmaps.

:func:`histogram_keys` lists a visible run's histogram keys; :func:`histograms` returns one key's
histograms, at most ``max_steps`` of them: when the run logged more steps than that, evenly
spaced steps are picked, the first and the last always among them, so a heatmap of a long run
costs the same as one of a short run. Each step keeps its own bins (``numpy.histogram`` picks a
range per call); :meth:`HistogramSeries.on_common_bins` puts them on one grid for a heatmap.

Reads go through ``histogram_steps`` (each run, key and step once, ``FINAL``) and only rows of
runs the caller may see (:class:`~query.access.Visibility`); an invisible or unknown run has no
keys and no histograms, never an error that would confirm it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _execute
from query.access import Caller, Visibility

MAX_STEPS = 1_000
MAX_GRID_BINS = 512

_KEYS_SQL = """
SELECT DISTINCT key FROM {table}
WHERE run_id = {{run_id:String}} AND run_id IN ({visible})
ORDER BY key
"""

# The steps are read once into an array; ``picked`` is at most max_steps of them, evenly spaced
# by rank (first and last included), and only those rows' bins cross the network.
_HISTOGRAMS_SQL = """
WITH
    (SELECT arraySort(groupArray(step)) FROM {table}
     WHERE run_id = {{run_id:String}} AND key = {{key:String}} AND run_id IN ({visible})
    ) AS all_steps,
    length(all_steps) AS total,
    least(total, {{max_steps:UInt32}}) AS wanted,
    arrayDistinct(arrayMap(
        i -> all_steps[1 + toUInt64(round(i * (total - 1) / greatest(wanted - 1, 1)))],
        range(wanted)
    )) AS picked
SELECT step, timestamp, edges, counts, total
FROM {table}
WHERE run_id = {{run_id:String}} AND key = {{key:String}} AND has(picked, step)
    AND run_id IN ({visible})
ORDER BY step
"""


@dataclass(frozen=True)
class Histogram:
    """One step's histogram: ``counts[i]`` values fell in ``[edges[i], edges[i + 1])``."""

    step: int
    timestamp: datetime
    edges: tuple[float, ...]
    counts: tuple[float, ...]

    @property
    def total(self) -> float:
        return float(sum(self.counts))


@dataclass(frozen=True)
class HistogramGrid:
    """Histograms of many steps on shared bins: ``counts[s, b]`` is step ``steps[s]``'s count
    in ``[edges[b], edges[b + 1])``."""

    steps: tuple[int, ...]
    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]

    @property
    def centers(self) -> npt.NDArray[np.float64]:
        return (self.edges[:-1] + self.edges[1:]) / 2


@dataclass(frozen=True)
class HistogramSeries:
    """One run's histograms of one key, by step; ``total_steps`` counts every step logged,
    ``histograms`` holds at most the requested number of them."""

    run_id: str
    key: str
    histograms: tuple[Histogram, ...]
    total_steps: int

    @property
    def steps(self) -> tuple[int, ...]:
        return tuple(h.step for h in self.histograms)

    def on_common_bins(self, bins: int = 64) -> HistogramGrid:
        """Every step's counts redistributed onto ``bins`` equal bins spanning all steps' edges.

        A source bin's count is shared among the grid bins it overlaps in proportion to the
        overlap (values are taken as spread evenly within a bin), so each step's total count is
        kept exactly, whatever its own edges were.
        """
        if not 1 <= bins <= MAX_GRID_BINS:
            raise ValidationError(
                f"bins must be between 1 and {MAX_GRID_BINS}, got {bins}",
                field="bins",
                rule="range",
            )
        if not self.histograms:
            empty = np.empty((0, bins), dtype=np.float64)
            return HistogramGrid((), np.linspace(0.0, 1.0, bins + 1), empty)
        low = min(h.edges[0] for h in self.histograms)
        high = max(h.edges[-1] for h in self.histograms)
        grid = np.linspace(low, high, bins + 1)
        counts = np.vstack([_rebin(h.edges, h.counts, grid) for h in self.histograms])
        return HistogramGrid(self.steps, grid, counts)


def _rebin(
    edges: tuple[float, ...], counts: tuple[float, ...], grid: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``counts`` over ``edges`` moved onto ``grid`` (whose range covers ``edges``).

    The cumulative count is piecewise linear in the value (even spread within each bin), so
    evaluating it at the grid's edges and differencing gives each grid bin's share.
    """
    source = np.asarray(edges, dtype=np.float64)
    cumulative = np.concatenate(([0.0], np.cumsum(np.asarray(counts, dtype=np.float64))))
    shares: npt.NDArray[np.float64] = np.diff(np.interp(grid, source, cumulative))
    return shares


def _check_text(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field, rule="type")


def _check_max_steps(max_steps: object) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        raise ValidationError("max_steps must be an integer", field="max_steps", rule="type")
    if not 2 <= max_steps <= MAX_STEPS:
        raise ValidationError(
            f"max_steps must be between 2 and {MAX_STEPS}, got {max_steps}",
            field="max_steps",
            rule="range",
        )


def histogram_keys(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> tuple[str, ...]:
    """The keys a visible run logged histograms for, sorted; empty for other runs."""
    _check_text(run_id, "run_id")
    vis = Visibility.load(client, caller, database)
    sql = _KEYS_SQL.format(
        table=vis.table("histogram_steps"), visible=vis.visible_runs("run_id = {run_id:String}")
    )
    rows = _execute.rows(client, sql, {"run_id": run_id, **vis.parameters})
    return tuple(str(row["key"]) for row in rows)


def histograms(
    client: Client,
    caller: Caller,
    run_id: str,
    key: str,
    *,
    max_steps: int = 200,
    database: str | None = None,
) -> HistogramSeries:
    """A visible run's histograms of ``key``, by step: all of them, or ``max_steps`` (2 to
    :data:`MAX_STEPS`) evenly spaced ones including the first and the last step. Empty for runs
    the caller may not see."""
    _check_text(run_id, "run_id")
    _check_text(key, "key")
    _check_max_steps(max_steps)
    vis = Visibility.load(client, caller, database)
    sql = _HISTOGRAMS_SQL.format(
        table=vis.table("histogram_steps"), visible=vis.visible_runs("run_id = {run_id:String}")
    )
    params: dict[str, Any] = {
        "run_id": run_id,
        "key": key,
        "max_steps": max_steps,
        **vis.parameters,
    }
    rows = _execute.rows(client, sql, params)
    found = tuple(
        Histogram(
            step=int(row["step"]),
            timestamp=row["timestamp"],
            edges=tuple(float(e) for e in row["edges"]),
            counts=tuple(float(c) for c in row["counts"]),
        )
        for row in rows
    )
    total = int(rows[0]["total"]) if rows else 0
    return HistogramSeries(run_id, key, found, total)
