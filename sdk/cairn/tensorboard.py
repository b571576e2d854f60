"""Import TensorBoard event files as Cairn runs: :func:`import_logdir`, ``cairn import tensorboard``.

Every directory under the logdir that holds ``events.out.tfevents.*`` files is one run, named by
its path relative to the logdir (the logdir's own name for files directly in it). Recorded:

- metrics: every scalar series (``add_scalar``; TF2's tensor scalars too) under its tag, made a
  valid key (``Loss/train`` stays, ``loss (val)`` becomes ``loss__val_``), with the original
  steps and wall times; a step written twice keeps its last value;
- params: the HParams plugin's session hparams (numbers that are whole become integers);
- tags ``cairn.import.source`` = ``tensorboard`` and ``tensorboard.run`` = the relative path.

``SummaryWriter.add_hparams`` writes its hparams and one value per metric into a new
sub-directory of the writer's directory. When a run directory with scalars has exactly one such
sub-directory, its params and metrics are merged into that run; several of them (one writer
trying several settings) stay separate runs.

Importing is idempotent. A run's id is derived from its relative path and its oldest event file's
name (which holds the writer's start time, host and process), shaped as a UUIDv7 whose time is
the run's first event: importing the same logdir again, from this machine or another, asks the
query service whether each run id exists and skips those that do ("already imported"); a run
sent moments ago that is not readable yet is caught by this machine's spool, and ingest refuses a
second creation of a run id either way: the store keeps one copy of each run and its points.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cairn
from cairn._flatten import Scalar
from cairn._framework_values import param_value, safe_key
from cairn._importing import run_exists
from cairn.config import Mode, Settings, resolve_settings
from cairn.errors import AlreadyExistsError, NotFoundError

try:
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cairn.tensorboard needs TensorBoard: pip install 'cairn-sdk[tensorboard]'"
    ) from exc

__all__ = ["ImportedRun", "TensorBoardRun", "find_runs", "import_logdir", "run_id_for"]

SOURCE_TAG = "cairn.import.source"
RUN_PATH_TAG = "tensorboard.run"
EVENT_FILE_MARKER = "tfevents"
_KEEP_EVERYTHING = dict.fromkeys(event_accumulator.DEFAULT_SIZE_GUIDANCE, 0)
_SESSION_START_TAG = "_hparams_/session_start_info"


@dataclass
class TensorBoardRun:
    """What one run directory holds: series as ``{tag: {step: (wall_time_s, value)}}``."""

    path: str  # relative to the logdir, "." for the logdir itself
    first_event_file: str
    first_wall_time: float
    scalars: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    hparams: dict[str, Scalar] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return sum(len(series) for series in self.scalars.values())

    def merge(self, other: TensorBoardRun) -> None:
        """Take in a sub-directory's hparams and series (``add_hparams``)."""
        self.hparams.update(other.hparams)
        for tag, series in other.scalars.items():
            self.scalars.setdefault(tag, {}).update(series)


@dataclass(frozen=True, slots=True)
class ImportedRun:
    run_id: str
    name: str
    path: str
    points: int
    params: int
    skipped: bool  # imported before (the query service knows the run, or this machine sent it)


def import_logdir(
    logdir: str | os.PathLike[str],
    *,
    project: str | None = None,
    name_prefix: str = "",
    settings: Settings | None = None,
) -> list[ImportedRun]:
    """Import every run under ``logdir`` (see the module docstring); returns one entry per run,
    ``skipped`` for runs this machine imported before. ``project`` and ``settings`` are passed to
    :func:`cairn.init` (default: the environment's)."""
    root = Path(logdir).expanduser().resolve()
    if not root.is_dir():
        raise NotFoundError(
            f"logdir: {str(root)!r} is not a directory (rule exists)", field="logdir", rule="exists"
        )
    imported = []
    for run in find_runs(root):
        name = f"{name_prefix}{root.name if run.path == '.' else run.path}"
        imported.append(_record(run, name, project, settings))
    return imported


def find_runs(root: Path) -> list[TensorBoardRun]:
    """Read every run directory under ``root``, ``add_hparams`` sub-directories merged."""
    runs = {path: _read(root, path) for path in _run_directories(root)}
    hparams_children: dict[str, list[str]] = {}
    for path, run in runs.items():
        parent = os.path.dirname(path) or "."
        if path != "." and _written_by_add_hparams(run) and parent in runs and runs[parent].scalars:
            hparams_children.setdefault(parent, []).append(path)
    for parent, children in hparams_children.items():
        if len(children) == 1:
            runs[parent].merge(runs.pop(children[0]))
    return sorted(runs.values(), key=lambda r: (r.first_wall_time, r.path))


