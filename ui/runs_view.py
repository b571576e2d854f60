"""The Runs table's state (kept in the URL) and its grouping.

The state is a :class:`RunsView`; :meth:`RunsView.from_params` and :meth:`RunsView.to_params`
map it to and from query parameters, so the address bar always reproduces the table: filter,
columns, order, grouping and page size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from domain.filters import ATTRIBUTES

DEFAULT_COLUMNS = ("name", "project", "owner", "status", "created", "duration")
ATTRIBUTE_COLUMNS = tuple(
    dict.fromkeys(name for name, _ in ATTRIBUTES.values() if name != "run_id")
)
LIMITS = (100, 1_000, 10_000)
DEFAULT_LIMIT = 10_000
DEFAULT_ORDER = "created desc"


@dataclass(frozen=True)
class RunsView:
    filter: str = ""
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    order_by: str = DEFAULT_ORDER
    group_by: str = ""  # a column (``params.max_depth``, ``tags.stage``, ``owner``) or ''
    limit: int = DEFAULT_LIMIT
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunsView:
        columns = tuple(c for c in params.get("cols", "").split(",") if c) or DEFAULT_COLUMNS
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
        if self.columns != DEFAULT_COLUMNS:
            out["cols"] = ",".join(self.columns)
        if self.order_by != DEFAULT_ORDER:
            out["sort"] = self.order_by
        if self.group_by:
            out["group"] = self.group_by
        if self.limit != DEFAULT_LIMIT:
            out["limit"] = str(self.limit)
        return out

    @property
    def query_columns(self) -> tuple[str, ...]:
        """What to fetch: the run id (for selection), the visible columns, the group key."""
        wanted = ["run_id", *self.columns]
        if self.group_by:
            wanted.append(self.group_by)
        return tuple(dict.fromkeys(wanted))

    @property
    def sort_column(self) -> str:
        return self.order_by.split()[0] if self.order_by else "created"

    @property
    def descending(self) -> bool:
        return self.order_by.lower().endswith(" desc")


def order_spec(column: str, descending: bool) -> str:
    return f"{column} {'desc' if descending else 'asc'}"


def column_choices(params: Sequence[str], tags: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """Every column the chooser offers: the run's attributes, then params, tags and metrics."""
    return [
        *ATTRIBUTE_COLUMNS,
        *(f"params.{k}" for k in params),
        *(f"tags.{k}" for k in tags),
        *(f"metrics.{k}" for k in metrics),
    ]


def group_table(runs: pd.DataFrame, group_by: str) -> pd.DataFrame:
    """One row per value of ``group_by``: the number of runs and, for every numeric column
    (metrics, numeric params), its mean, min and max over the group's runs."""
    if runs.empty or group_by not in runs.columns:
        return pd.DataFrame(columns=[group_by, "runs"])
    key = runs[group_by].astype("string").fillna("(none)").rename(group_by)
    numbers = numeric_frame(runs.drop(columns=[group_by]))
    grouped = numbers.groupby(key, sort=True)
    table = key.groupby(key, sort=True).size().rename("runs").to_frame()
    for column in numbers.columns:
        values = grouped[column].agg(["mean", "min", "max"])
        values.columns = [f"{column} {stat}" for stat in values.columns]
        table = table.join(values)
    return table.reset_index()


def _numeric(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    converted = pd.to_numeric(column.dropna(), errors="coerce")
    return bool(len(converted)) and not converted.isna().any()


def numeric_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns of a runs table as floats (params arrive as text)."""
    out = pd.DataFrame(index=runs.index)
    for column in runs.columns:
        if column != "run_id" and _numeric(runs[column]):
            out[column] = pd.to_numeric(runs[column], errors="coerce").astype(np.float64)
    return out
