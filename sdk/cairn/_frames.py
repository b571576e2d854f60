"""DataFrames for ``cairn.Api``: pandas is an optional dependency of the reading calls only.

``pip install 'cairn-sdk[api]'`` installs pandas and pyarrow; a reading call without them raises
:class:`~cairn.errors.ConfigError` naming that extra, and everything else keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cairn.errors import ConfigError
from cairn.v1 import query_pb2, runs_pb2

if TYPE_CHECKING:
    import pandas as pd

EXTRA = "cairn-sdk[api]"
RUN_COLUMNS = (
    "run_id",
    "name",
    "project",
    "team",
    "status",
    "owner",
    "created_at",
    "finished_at",
)


def require_pandas(what: str) -> Any:
    try:
        import pandas
    except ImportError:
        raise ConfigError(
            f"{what} returns a pandas DataFrame: install the optional extra with "
            f"pip install '{EXTRA}' (pandas and pyarrow)",
            field="pandas",
            rule="optional_dependency",
        ) from None
    return pandas


def time_of(nanos: int) -> datetime | None:
    if not nanos:
        return None
    return datetime.fromtimestamp(nanos // 1_000_000_000, UTC).replace(
        microsecond=(nanos % 1_000_000_000) // 1_000
    )


def param_value(value: runs_pb2.ParamValue) -> float | int | bool | str | None:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    result: float | int | bool | str = getattr(value, kind)
    return result


def params_dict(params: Mapping[str, runs_pb2.ParamValue]) -> dict[str, Any]:
    return {key: param_value(params[key]) for key in sorted(params)}


def info_dict(info: query_pb2.RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "name": info.name,
        "project": info.project,
        "team": info.team,
        "status": info.status,
        "owner": info.owner,
        "created_at": time_of(info.created_at_ns),
        "finished_at": time_of(info.finished_at_ns),
    }


def runs_frame(rows: Iterable[query_pb2.RunRow]) -> pd.DataFrame:
    """One row per run: the run columns, then ``params.<key>``, ``metrics.<key>`` (last value)
    and ``tags.<key>``, each group sorted by key; a key a run lacks is missing (NaN/None)."""
    pandas = require_pandas("Api.runs")
    records: list[dict[str, Any]] = []
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for row in rows:
        record = info_dict(row.info)
        for key, value in params_dict(row.params).items():
            record[f"params.{key}"] = value
            params.add(key)
        for key, last in row.metrics.items():
            record[f"metrics.{key}"] = last
            metrics.add(key)
        for key, text in row.tags.items():
            record[f"tags.{key}"] = text
            tags.add(key)
        records.append(record)
    columns = [
        *RUN_COLUMNS,
        *(f"params.{k}" for k in sorted(params)),
        *(f"metrics.{k}" for k in sorted(metrics)),
        *(f"tags.{k}" for k in sorted(tags)),
    ]
    frame: pd.DataFrame = pandas.DataFrame.from_records(records, columns=columns)
    for column in ("created_at", "finished_at"):
        frame[column] = pandas.to_datetime(frame[column], utc=True)
    return frame
