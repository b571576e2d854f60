"""The plan of a reproduction: what will be cloned, installed, verified and run.

Built from the run's record without changing anything on disk (data is only hashed), so
``--dry-run`` prints exactly what ``cairn reproduce`` would do, and the refusals it would make
(a truncated patch, a changed dataset) show before any clone or install starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cairn.artifacts import ArtifactStore
from cairn.errors import ValidationError
from cairn.reproduce._code import restorable
from cairn.reproduce._data import DataCheck, check_dataset
from cairn.reproduce._environment import wanted_packages
from cairn.reproduce._record import RunRecord

EnvMode = Literal["venv", "current"]
DataMode = Literal["verify", "fetch"]


@dataclass(frozen=True, slots=True)
class ReproduceOptions:
    workdir: Path
    overrides: Mapping[str, str] = field(default_factory=dict)
    env: EnvMode = "venv"
    data: DataMode = "verify"
    repo: str | None = None
    wait_timeout_s: float = 180.0  # for the reproduction to show up in the store


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``["lr=0.1", "model.depth=4"]`` -> ``{"lr": "0.1", "model.depth": "4"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(
                f"--set: {item!r} must be key=value (rule key_value)",
                field="--set",
                rule="key_value",
            )
        out[key.strip()] = value
    return out


@dataclass(frozen=True, slots=True)
class Plan:
    record: RunRecord
    options: ReproduceOptions
    code_source: str  # what will be cloned
    code_problem: str  # why the code cannot be restored ('' when it can)
    packages: tuple[tuple[str, str], ...]  # pinned installs (empty with --env current)
    data: tuple[DataCheck, ...]
    script_args: tuple[
        str, ...
    ]  # the recorded command after the interpreter, relative to the clone

    @property
    def code_dir(self) -> Path:
        return self.options.workdir / "code"

    @property
    def venv_dir(self) -> Path:
        return self.options.workdir / "venv"

    @property
    def data_dir(self) -> Path:
        return self.options.workdir / "data"

    @property
    def refusals(self) -> tuple[str, ...]:
        """What stops the reproduction before it starts."""
        found = []
        if self.code_problem:
            found.append(f"code: {self.code_problem}")
        if not self.script_args:
            found.append(
                "command: the run recorded no command line and entry script (capture was off)"
            )
        if self.options.data == "verify":
            found.extend(
                f"data: {check.describe()} (use --data fetch to get the recorded version)"
                for check in self.data
                if not check.usable
            )
        return tuple(found)

    @property
    def unknown_overrides(self) -> tuple[str, ...]:
        return tuple(k for k in self.options.overrides if k not in self.record.params)


def _script_args(record: RunRecord) -> tuple[str, ...]:
    entry = record.code.entry_point if record.code else ""
    if not entry or not record.command_line:
        return ()
    return (entry, *record.command_line[1:])


def build_plan(
    record: RunRecord, options: ReproduceOptions, store: ArtifactStore | None = None
) -> Plan:
    code = record.code
    return Plan(
        record=record,
        options=options,
        code_source=options.repo or (code.git_remote if code else ""),
        code_problem=restorable(code),
        packages=tuple(wanted_packages(record.packages)) if options.env == "venv" else (),
        data=tuple(check_dataset(d, store) for d in record.inputs),
        script_args=_script_args(record),
    )


def format_plan(plan: Plan) -> str:
    r, o = plan.record, plan.options
    code = r.code
    lines = [f"reproduce run {r.run_id} ({r.project}/{r.name}) in {o.workdir}", ""]
    if code is not None and code.commit:
        patch = "no uncommitted changes"
        if code.dirty:
            size = len(code.diff.encode())
            patch = f"apply the uncommitted patch ({size} bytes, sha256 {code.diff_sha256})"
            if code.diff_truncated:
                patch = "the uncommitted patch was truncated at capture: CANNOT be applied"
        lines += [
            "1. code",
            f"   clone {plan.code_source or '(no remote recorded: give --repo)'} into {plan.code_dir}",
            f"   check out {code.commit}" + (f" (branch {code.branch})" if code.branch else ""),
            f"   {patch}",
        ]
    else:
        lines += ["1. code", "   no git commit recorded: cannot restore"]
    if o.env == "current":
        lines += [
            "2. environment",
            "   --env current: use this Python and its packages as they are",
        ]
    else:
        python = r.python_version or "(not recorded: this Python)"
        lines += [
            "2. environment",
            f"   new virtualenv {plan.venv_dir} with Python {python}",
            f"   install {len(plan.packages)} recorded packages pinned exactly, plus the Cairn SDK",
        ]
        lines += [f"     {name}=={version}" for name, version in plan.packages[:20]]
        if len(plan.packages) > 20:
            lines.append(f"     ... and {len(plan.packages) - 20} more")
    lines.append(f"3. data ({o.data})")
    lines += [f"   {check.describe()}" for check in plan.data] or ["   no input datasets recorded"]
    lines.append("4. run")
    if plan.script_args:
        lines.append(f"   cd {plan.code_dir} && python {' '.join(plan.script_args)}")
    else:
        lines.append("   no command recorded")
    lines.append(f"   as a new run with lineage reproduces -> {r.run_id}")
    for key, value in o.overrides.items():
        was = r.params.get(key)
        lines.append(f"   --set {key}={value} (recorded: {was if was is not None else 'not set'})")
    lines.append("5. compare metrics, code, environment and data with the original")
    if plan.refusals:
        lines += ["", "cannot reproduce:"] + [f"  - {reason}" for reason in plan.refusals]
    return "\n".join(lines) + "\n"
