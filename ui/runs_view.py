"""The Runs table's state (kept in the URL) and its grouping.

The state is a :class:`RunsView`; :meth:`RunsView.from_params` and :meth:`RunsView.to_params`
map it to and from query parameters, so the address bar always reproduces the table: filter,
columns, order, grouping and page size. Columns nobody chose are not in the URL: the table then
shows :func:`ui.runs_columns.default_columns`, which the page resolves per person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ui.runs_columns import headers
from ui.runs_format import date_range, durations

LIMITS = (100, 1_000, 10_000)
DEFAULT_LIMIT = 10_000
DEFAULT_ORDER = "created desc"
# Read with every page of runs: what the name link, the duration ("running for ...") and live
# refresh need, whatever columns are shown.
ALWAYS_READ = ("run_id", "name", "status", "started", "duration")


@dataclass(frozen=True)
class RunsView:
    filter: str = ""
    columns: tuple[str, ...] = ()  # () = the person's default columns
    order_by: str = DEFAULT_ORDER
    group_by: str = ""  # a column (``params.max_depth``, ``tags.stage``, ``owner``) or ''
    limit: int = DEFAULT_LIMIT
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunsView:
        columns = tuple(c for c in params.get("cols", "").split(",") if c)
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            limit = DEFAULT_LIMIT
        return cls(
            filter=params.get("filter", ""),
            columns=tuple(dict.fromkeys(columns)),
            order_by=params.get("sort", DEFAULT_ORDER) or DEFAULT_ORDER,
            group_by=params.get("group", ""),
            limit=limit if limit in LIMITS else DEFAULT_LIMIT,
        )

    def to_params(self) -> dict[str, str]:
        """Only what differs from the defaults, so links stay short."""
        out: dict[str, str] = {}
        if self.filter:
            out["filter"] = self.filter
        if self.columns:
            out["cols"] = ",".join(self.columns)
        if self.order_by != DEFAULT_ORDER:
            out["sort"] = self.order_by
        if self.group_by:
            out["group"] = self.group_by
        if self.limit != DEFAULT_LIMIT:
            out["limit"] = str(self.limit)
        return out

    def query_columns(self, shown: Sequence[str]) -> tuple[str, ...]:
        """What to fetch: what every row needs, the shown columns, the group key and the
        creation time (a group's date range)."""
        wanted = [*ALWAYS_READ, *shown]
        if self.group_by:
            wanted += [self.group_by, "created"]
        return tuple(dict.fromkeys(wanted))

    @property
    def sort_column(self) -> str:
        return self.order_by.split()[0] if self.order_by else "created"

    @property
    def descending(self) -> bool:
        return self.order_by.lower().endswith(" desc")


def order_spec(column: str, descending: bool) -> str:
    return f"{column} {'desc' if descending else 'asc'}"


def group_table(runs: pd.DataFrame, group_by: str, tz: str = "UTC") -> pd.DataFrame:
    """One row per value of ``group_by`` under readable headers: the number of runs, the
    creation dates the group spans, the mean duration, and for every numeric column (metrics,
    numeric params) its mean, min and max over the group's runs."""
    label = headers([group_by])[group_by]
    if runs.empty or group_by not in runs.columns:
        return pd.DataFrame(columns=[label, "runs"])
    key = runs[group_by].astype("string").fillna("(none)").rename(group_by)
    table = key.groupby(key, sort=True).size().rename("runs").to_frame()
    if "created" in runs.columns:
        created = pd.to_datetime(runs["created"], utc=True, errors="coerce")
        span = created.groupby(key, sort=True).agg(["min", "max"])
        table["created"] = date_range(span["min"], span["max"], tz)
    if "duration" in runs.columns:
        seconds = pd.to_numeric(runs["duration"], errors="coerce").groupby(key, sort=True).mean()
        table["duration (mean)"] = durations(seconds)
    skip = {group_by, "run_id", "duration", "exit_code"}
    numbers = numeric_frame(runs.drop(columns=[c for c in skip if c in runs.columns]))
    names = headers(list(numbers.columns))
    grouped = numbers.groupby(key, sort=True)
    for column in numbers.columns:
        values = grouped[column].agg(["mean", "min", "max"])
        values.columns = [f"{names[column]} {stat}" for stat in values.columns]
        table = table.join(values)
    return table.rename_axis(label).reset_index()


def _numeric(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return False
    values = column.dropna()
    if len(values) and isinstance(values.iloc[0], pd.Timestamp):
        return False
    converted = pd.to_numeric(values, errors="coerce")
    return bool(len(converted)) and not converted.isna().any()


def numeric_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns of a runs table as floats (params arrive as text); never times."""
    out = pd.DataFrame(index=runs.index)
    for column in runs.columns:
        if column != "run_id" and _numeric(runs[column]):
            out[column] = pd.to_numeric(runs[column], errors="coerce").astype(np.float64)
    return out
