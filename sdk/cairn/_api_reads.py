"""The many-run reads of ``cairn.Api``: metric histories, comparisons, diffs and exports.

Histories and exports stream: the SDK turns each message into rows as it arrives, and an export
writes each Arrow batch to its file before reading the next, so memory stays flat whatever the
size of the project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn._frames import require_pandas, time_of
from cairn.errors import ValidationError
from cairn_contract.v1 import query_pb2

if TYPE_CHECKING:
    import pandas as pd

    from cairn._query_client import QueryClient

HISTORY_COLUMNS = ("run_id", "key", "step", "timestamp", "value")
BUCKET_COLUMNS = (*HISTORY_COLUMNS, "min", "max", "count")
EXPORT_FORMATS = ("parquet", "csv", "json")
EXPORT_TABLES = ("runs", "params", "tags", "metrics")


def _ids(values: Sequence[str] | str, field: str) -> list[str]:
    items = [values] if isinstance(values, str) else list(values)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ValidationError(f"{field} must be a non-empty list of ids", field=field)
    return items


def histories(
    client: QueryClient,
    run_ids: Sequence[str] | str,
    keys: Sequence[str] | str | None = None,
    samples: int | None = None,
) -> pd.DataFrame:
    pandas = require_pandas("Api.histories")
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise ValidationError(f"samples must be an integer >= 1, got {samples!r}", field="samples")
    wanted = [] if keys is None else ([keys] if isinstance(keys, str) else list(keys))
    request = query_pb2.MetricHistoryRequest(
        run_ids=_ids(run_ids, "run_ids"), keys=wanted, samples=samples or 0
    )
    columns: dict[str, list[Any]] = {name: [] for name in BUCKET_COLUMNS}
    for chunk in client.stream("MetricHistory", request):
        n = len(chunk.steps)
        columns["run_id"] += [chunk.run_id] * n
        columns["key"] += [chunk.key] * n
        columns["step"] += chunk.steps
        columns["timestamp"] += chunk.timestamps_ns
        columns["value"] += chunk.values
        if samples:
            columns["min"] += chunk.mins
            columns["max"] += chunk.maxs
            columns["count"] += chunk.counts
    names = BUCKET_COLUMNS if samples else HISTORY_COLUMNS
    frame: pd.DataFrame = pandas.DataFrame({name: columns[name] for name in names})
    frame["step"] = frame["step"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    frame["timestamp"] = pandas.to_datetime(frame["timestamp"].astype("int64"), unit="ns", utc=True)
    return frame


def scan_history(
    client: QueryClient, run_ids: Sequence[str] | str, keys: Sequence[str] | str | None = None
) -> Iterator[dict[str, Any]]:
    """Every point as a dict (``run_id, key, step, timestamp, value``; ``timestamp`` a UTC
    ``datetime``), ordered by run, key and step, as the stream delivers them: memory stays flat
    whatever the length of the histories, and pandas is not needed."""
    from datetime import UTC, datetime

    wanted = [] if keys is None else ([keys] if isinstance(keys, str) else list(keys))
    request = query_pb2.MetricHistoryRequest(run_ids=_ids(run_ids, "run_ids"), keys=wanted)
    for chunk in client.stream("MetricHistory", request):
        run_id, key = chunk.run_id, chunk.key
        for step, ns, value in zip(chunk.steps, chunk.timestamps_ns, chunk.values, strict=True):
            yield {
                "run_id": run_id,
                "key": key,
                "step": step,
                "timestamp": datetime.fromtimestamp(ns / 1e9, UTC),
                "value": value,
            }


def compare(client: QueryClient, run_ids: Sequence[str]) -> pd.DataFrame:
    """Rows are fields (``name``, ``status``, ``params.<key>``, ``metrics.<key>`` last values),
    columns the runs; ``.attrs`` holds ``same_code``, ``same_environment``, ``same_datasets`` and
    ``params_differing`` (the keys whose values differ)."""
    pandas = require_pandas("Api.compare")
    reply = client.call(
        "CompareRuns", query_pb2.CompareRunsRequest(run_ids=_ids(run_ids, "run_ids"))
    )
    ids = [info.run_id for info in reply.runs]
    rows: dict[str, list[Any]] = {
        "name": [i.name for i in reply.runs],
        "project": [i.project for i in reply.runs],
        "status": [i.status for i in reply.runs],
        "owner": [i.owner for i in reply.runs],
        "created_at": [time_of(i.created_at_ns) for i in reply.runs],
    }
    for key, value in sorted(reply.params_common.items()):
        rows[f"params.{key}"] = [value] * len(ids)
    for param in reply.params_differing:
        rows[f"params.{param.key}"] = [
            v if present else None for v, present in zip(param.values, param.present, strict=True)
        ]
    rows = dict(sorted(rows.items(), key=lambda item: (item[0].startswith("params."), item[0])))
    for metric in reply.metrics:
        rows[f"metrics.{metric.key}"] = [
            v if present else None for v, present in zip(metric.last, metric.present, strict=True)
        ]
    frame: pd.DataFrame = pandas.DataFrame.from_dict(rows, orient="index", columns=ids)
    frame.attrs.update(
        same_code=reply.same_code,
        same_environment=reply.same_environment,
        same_datasets=reply.same_datasets,
        params_differing=[p.key for p in reply.params_differing],
    )
    return frame


@dataclass(frozen=True)
class RunDiff:
    """What changed from run ``run_a`` to run ``run_b``; each change is ``(key, before, after)``
    with "" where one side lacks it. ``str()`` renders it as a readable report."""

    run_a: str
    run_b: str
    same_commit: bool
    same_patch: bool
    commit_a: str
    commit_b: str
    patch_diff: str
    compare_url: str
    params: list[tuple[str, str, str]] = field(default_factory=list)
    environment: list[tuple[str, str, str]] = field(default_factory=list)
    packages: list[tuple[str, str, str]] = field(default_factory=list)
    datasets: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return (
            self.same_commit
            and self.same_patch
            and not (self.params or self.environment or self.packages or self.datasets)
        )

    def __str__(self) -> str:
        lines = [f"diff {self.run_a} -> {self.run_b}"]
        code = (
            "same commit"
            if self.same_commit
            else f"{self.commit_a or '-'} -> {self.commit_b or '-'}"
        )
        lines.append(f"code: {code}; uncommitted patch {'same' if self.same_patch else 'differs'}")
        if self.compare_url:
            lines.append(f"  {self.compare_url}")
        for title, changes in (
            ("params", self.params),
            ("environment", self.environment),
            ("packages", self.packages),
            ("datasets", self.datasets),
        ):
            if changes:
                lines.append(f"{title}:")
                lines += [f"  {k}: {b or '-'} -> {a or '-'}" for k, b, a in changes]
        if self.patch_diff:
            lines += ["patch diff:", self.patch_diff.rstrip("\n")]
        if self.identical:
            lines.append("no differences in code, parameters, environment or data")
        return "\n".join(lines)


def diff(client: QueryClient, run_a: str, run_b: str) -> RunDiff:
    reply = client.call("DiffRuns", query_pb2.DiffRunsRequest(run_a=run_a, run_b=run_b))

    def changes(items: Iterable[query_pb2.FieldChange]) -> list[tuple[str, str, str]]:
        return [(c.key, c.before, c.after) for c in items]

    return RunDiff(
        run_a=reply.run_a,
        run_b=reply.run_b,
        same_commit=reply.same_commit,
        same_patch=reply.same_patch,
        commit_a=reply.code_a.commit,
        commit_b=reply.code_b.commit,
        patch_diff=reply.patch_diff,
        compare_url=reply.compare_url,
        params=changes(reply.params),
        environment=changes(reply.environment),
        packages=changes(reply.packages),
        datasets=changes(reply.datasets),
    )


Progress = Callable[[str, int, int], None]  # (table, rows written so far in it, total runs)


def export(
    client: QueryClient,
    path: str | Path,
    *,
    project: str | None,
    filter: str | None,
    format: str,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write ``runs``, ``params``, ``tags`` and ``metrics`` files into the directory ``path``
    (``.parquet``, ``.csv`` or ``.jsonl``), each batch as it arrives; returns rows per table."""
    if format not in EXPORT_FORMATS:
        raise ValidationError(
            f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}",
            field="format",
            rule="enum",
        )
    try:
        import pyarrow as pa
    except ImportError:
        require_pandas("Api.export")
        raise
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Any] = {}
    counts = dict.fromkeys(EXPORT_TABLES, 0)
    total = 0
    request = query_pb2.ExportRequest(project=project or "", filter=filter or "")
    try:
        for chunk in client.stream("Export", request):
            total = total or int(chunk.total_runs)
            batch = pa.ipc.open_stream(chunk.arrow_ipc).read_next_batch()
            writer = writers.get(chunk.table)
            if writer is None:
                writer = writers[chunk.table] = _writer(out, chunk.table, format, batch.schema)
            writer.write(batch)
            counts[chunk.table] = counts.get(chunk.table, 0) + batch.num_rows
            if progress is not None:
                progress(chunk.table, counts[chunk.table], total)
    finally:
        for writer in writers.values():
            writer.close()
    return counts


class _Writer:
    def __init__(self, target: Path, format: str, schema: Any) -> None:
        self._format = format
        self._target = target
        self._handle: Any = None
        if format == "parquet":
            import pyarrow.parquet as pq

            self._handle = pq.ParquetWriter(target, schema)
        elif format == "csv":
            import pyarrow.csv as pcsv

            self._handle = pcsv.CSVWriter(target, schema)
        else:
            self._handle = target.open("w")

    def write(self, batch: Any) -> None:
        if self._format == "json":
            import json

            for row in batch.to_pylist():
                self._handle.write(json.dumps(row, default=str) + "\n")
        else:
            self._handle.write(batch)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _writer(out: Path, table: str, format: str, schema: Any) -> _Writer:
    suffix = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}[format]
    return _Writer(out / f"{table}.{suffix}", format, schema)
