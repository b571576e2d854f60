"""Grouped runs on the Compare page: which run belongs to which group, and each group's mean
line with its band, per metric (pure functions, tested without Streamlit).

Runs are grouped by a parameter (``params.<key>``), a tag (``tags.<key>``) or an attribute
(:data:`ATTRIBUTES`); a run without the value is in the group :data:`NOT_SET`. The points are the
store's downsampled series, which are not at the same steps in every run, so the x range is cut
into ``bins`` equal intervals: a run's value in an interval is the mean of its points there, and
a group's mean, standard deviation, lowest and highest value are taken over the runs that have a
point in that interval (a run that stopped early no longer pulls the mean down).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from query.compare import RunComparison

ATTRIBUTES = ("status", "owner", "project")
NOT_SET = "(not set)"
BAND_COLUMNS = ["group", "x", "mean", "std", "lo", "hi", "runs", "members"]
DEFAULT_BINS = 200


def group_options(comparison: RunComparison) -> list[str]:
    """What the runs can be grouped by: params and tags whose values differ between the runs
    (grouping by a value every run shares makes one group), then the attributes."""
    params = [f"params.{p.key}" for p in comparison.params_differing]
    tag_keys = sorted({key for tags in comparison.tags for key in tags})
    tags = [
        f"tags.{key}" for key in tag_keys if len({tags.get(key) for tags in comparison.tags}) > 1
    ]
    return [*params, *tags, *ATTRIBUTES]


def group_of(comparison: RunComparison, by: str) -> dict[str, str]:
    """Each compared run's group (run id -> value of ``by`` as text, :data:`NOT_SET` if none)."""
    values: list[str | None]
    if by.startswith("params."):
        key = by.removeprefix("params.")
        differing = {p.key: p.values for p in comparison.params_differing}
        common = dict(comparison.params_common)
        values = list(differing.get(key, (common.get(key),) * len(comparison.run_ids)))
    elif by.startswith("tags."):
        key = by.removeprefix("tags.")
        values = [tags.get(key) for tags in comparison.tags]
    elif by in ATTRIBUTES:
        values = [str(getattr(run, by)) for run in comparison.runs]
    else:
        raise ValueError(f"cannot group by {by!r}: use params.<key>, tags.<key> or {ATTRIBUTES}")
    return {
        run_id: NOT_SET if value in (None, "") else str(value)
        for run_id, value in zip(comparison.run_ids, values, strict=True)
    }


def bands(
    points: pd.DataFrame,
    key: str,
    groups: Mapping[str, str],
    *,
    x: str = "step",
    bins: int = DEFAULT_BINS,
) -> pd.DataFrame:
    """Per group and x interval: ``mean``, ``std`` (population), ``lo``/``hi`` (lowest and
    highest run), ``runs`` (how many runs have a point there) and ``members`` (how many runs of
    the group logged the key at all), with ``x`` the interval's mean position. ``points`` has the columns of ``query.series.metric_series`` (``smoothed``
    is used when present); runs not in ``groups`` are left out. Groups come in the order of
    their first run in ``groups``."""
    series = points[(points["key"] == key) & points["run_id"].isin(list(groups))]
    if series.empty:
        return pd.DataFrame(columns=BAND_COLUMNS)
    x_column = "step" if x == "step" else "timestamp"
    time_axis = x_column == "timestamp"
    raw = series[x_column]
    position = (pd.to_datetime(raw, utc=True).astype("int64") if time_axis else raw).to_numpy(
        dtype=np.float64
    )
    value = "smoothed" if "smoothed" in series else "value"
    low, high = position.min(), position.max()
    width = (high - low) / bins if high > low else 1.0
    frame = pd.DataFrame(
        {
            "group": series["run_id"].map(groups).to_numpy(),
            "run_id": series["run_id"].to_numpy(),
            "bin": np.minimum(((position - low) // width).astype(np.int64), bins - 1),
            "x": position,
            "value": series[value].to_numpy(dtype=np.float64),
        }
    )
    per_run = frame.groupby(["group", "bin", "run_id"], sort=False).agg(
        x=("x", "mean"), value=("value", "mean")
    )
    out = (
        per_run.groupby(level=["group", "bin"], sort=False)
        .agg(
            x=("x", "mean"),
            mean=("value", "mean"),
            std=("value", lambda v: float(np.std(v))),
            lo=("value", "min"),
            hi=("value", "max"),
            runs=("value", "size"),
        )
        .reset_index()
    )
    out["members"] = out["group"].map(frame.groupby("group")["run_id"].nunique())
    order = {group: index for index, group in enumerate(dict.fromkeys(groups.values()))}
    out = out.sort_values(["group", "bin"], key=lambda c: c.map(order) if c.name == "group" else c)
    if time_axis:
        out["x"] = pd.to_datetime(out["x"].astype("int64"), utc=True)
    return out[BAND_COLUMNS].reset_index(drop=True)