def _written_by_add_hparams(run: TensorBoardRun) -> bool:
    """``add_hparams`` leaves hparams and one value per metric; a run of its own has series."""
    return bool(run.hparams) and all(len(series) <= 1 for series in run.scalars.values())


def run_id_for(run: TensorBoardRun) -> str:
    """A UUIDv7-shaped id fixed by the run's path and oldest event file; its time is the run's
    first event, so imported runs sort by when they were written."""
    digest = hashlib.sha256(f"{run.path}\n{run.first_event_file}".encode()).digest()
    millis = max(0, int(run.first_wall_time * 1000)) & 0xFFFF_FFFF_FFFF
    bits = int.from_bytes(digest[:10], "big")
    value = millis << 80 | 0x7 << 76 | (bits >> 68) << 64 | 0b10 << 62 | bits & ((1 << 62) - 1)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _run_directories(root: Path) -> Iterator[str]:
    for directory, _, files in os.walk(root):
        if any(EVENT_FILE_MARKER in name for name in files):
            yield os.path.relpath(directory, root)


def _read(root: Path, path: str) -> TensorBoardRun:
    directory = root / path
    event_files = sorted(
        (name for name in os.listdir(directory) if EVENT_FILE_MARKER in name), key=_written_at
    )
    accumulator = event_accumulator.EventAccumulator(str(directory), size_guidance=_KEEP_EVERYTHING)
    accumulator.Reload()
    try:
        first = float(accumulator.FirstEventTimestamp())
    except ValueError:  # no events at all
        first = (directory / event_files[0]).stat().st_mtime
    run = TensorBoardRun(path.replace(os.sep, "/"), event_files[0], first)
    tags = accumulator.Tags()
    for tag in tags.get(event_accumulator.SCALARS, []):
        series = run.scalars.setdefault(tag, {})
        for event in accumulator.Scalars(tag):
            series[int(event.step)] = (float(event.wall_time), float(event.value))
    for tag in tags.get(event_accumulator.TENSORS, []):
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        series = run.scalars.setdefault(tag, {})
        for tensor_event in accumulator.Tensors(tag):
            value = tensor_util.make_ndarray(tensor_event.tensor_proto)
            series[int(tensor_event.step)] = (float(tensor_event.wall_time), float(value.item()))
    run.hparams = _hparams(accumulator)
    return run


def _written_at(event_file_name: str) -> tuple[int, str]:
    """Event files are named ``events.out.tfevents.<unix time>.<host>...``: oldest first."""
    parts = event_file_name.split(".")
    stamp = parts[3] if len(parts) > 3 and parts[3].isdigit() else "0"
    return int(stamp), event_file_name


def _hparams(accumulator: Any) -> dict[str, Scalar]:
    try:
        contents = accumulator.PluginTagToContent("hparams")
    except KeyError:  # no HParams data in this directory
        return {}
    content = contents.get(_SESSION_START_TAG)
    if content is None:
        return {}
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    params: dict[str, Scalar] = {}
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            number = value.number_value
            whole = math.isfinite(number) and number.is_integer()
            params[safe_key(name)] = int(number) if whole else number
        elif kind == "string_value":
            params[safe_key(name)] = param_value(value.string_value)
        elif kind == "bool_value":
            params[safe_key(name)] = value.bool_value
    return params


def _record(
    run: TensorBoardRun, name: str, project: str | None, settings: Settings | None
) -> ImportedRun:
    run_id = run_id_for(run)
    tags = {SOURCE_TAG: "tensorboard", RUN_PATH_TAG: run.path}
    if settings is not None and project is not None:
        settings, project = replace(settings, project=project), None
    target_settings = settings or resolve_settings({"project": project})
    if target_settings.mode is Mode.ONLINE and run_exists(target_settings, run_id):
        # Imported before (from any machine): ingest would refuse it as ALREADY_EXISTS.
        return ImportedRun(run_id, name, run.path, run.points, len(run.hparams), skipped=True)
    try:
        target = cairn.init(
            project=project,
            name=name,
            config=run.hparams,
            tags=tags,
            run_id=run_id,
            settings=settings,
        )
    except AlreadyExistsError:
        return ImportedRun(run_id, name, run.path, run.points, len(run.hparams), skipped=True)
    with target:
        for tag, series in run.scalars.items():
            if not series:
                continue
            steps = sorted(series)
            target.log_series(
                safe_key(tag),
                steps,
                [series[step][1] for step in steps],
                [int(series[step][0] * 1e9) for step in steps],
            )
    return ImportedRun(run_id, name, run.path, run.points, len(run.hparams), skipped=False)
