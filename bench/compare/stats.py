"""Pure numeric helpers of the comparison: medians, spread, ratios, rates from sampled series.

Nothing here measures or talks to a process; the unit tests in ``tests/bench`` pin the behaviour.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence


def finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def median(values: Sequence[float]) -> float:
    """Median of the finite values; NaN when there are none."""
    kept = sorted(finite(values))
    if not kept:
        return math.nan
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else (kept[mid - 1] + kept[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 1]) of the finite values; NaN when empty."""
    kept = sorted(finite(values))
    if not kept:
        return math.nan
    rank = min(len(kept) - 1, max(0, math.ceil(q * len(kept)) - 1))
    return kept[rank]


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(min, max) of the finite values; (NaN, NaN) when empty."""
    kept = finite(values)
    return (min(kept), max(kept)) if kept else (math.nan, math.nan)


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / median, the spread the report prints as ±%; NaN when undefined."""
    low, high = spread(values)
    mid = median(values)
    if not math.isfinite(mid) or mid == 0:
        return math.nan
    return (high - low) / abs(mid)


def ratio(cairn: float, peer: float) -> float:
    """Cairn's median over the peer's; NaN when either is missing or the peer's is zero."""
    if not (math.isfinite(cairn) and math.isfinite(peer)) or peer == 0:
        return math.nan
    return cairn / peer


def value_at(series: Sequence[tuple[float, float]], t: float) -> float:
    """A sampled, non-decreasing counter at time ``t``, interpolated linearly between samples
    and held flat outside them; NaN for an empty series."""
    if not series:
        return math.nan
    points = sorted(series)
    if t <= points[0][0]:
        return float(points[0][1])
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t0 <= t <= t1:
            if t1 == t0:
                return float(v1)
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return float(points[-1][1])


def rate(series: Sequence[tuple[float, float]], start: float, stop: float) -> float:
    """Growth per second of a sampled counter between ``start`` and ``stop``."""
    if stop <= start:
        return math.nan
    return (value_at(series, stop) - value_at(series, start)) / (stop - start)


def first_time_reaching(series: Sequence[tuple[float, float]], target: float) -> float:
    """The first sample time at which the counter reached ``target``; NaN if it never did."""
    for t, value in sorted(series):
        if value >= target:
            return t
    return math.nan
