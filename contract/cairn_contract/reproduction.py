"""A reproduction, as the SDK and the server parts agree on it: a run's recorded capture
(:class:`RunRecord`) and the report comparing a reproduction with its original.

``cairn reproduce`` (SDK) builds the report right after the re-run; the query layer builds the
same report from the store for the portal and ``cairn diff``. Metrics are compared step by step
(the largest absolute deviation over the steps both runs logged) and by their final values;
code, environment and data by what each run recorded. The verdict is ``identical`` only when every
metric matches at every step and nothing else differs. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

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

    @classmethod
    def of(cls, recorded: Any) -> CodeRecord:
        """The record of any recorded code version with these fields as attributes (the query
        layer's ``CodeVersion``, the query service's ``CodeVersion`` message): one mapping for
        both readers of a run's record."""
        return cls(**{f.name: getattr(recorded, f.name) for f in fields(cls)})


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


# Packages whose version follows the machine, not the experiment: differences are reported
# but never make a reproduction "differ".
_TOOLING = frozenset({"pip", "setuptools", "wheel", "uv", "cairn-sdk", "cairn-contract"})


@dataclass(frozen=True, slots=True)
class MetricComparison:
    key: str
    original_final: float | None
    reproduction_final: float | None
    max_step_deviation: (
        float  # max |a - b| over steps both logged; inf when a value is NaN on one side
    )
    steps_compared: int
    steps_missing: int  # logged by the original, not by the reproduction
    steps_extra: int  # logged by the reproduction only

    @property
    def identical(self) -> bool:
        return (
            self.max_step_deviation == 0.0
            and self.steps_missing == 0
            and self.steps_extra == 0
            and self.original_final is not None
            and self.reproduction_final is not None
        )


@dataclass(frozen=True, slots=True)
class Change:
    what: str
    original: str
    reproduction: str


@dataclass(frozen=True, slots=True)
class ReproductionReport:
    original_id: str
    reproduction_id: str
    metrics: tuple[MetricComparison, ...]
    params: tuple[Change, ...]  # overridden or otherwise different params
    code: tuple[Change, ...]
    environment: tuple[Change, ...]  # python and package versions (tooling excluded)
    tooling: tuple[Change, ...]  # pip, setuptools, cairn-sdk ...: shown, never decisive
    data: tuple[Change, ...]

    @property
    def identical(self) -> bool:
        return (
            bool(self.metrics)
            and all(m.identical for m in self.metrics)
            and not (self.params or self.code or self.environment or self.data)
        )

    @property
    def verdict(self) -> str:
        if self.identical:
            return "identical"
        reasons = []
        deviating = [m.key for m in self.metrics if not m.identical]
        if not self.metrics:
            reasons.append("no metrics to compare")
        if deviating:
            reasons.append(f"metrics deviate ({', '.join(deviating)})")
        for label, changes in (
            ("params", self.params),
            ("code", self.code),
            ("environment", self.environment),
            ("data", self.data),
        ):
            if changes:
                reasons.append(f"{label} differ ({', '.join(c.what for c in changes)})")
        return "differs: " + "; ".join(reasons)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def compare_metrics(original: Points, reproduction: Points) -> tuple[MetricComparison, ...]:
    out = []
    for key in sorted(set(original) | set(reproduction)):
        a = dict(original.get(key, ()))
        b = dict(reproduction.get(key, ()))
        common = sorted(set(a) & set(b))
        deviation = 0.0
        for step in common:
            if _same(a[step], b[step]):
                continue
            if math.isnan(a[step]) or math.isnan(b[step]):
                deviation = math.inf
            else:
                deviation = max(deviation, abs(a[step] - b[step]))
        out.append(
            MetricComparison(
                key=key,
                original_final=a[max(a)] if a else None,
                reproduction_final=b[max(b)] if b else None,
                max_step_deviation=deviation,
                steps_compared=len(common),
                steps_missing=len(set(a) - set(b)),
                steps_extra=len(set(b) - set(a)),
            )
        )
    return tuple(out)


