"""Import a ``neptune-exporter`` export into Cairn: :func:`import_neptune_export`,
``cairn import neptune-export DATA_PATH --files FILES_PATH``.

``neptune-exporter export`` writes one directory per Neptune project under ``--data-path``,
each run as ``<run>_part_<n>.parquet`` files of one schema: ``project_id``, ``run_id``,
``attribute_path``, ``attribute_type`` (``float int string bool datetime string_set
float_series string_series histogram_series file file_series``), ``step`` (decimal),
``timestamp`` (ms, UTC) and one typed value column per kind (``float_value``, ``int_value``,
``string_value``, ``bool_value``, ``datetime_value``, ``string_set_value``, ``file_value.path``,
``histogram_value.{type,edges,values}``). Downloaded files live under ``--files-path``, in a directory named
like the project's data directory, at the relative path ``file_value.path`` names. Mapping:

- Neptune project ``workspace/name`` -> project ``name`` (made a slug);
- run -> run named by its ``sys/custom_run_id`` (Neptune 3) or ``run_id`` (``SAN-1``), with a
  Cairn id derived from project and run id; tags ``neptune.run_id``, ``neptune.project`` and
  ``neptune.experiment`` (``sys/name``); ``sys/tags`` become tags ``neptune.tag.<tag>=true``;
- other single values (``float int string bool datetime string_set``) outside ``sys/`` -> params;
- ``float_series`` -> metrics, every point with its step and timestamp (decimal steps times
  ``step_multiplier`` must be whole numbers); ``histogram_series`` -> histograms;
- ``file`` -> an artifact named by the attribute path; ``file_series`` -> one artifact per step
  (``path@step``);
- forks (``sys/forking/parent``, ``sys/forking/step``) -> tags ``cairn.forked_from`` (the
  parent's Cairn id), ``cairn.fork_step`` and ``neptune.forking.parent``; parents import first.

``string_series`` and Neptune 2.x model-registry objects are not imported (the summary counts
what was left out). Importing twice adds nothing: runs the query service knows are skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from cairn._framework_values import safe_key
from cairn._importing import (
    ORIGINAL_ID_TAG,
    SOURCE_TAG,
    ImportSummary,
    Progress,
    derived_run_id,
    run_exists,
    start_imported_run,
)
from cairn.config import Settings, resolve_settings
from cairn.errors import AlreadyExistsError, NotFoundError, ValidationError

try:
    import pyarrow.parquet as pq
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cairn import neptune-export needs pyarrow: pip install 'cairn-sdk[import]'"
    ) from exc

__all__ = ["NeptuneRun", "import_neptune_export", "read_export", "run_id_for"]

SOURCE = "neptune"
SCALAR_TYPES = frozenset({"float", "int", "string", "bool", "datetime", "string_set"})
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")
_VALUE_COLUMN = {
    "float": "float_value",
    "int": "int_value",
    "string": "string_value",
    "bool": "bool_value",
    "datetime": "datetime_value",
    "string_set": "string_set_value",
}


@dataclass
class NeptuneRun:
    """One exported run, read from all its parts."""

    project_id: str
    run_id: str
    directory: str = ""  # the project's (sanitised) directory name under the data path
    values: dict[str, Any] = field(default_factory=dict)  # scalars, sys/ included
    series: dict[str, list[tuple[Decimal, int | None, float]]] = field(default_factory=dict)
    histograms: dict[str, list[tuple[Decimal, dict[str, Any]]]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # attribute path -> relative file path
    file_series: dict[str, list[tuple[Decimal, str]]] = field(default_factory=dict)
    skipped_series: int = 0  # string series: not imported

    @property
    def name(self) -> str:
        return str(self.values.get("sys/custom_run_id") or self.run_id)

    @property
    def project(self) -> str:
        tail = self.project_id.rsplit("/", 1)[-1].lower()
        return _NOT_SLUG.sub("-", tail).strip("-_")[:64].rstrip("-_") or "default"

    @property
    def fork_parent(self) -> str:
        return str(self.values.get("sys/forking/parent") or "")

    @property
    def started_at_s(self) -> float:
        created: Any = self.values.get("sys/creation_time")
        if created is not None and hasattr(created, "timestamp"):
            return float(created.timestamp())
        stamps = [t for points in self.series.values() for _, t, _ in points if t is not None]
        return min(stamps) / 1000 if stamps else 0.0


def run_id_for(project_id: str, run_id: str, started_at_s: float) -> str:
    return derived_run_id(SOURCE, f"{project_id}\n{run_id}", started_at_s)


def read_export(data_path: str | os.PathLike[str]) -> list[NeptuneRun]:
    """Every run of every project under ``data_path``, forked runs after their parents."""
    root = Path(data_path).expanduser()
    if not root.is_dir():
        raise NotFoundError(
            f"data_path: {str(root)!r} is not a directory (rule exists)",
            field="data_path",
            rule="exists",
        )
    runs: dict[tuple[str, str], NeptuneRun] = {}
    for part in sorted(root.rglob("*.parquet")):
        for row in _rows(part):
            key = (row["project_id"], row["run_id"])
            run = runs.get(key) or runs.setdefault(key, NeptuneRun(*key, part.parent.name))
            _take(run, row)
    ordered = sorted(runs.values(), key=lambda r: (r.started_at_s, r.run_id))
    by_id = {r.run_id: r for r in ordered}
    placed: list[NeptuneRun] = []
    seen: set[str] = set()

    def place(run: NeptuneRun) -> None:
        if run.run_id in seen:
            return
        seen.add(run.run_id)
        parent = by_id.get(run.fork_parent)
        if parent is not None:
            place(parent)
        placed.append(run)

    for run in ordered:
        place(run)
    return placed


def _rows(part: Path) -> Iterator[dict[str, Any]]:
    table = pq.read_table(part)
    for batch in table.to_batches(max_chunksize=65_536):
        yield from batch.to_pylist()


def _take(run: NeptuneRun, row: dict[str, Any]) -> None:
    kind, path = row.get("attribute_type"), row["attribute_path"]
    step = row.get("step")
    stamp = row.get("timestamp")
    millis = int(stamp.timestamp() * 1000) if stamp is not None else None
    if kind in SCALAR_TYPES:
        run.values[path] = row.get(_VALUE_COLUMN[kind])
    elif kind == "float_series":
        run.series.setdefault(path, []).append(
            (Decimal(step or 0), millis, float(row["float_value"]))
        )
    elif kind == "histogram_series":
        run.histograms.setdefault(path, []).append((Decimal(step or 0), row["histogram_value"]))
    elif kind == "file":
        run.files[path] = (row.get("file_value") or {}).get("path", "")
    elif kind == "file_series":
        relative = (row.get("file_value") or {}).get("path", "")
        run.file_series.setdefault(path, []).append((Decimal(step or 0), relative))
    elif kind == "string_series":
        run.skipped_series += 1


def _whole(step: Decimal, multiplier: int, where: str) -> int:
    scaled = step * multiplier
    if scaled != scaled.to_integral_value():
        raise ValidationError(
            f"step: {where} has step {step}, not whole after --step-multiplier {multiplier} "
            "(rule whole_step); pass a larger --step-multiplier",
            field="step",
            rule="whole_step",
        )
    return int(scaled)


def import_neptune_export(
    data_path: str | os.PathLike[str],
    files_path: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    step_multiplier: int = 1,
    settings: Settings | None = None,
    progress: Callable[[int, str], Progress] | None = None,
) -> ImportSummary:
    """Import every run under ``data_path`` (files from ``files_path``); see the module doc."""
    files_root = Path(files_path).expanduser()
    base = settings or resolve_settings({})
    summary = ImportSummary(f"neptune-export {data_path}", dry_run=dry_run)
    runs = read_export(data_path)
    ids = {r.run_id: run_id_for(r.project_id, r.run_id, r.started_at_s) for r in runs}
    bar = (progress or (lambda total, unit: Progress(total, unit)))(len(runs), "runs")
    skipped_series = 0
    for run in runs:
        target = replace(base, project=run.project)
        cairn_id = ids[run.run_id]
        if run_exists(target, cairn_id):
            summary.skipped += 1
        else:
            _import_run(run, cairn_id, ids, target, files_root, step_multiplier, summary, dry_run)
            skipped_series += run.skipped_series
        bar.step(run.name)
    if skipped_series:
        summary.notes.append(f"{skipped_series} string-series points not imported")
    return summary


def _import_run(
    run: NeptuneRun,
    cairn_id: str,
    ids: dict[str, str],
    settings: Settings,
    files_root: Path,
    multiplier: int,
    summary: ImportSummary,
    dry: bool,
) -> None:
    params = {
        safe_key(path): _param(value)
        for path, value in run.values.items()
        if not path.startswith("sys/") and value is not None
    }
    tags: dict[str, Any] = {
        SOURCE_TAG: SOURCE,
        ORIGINAL_ID_TAG: run.run_id,
        "neptune.run_id": run.run_id,
        "neptune.project": run.project_id,
    }
    if run.values.get("sys/name"):
        tags["neptune.experiment"] = str(run.values["sys/name"])
    for tag in run.values.get("sys/tags") or ():
        tags[f"neptune.tag.{safe_key(tag)}"] = "true"
    if run.fork_parent:
        tags["neptune.forking.parent"] = run.fork_parent
        tags["cairn.fork_step"] = str(run.values.get("sys/forking/step", ""))
        if run.fork_parent in ids:
            tags["cairn.forked_from"] = ids[run.fork_parent]
    series = {key: _points(key, points, multiplier) for key, points in sorted(run.series.items())}
    files = [(path, relative) for path, relative in sorted(run.files.items()) if relative]
    for path, points in sorted(run.file_series.items()):
        for step, relative in sorted(points):
            files.append((f"{path}@{_whole(step, multiplier, path)}", relative))
    points_count = sum(len(steps) for steps, _, _ in series.values())
    if dry:
        _count(summary, points_count, len(params), len(files))
        return
    started = int(run.started_at_s * 1e9) or None
    try:
        target = start_imported_run(
            settings,
            run_id=cairn_id,
            name=run.name,
            config=params,
            tags=tags,
            started_at_ns=started,
        )
    except AlreadyExistsError:
        summary.skipped += 1
        return
    for key, (steps, values, stamps) in series.items():
        target.log_series(safe_key(key), steps, values, stamps)
    for path, histogram in sorted(run.histograms.items()):
        for step, payload in sorted(histogram, key=lambda item: item[0]):
            target.log_histogram(
                safe_key(path),
                step=_whole(step, multiplier, path),
                edges=list(payload["edges"]),
                counts=list(payload["values"]),
            )
    for name, relative in files:
        # file_value.path is relative to the project's directory under --files-path (the
        # directory named like the data path's); accept a path relative to --files-path too.
        source = files_root / run.directory / relative
        if not source.exists():
            source = files_root / relative
        if not source.exists():
            summary.notes.append(f"{run.run_id} {name}: {relative} is not under --files")
            continue
        target.log_artifact(source, name=name)
    target.finish()
    _count(summary, points_count, len(params), len(files))


def _count(summary: ImportSummary, points: int, params: int, artifacts: int) -> None:
    summary.imported += 1
    summary.points += points
    summary.params += params
    summary.artifacts += artifacts


def _points(
    key: str, points: list[tuple[Decimal, int | None, float]], multiplier: int
) -> tuple[list[int], list[float], list[int]]:
    """Steps, values and timestamps (ns) of one series; a step recorded twice keeps the later."""
    last: dict[int, tuple[int | None, float]] = {}
    for step, millis, value in sorted(points, key=lambda p: (p[0], p[1] or 0)):
        last[_whole(step, multiplier, key)] = (millis, value)
    steps = sorted(last)
    fallback = [m for m, _ in last.values() if m is not None]
    default = min(fallback) if fallback else 0
    stamps = [(_or(last[s][0], default)) * 1_000_000 for s in steps]
    return steps, [last[s][1] for s in steps], stamps


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _param(value: Any) -> Any:
    if isinstance(value, list | set | tuple):
        return ",".join(sorted(str(v) for v in value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
