"""Carrying out a plan: restore code, build the environment, settle the data, run, compare.

Refusals (unrestorable code, changed data under ``--data verify``) raise
:class:`~cairn.errors.FailedPreconditionError` naming what and why, before anything runs. The
reproduction is a new run recorded by the training code's own ``cairn.init``: the engine picks
its id and passes the reproduction context (see ``_context``), waits for it to reach the store,
then builds the report from the store's record of both runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cairn._ids import uuid7
from cairn.artifacts import ArtifactStore
from cairn.errors import FailedPreconditionError, NotFoundError, UnavailableError
from cairn.reproduce._code import restore_code
from cairn.reproduce._context import VARIABLE, ReproductionContext
from cairn.reproduce._data import DataCheck, DataState, fetch_dataset, local_path
from cairn.reproduce._environment import EnvironmentResult, build_environment
from cairn.reproduce._plan import Plan
from cairn.reproduce._record import (
    TAG_DATA,
    TAG_OVERRIDES,
    TAG_PACKAGES,
    Points,
    RunRecord,
    RunRecordSource,
)
from cairn.reproduce._report import ReproductionReport, build_report

MAX_TAG_CHARS = 4_000
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Reproduction:
    run_id: str
    exit_code: int
    environment: EnvironmentResult | None
    data: tuple[DataCheck, ...]
    report: ReproductionReport


def _settle_data(plan: Plan, store: ArtifactStore | None, say: Say) -> tuple[DataCheck, ...]:
    settled = []
    inputs = {d.name: d for d in plan.record.inputs}
    for check in plan.data:
        if not check.usable and plan.options.data == "fetch":
            if store is None:
                raise FailedPreconditionError(
                    f"data: {check.describe()}; --data fetch needs an artifact store", field="data"
                )
            fetched = fetch_dataset(check, inputs[check.name], store, plan.data_dir)
            if fetched.state is not DataState.FETCHED:
                raise FailedPreconditionError(
                    f"data: {check.describe()}; the recorded version"
                    f" {check.recorded_digest} is not in the artifact store {store.url}",
                    field="data",
                )
            say(f"data: {fetched.describe()}")
            check = fetched
        settled.append(check)
    return tuple(settled)


def _command(plan: Plan, python: Path, data: tuple[DataCheck, ...]) -> list[str]:
    """The recorded command, with arguments naming a fetched dataset's recorded path pointed at
    the fetched copy."""
    moved: dict[str, str] = {}
    for check in data:
        original = local_path(check.uri)
        if check.state is DataState.FETCHED and original is not None and check.path is not None:
            moved[str(original)] = str(check.path)
            moved[check.uri] = str(check.path)
    args = [moved.get(arg, arg) for arg in plan.script_args]
    return [str(python), *args]


def _tags(
    plan: Plan, environment: EnvironmentResult | None, data: tuple[DataCheck, ...]
) -> dict[str, str]:
    tags = {}
    record = plan.record
    if plan.options.overrides:
        tags[TAG_OVERRIDES] = ", ".join(
            f"{k}={v} (was {record.params.get(k, 'not set')})"
            for k, v in plan.options.overrides.items()
        )
    if environment is not None and (environment.substitutions or environment.python_note):
        parts = [p.describe() for p in environment.substitutions]
        if environment.python_note:
            parts.insert(0, environment.python_note)
        tags[TAG_PACKAGES] = "; ".join(parts)
    changed = [c.describe() for c in data if c.state is not DataState.SAME]
    if changed:
        tags[TAG_DATA] = "; ".join(changed)
    return {k: v[:MAX_TAG_CHARS] for k, v in tags.items()}


def _recorded_params(record: RunRecord, overrides: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in record.params.items() if k not in overrides}


def wait_for_run(
    source: RunRecordSource, run_id: str, timeout_s: float
) -> tuple[RunRecord, Points]:
    """The run once the store shows it ended, with its points once two reads agree."""
    deadline = time.monotonic() + timeout_s
    record: RunRecord | None = None
    while time.monotonic() < deadline:
        try:
            record = source.get_run(run_id)
        except NotFoundError:
            record = None
        if record is not None and record.finished:
            break
        time.sleep(0.5)
    if record is None or not record.finished:
        raise UnavailableError(
            f"the reproduction run {run_id} did not reach the store as ended within"
            f" {timeout_s:.0f}s (it may still arrive: compare later with cairn diff)",
            field="run_id",
        )
    points = source.metric_points(run_id)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        again = source.metric_points(run_id)
        if again == points:
            break
        points = again
    return source.get_run(run_id), points


def execute(
    plan: Plan,
    source: RunRecordSource,
    *,
    store: ArtifactStore | None = None,
    say: Say = print,
) -> Reproduction:
    """Run the plan; returns the new run's id, exit code and the report."""
    if plan.options.data == "fetch":
        plan = replace(plan, data=_settle_data(plan, store, say))
    refusals = plan.refusals
    if refusals:
        raise FailedPreconditionError(
            "cannot reproduce run " + plan.record.run_id + ": " + "; ".join(refusals),
            field="run_id",
        )
    code_dir = restore_code(plan.record.code, plan.code_dir, repo=plan.options.repo)
    say(f"code: {plan.record.code.commit if plan.record.code else ''} restored in {code_dir}")
    environment: EnvironmentResult | None = None
    python = Path(sys.executable)
    if plan.options.env == "venv":
        say(f"environment: building {plan.venv_dir} ({len(plan.packages)} packages)")
        environment = build_environment(
            plan.venv_dir, plan.record.python_version, plan.record.packages
        )
        python = environment.python
        for note in [environment.python_note, *(p.describe() for p in environment.substitutions)]:
            if note:
                say(f"environment: {note}")
    run_id = uuid7()
    context = ReproductionContext(
        original=plan.record.run_id,
        run_id=run_id,
        params=_recorded_params(plan.record, plan.options.overrides),
        overrides=dict(plan.options.overrides),
        tags=_tags(plan, environment, plan.data),
    )
    command = _command(plan, python, plan.data)
    say(f"run: {' '.join(command)} (run {run_id})")
    env = {**os.environ, VARIABLE: context.encode()}
    env.pop("CAIRN_RESUME", None)
    if plan.record.project:
        env["CAIRN_PROJECT"] = plan.record.project
    if plan.record.team:
        env["CAIRN_TEAM"] = plan.record.team
    if plan.options.env == "venv":
        env["VIRTUAL_ENV"] = str(plan.venv_dir)
        env["PATH"] = f"{plan.venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
    exit_code = subprocess.run(command, cwd=code_dir, env=env, check=False).returncode
    say(f"run: exited with {exit_code}")
    reproduction, points = wait_for_run(source, run_id, plan.options.wait_timeout_s)
    original_points = source.metric_points(plan.record.run_id)
    report = build_report(plan.record, reproduction, original_points, points)
    return Reproduction(run_id, exit_code, environment, plan.data, report)
