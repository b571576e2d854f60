"""What a reproduction needs to know about a run, and where it reads it from.

:class:`RunRecord` is the run's recorded capture, flattened into plain values: it is what the
query service's ``GetRun`` answers (see :mod:`cairn.reproduce._service`), and what unit tests
build by hand. :class:`RunRecordSource` is the one seam between the reproduction engine and the
server, so the engine's logic is tested without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

TERMINAL_STATUSES = frozenset({"finished", "failed", "killed"})

# Tags a reproduction run carries (set by ``cairn.init`` from the reproduction context).
TAG_REPRODUCES = "cairn.reproduces"
TAG_OVERRIDES = "cairn.reproduce.params_overridden"
TAG_PACKAGES = "cairn.reproduce.packages_changed"
TAG_DATA = "cairn.reproduce.data_changed"
TAG_CODE = "cairn.reproduce.code_changed"


@dataclass(frozen=True, slots=True)
class CodeRecord:
    git_remote: str
    commit: str
    branch: str = ""
    dirty: bool = False
    diff: str = ""  # the uncommitted patch against ``commit`` (``git diff HEAD``)
    diff_truncated: bool = False  # the SDK cut the patch at its size limit: not restorable
    diff_sha256: str = ""  # of the whole patch, truncated or not
    entry_point: str = ""  # the script, relative to the repository root


@dataclass(frozen=True, slots=True)
class DatasetInput:
    name: str
    uri: str
    digest: str  # "sha256:<hex>"
    manifest_digest: str = ""
    file_count: int = 0
    role: str = "input"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's recorded capture. Values are as the store keeps them (params as text)."""

    run_id: str
    name: str = ""
    team: str = ""
    project: str = ""
    status: str = ""
    command_line: tuple[str, ...] = ()
    code: CodeRecord | None = None
    python_version: str = ""
    packages: Mapping[str, str] = field(default_factory=dict)  # name -> version
    container_image: str = ""
    container_digest: str = ""
    datasets: tuple[DatasetInput, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> tuple[DatasetInput, ...]:
        return tuple(d for d in self.datasets if d.role == "input")

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


Points = Mapping[str, Sequence[tuple[int, float]]]  # metric key -> (step, value), step order


class RunRecordSource(Protocol):
    """Reads runs the caller may see; raises :class:`cairn.errors.NotFoundError` otherwise."""

    def get_run(self, run_id: str) -> RunRecord: ...

    def metric_points(self, run_id: str) -> Points:
        """Every point of every metric the run logged."""
        ...
