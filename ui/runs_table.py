"""Turning a ``search_runs`` result into the table people read and the files they download
(vectorised: 10,000 rows cost milliseconds).

The name cell is a link to the run's permalink: the cell's value is the URL with the name,
percent-encoded, as its fragment, and the grid shows the decoded fragment (a regular expression
in the column's ``display_text``), so the name is drawn as text on the grid's canvas and never
becomes markup, whatever it contains.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from reports.format import People
from ui.runs_columns import describe, headers, split
from ui.runs_format import local_times, run_durations

_PEOPLE_COLUMNS = ("owner", "created_by")
_TIME_COLUMNS = ("created", "started", "finished")
TIME_FORMAT = "YYYY-MM-DD HH:mm"
NUMBER_FORMAT = "%.4g"  # four significant digits: 0.8765, 1.235e+06, 0.0001234
# The name shown in a link cell: the URL's fragment, decoded by the grid.
NAME_IN_LINK = r"#([^#]*)$"


def _names(runs: pd.DataFrame) -> pd.Series:
    """Run names; a run without one is called by its id's first 8 characters."""
    ids = runs["run_id"].astype(str)
    names = runs["name"].astype("string") if "name" in runs.columns else ids.str[:8]
    return names.fillna("").where(names.fillna("") != "", ids.str[:8]).astype(str)


def name_links(runs: pd.DataFrame, run_url_prefix: str) -> pd.Series:
    """Each run's permalink (``<prefix><run id>``) with its name as the fragment."""
    names = _names(runs).map(lambda name: quote(name, safe=""))
    return run_url_prefix + runs["run_id"].astype(str).map(quote) + "#" + names


def _params_as_numbers(out: pd.DataFrame) -> None:
    for column in out.columns:
        if split(column)[0] == "params" and not pd.api.types.is_numeric_dtype(out[column]):
            numbers = pd.to_numeric(out[column], errors="coerce")
            if numbers.notna().sum() == out[column].notna().sum():
                out[column] = numbers


def display_frame(
    runs: pd.DataFrame,
    people: People,
    columns: Sequence[str],
    *,
    run_url_prefix: str,
    tz: str,
    now: datetime,
) -> pd.DataFrame:
    """The shown ``columns`` (plus ``run_id``, hidden, for selection): names as links, owners by
    name (former members marked), times in ``tz``, durations in words, params that are all
    numbers as numbers."""
    out = runs[[c for c in dict.fromkeys(["run_id", *columns]) if c in runs.columns]].copy()
    if "name" in out.columns:
        out["name"] = name_links(runs, run_url_prefix)
    for column in _PEOPLE_COLUMNS:
        if column in out.columns:
            names = {u: people.name(str(u)) for u in out[column].dropna().unique()}
            out[column] = out[column].map(names)
    for column in _TIME_COLUMNS:
        if column in out.columns:
            out[column] = local_times(out[column], tz)
    if "duration" in out.columns:
        started = runs["started"] if "started" in runs.columns else pd.Series(None, runs.index)
        out["duration"] = run_durations(runs["duration"], runs["status"], started, now)
    _params_as_numbers(out)
    return out


def table_config(frame: pd.DataFrame, tz: str) -> dict[str, Any]:
    """Readable headers (tooltips name the filter field), the name as a link, times in the
    reader's zone, numbers with four significant digits."""
    labels = headers([c for c in frame.columns if c != "run_id"])
    config: dict[str, Any] = {}
    for column, label in labels.items():
        help = describe(column)
        if column == "name":
            config[column] = st.column_config.LinkColumn(
                "name", display_text=NAME_IN_LINK, pinned=True, help="opens the run"
            )
        elif column in _TIME_COLUMNS:
            config[column] = st.column_config.DatetimeColumn(
                label, format=TIME_FORMAT, help=f"{column}, local time ({tz})"
            )
        elif column == "duration":
            config[column] = st.column_config.TextColumn(label, help="run time")
        elif pd.api.types.is_numeric_dtype(frame[column]) and split(column)[0]:
            config[column] = st.column_config.NumberColumn(label, format=NUMBER_FORMAT, help=help)
        else:
            config[column] = st.column_config.TextColumn(label, help=help)
    return config


def group_config(groups: pd.DataFrame) -> dict[str, Any]:
    """The group table's numbers with four significant digits."""
    return {
        column: st.column_config.NumberColumn(column, format=NUMBER_FORMAT)
        for column in groups.columns
        if column != "runs" and pd.api.types.is_float_dtype(groups[column])
    }


def export_frame(
    runs: pd.DataFrame, people: People, columns: Sequence[str], tz: str
) -> pd.DataFrame:
    """The shown rows and columns for a file: the run id first, readable headers, names as
    text, owners by name, times as ISO 8601 in ``tz``, durations in seconds."""
    shown = [c for c in dict.fromkeys(["run_id", *columns]) if c in runs.columns]
    out = runs[shown].copy()
    if "name" in out.columns:
        out["name"] = _names(runs)
    for column in _PEOPLE_COLUMNS:
        if column in out.columns:
            names = {u: people.name(str(u)) for u in out[column].dropna().unique()}
            out[column] = out[column].map(names)
    for column in _TIME_COLUMNS:
        if column in out.columns:
            out[column] = local_times(out[column], tz).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    _params_as_numbers(out)
    labels = {"run_id": "run_id", **headers([c for c in shown if c != "run_id"])}
    labels["duration"] = "duration (s)" if "duration" in out.columns else "duration"
    return out.rename(columns=labels)


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    # Mixed-type text columns (a param that is a number in one run, text in another) as text.
    typed = frame.copy()
    for column in typed.columns:
        if typed[column].dtype == object:
            typed[column] = typed[column].astype("string")
    typed.to_parquet(buffer, index=False)
    return buffer.getvalue()