def _mapping_changes(
    before: Mapping[str, str], after: Mapping[str, str], prefix: str = ""
) -> list[Change]:
    return [
        Change(f"{prefix}{key}", before.get(key, "(absent)"), after.get(key, "(absent)"))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _code_changes(original: RunRecord, reproduction: RunRecord) -> list[Change]:
    a, b = original.code, reproduction.code
    if a is None and b is None:
        return []
    if a is None or b is None:
        return [
            Change("code", "recorded" if a else "not recorded", "recorded" if b else "not recorded")
        ]
    changes = []
    if a.commit != b.commit:
        changes.append(Change("commit", a.commit, b.commit))
    patch_a = a.diff_sha256 if a.dirty else ""
    patch_b = b.diff_sha256 if b.dirty else ""
    if patch_a != patch_b:
        changes.append(Change("uncommitted patch", patch_a or "(clean)", patch_b or "(clean)"))
    return changes


def _package_changes(
    original: RunRecord, reproduction: RunRecord
) -> tuple[list[Change], list[Change]]:
    if not original.packages or not reproduction.packages:
        return [], []  # one side did not capture packages: nothing to compare
    changes = _mapping_changes(
        {k.lower(): v for k, v in original.packages.items()},
        {k.lower(): v for k, v in reproduction.packages.items()},
        "package ",
    )
    environment = [c for c in changes if c.what.removeprefix("package ") not in _TOOLING]
    tooling = [c for c in changes if c.what.removeprefix("package ") in _TOOLING]
    return environment, tooling


def _data_changes(original: RunRecord, reproduction: RunRecord) -> list[Change]:
    before = {d.name: d.digest for d in original.inputs}
    after = {d.name: d.digest for d in reproduction.inputs}
    return _mapping_changes(before, after, "dataset ")


def build_report(
    original: RunRecord,
    reproduction: RunRecord,
    original_points: Points,
    reproduction_points: Points,
) -> ReproductionReport:
    environment, tooling = _package_changes(original, reproduction)
    if (
        original.python_version
        and reproduction.python_version
        and original.python_version != reproduction.python_version
    ):
        environment.insert(
            0, Change("python", original.python_version, reproduction.python_version)
        )
    return ReproductionReport(
        original_id=original.run_id,
        reproduction_id=reproduction.run_id,
        metrics=compare_metrics(original_points, reproduction_points),
        params=tuple(_mapping_changes(original.params, reproduction.params, "")),
        code=tuple(_code_changes(original, reproduction)),
        environment=tuple(environment),
        tooling=tuple(tooling),
        data=tuple(_data_changes(original, reproduction)),
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"


def format_report(report: ReproductionReport) -> str:
    """The report as plain text: the verdict first, then what was compared."""
    lines = [
        f"reproduction {report.reproduction_id} of {report.original_id}: {report.verdict}",
        "",
        "metrics (final original -> reproduction; max deviation over steps)",
    ]
    for m in report.metrics:
        extra = ""
        if m.steps_missing or m.steps_extra:
            extra = f"; {m.steps_missing} steps missing, {m.steps_extra} extra"
        lines.append(
            f"  {m.key}: {_number(m.original_final)} -> {_number(m.reproduction_final)};"
            f" max deviation {m.max_step_deviation:.3g} over {m.steps_compared} steps{extra}"
        )
    if not report.metrics:
        lines.append("  (neither run logged metrics)")
    for label, changes in (
        ("params", report.params),
        ("code", report.code),
        ("environment", report.environment),
        ("tooling (not decisive)", report.tooling),
        ("data", report.data),
    ):
        lines.append(f"{label}: {'same' if not changes else ''}".rstrip())
        lines.extend(f"  {c.what}: {c.original} -> {c.reproduction}" for c in changes)
    return "\n".join(lines) + "\n"
