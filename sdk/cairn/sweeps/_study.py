"""Optuna's side of a sweep: sampler, pruner, storage and the study, built from a definition.

Optuna's storage coordinates the processes of a sweep (which trial is next, which params were
tried, the pruners' intermediate values); the Cairn runs are the record. The link is one study
user attr, :data:`SWEEP_ATTR`, naming the sweep run and the project, written by the process that
created the study. Creating a study is atomic in every Optuna storage (a second ``create_study``
of the same name fails), so exactly one process mints the sweep run even when several start at
once; the others wait for the attr to appear.

Storages by URL: ``sqlite:///sweep.db``, ``postgresql://...`` and ``mysql://...`` are Optuna's
RDB storage with a heartbeat (a trial whose process stops beating for ``grace_period`` seconds is
failed by the next process to start a trial, on any machine); ``journal:///path/sweep.log`` (or
a relative ``journal://sweep.log``) is Optuna's journal file, which has no heartbeat. On every
storage, a dead process's trials are also found at once by process id on the same machine
(``_objective.reap_dead_trials``).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

from cairn._checks import fail
from cairn._ids import uuid7
from cairn.errors import ConfigError
from cairn.sweep_record import space_json
from cairn.sweeps._config import DEFAULT_HEARTBEAT_S, SweepDefinition
from cairn.sweeps._space import grid_values

log = logging.getLogger("cairn")

SWEEP_ATTR = "cairn.sweep"  # study user attr: {"run_id", "project", "space", "objectives"}
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
RDB_ATTEMPTS = 5
IDENTITY_WAIT_S = 10.0
_DIRECTIONS = {
    "minimize": optuna.study.StudyDirection.MINIMIZE,
    "maximize": optuna.study.StudyDirection.MAXIMIZE,
}  # how long a joining process waits for the creator to name the sweep run

StaleCallback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True, slots=True)
class SweepIdentity:
    """Which run records the sweep, and whether this process must create it."""

    run_id: str
    project: str
    create_run: bool


def make_sampler(definition: SweepDefinition) -> optuna.samplers.BaseSampler:
    choice = definition.sampler
    if choice.instance is not None:
        sampler: optuna.samplers.BaseSampler = choice.instance
        return sampler
    options = {"seed": definition.seed, **choice.options}
    if choice.name == "cmaes":  # categorical params are sampled at random, as documented
        options = {"warn_independent_sampling": False, **options}
    samplers: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "gp": optuna.samplers.GPSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }
    if choice.name == "grid":
        grid = grid_values(definition.space)
        sampler = _construct(optuna.samplers.GridSampler, "sampler", grid, **options)
    else:
        sampler = _construct(samplers[choice.name], "sampler", **options)
    return sampler


def make_pruner(definition: SweepDefinition) -> optuna.pruners.BasePruner:
    choice = definition.pruner
    pruner: optuna.pruners.BasePruner
    if choice.instance is not None:
        pruner = choice.instance
        return pruner
    pruners: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "asha": optuna.pruners.SuccessiveHalvingPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    }
    pruner = _construct(pruners[choice.name], "pruner", **choice.options)
    return pruner


def _construct(kind: Callable[..., Any], field: str, *args: Any, **options: Any) -> Any:
    try:
        return kind(*args, **options)
    except (TypeError, ValueError) as exc:
        fail(f"{field}.options", "optuna_options", f"{kind.__name__} rejected the options: {exc}")


def open_storage(
    definition: SweepDefinition, default_journal: Path, on_stale: StaleCallback
) -> BaseStorage:
    """The storage the definition names, or a journal file at ``default_journal``."""
    target = definition.storage
    if isinstance(target, BaseStorage):
        return target
    url = f"journal://{default_journal}" if target is None else str(target)
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "journal":
        if definition.heartbeat_interval or definition.grace_period:
            log.warning(
                "cairn: heartbeat_interval/grace_period apply to database storages; a journal "
                "file finds dead processes on this machine by process id"
            )
        path = Path(url.split("://", 1)[1]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if scheme not in RDB_SCHEMES:
        fail(
            "storage",
            "storage_scheme",
            f"unsupported scheme {scheme!r}: use sqlite://, postgresql://, mysql:// or journal://",
        )
    return _rdb_storage(url, scheme, definition, on_stale)


def _rdb_storage(
    url: str, scheme: str, definition: SweepDefinition, on_stale: StaleCallback
) -> RDBStorage:
    """Optuna's RDB storage. Processes starting at once on a new database race to create its
    tables and version row; the loser's error is harmless, so it tries again."""
    import sqlalchemy.exc

    engine_kwargs = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {}
    for attempt in range(RDB_ATTEMPTS):
        try:
            with warnings.catch_warnings():  # the heartbeat is experimental in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=definition.heartbeat_interval or DEFAULT_HEARTBEAT_S,
                    grace_period=definition.grace_period,
                    heartbeat_stale_trial_callback=on_stale,
                )
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
            if attempt == RDB_ATTEMPTS - 1:
                raise
            time.sleep(0.2 + 0.3 * random.random())  # noqa: S311 - jitter, not security
    raise AssertionError("unreachable")


def open_study(
    definition: SweepDefinition,
    name: str,
    storage: BaseStorage,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when it exists; True when this process created it."""
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            directions=[_DIRECTIONS[d] for d in definition.directions],
        )
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    found = [d.name.lower() for d in study.directions]
    if found != list(definition.directions):
        raise ConfigError(
            f"study {name!r} exists with directions {found}, not {list(definition.directions)}: "
            "use another study name",
            field="study",
        )
    return study, False


def claim_identity(
    study: optuna.Study, definition: SweepDefinition, *, created: bool, project: str
) -> SweepIdentity:
    """Name the sweep run (creator) or learn its name (every other process)."""
    mine: dict[str, Any] = {
        "run_id": uuid7(),
        "project": project,
        "space": space_json(definition.space),
        "objectives": list(definition.objectives),
    }
    if created:
        study.set_user_attr(SWEEP_ATTR, mine)
        return SweepIdentity(mine["run_id"], project, create_run=True)
    found = _wait_for_identity(study, IDENTITY_WAIT_S)
    if found is None:  # the creator died between creating the study and naming its run
        study.set_user_attr(SWEEP_ATTR, mine)
        time.sleep(0.5)  # a concurrent adopter may write too: the last write wins for everyone
        found = _wait_for_identity(study, 0)
        assert found is not None
    if found["space"] != mine["space"] or found["objectives"] != mine["objectives"]:
        raise ConfigError(
            f"study {study.study_name!r} was started with another search space or objectives: "
            "use another study name, or the original definition to resume it",
            field="study",
        )
    return SweepIdentity(
        str(found["run_id"]), str(found["project"]), create_run=found["run_id"] == mine["run_id"]
    )


def _wait_for_identity(study: optuna.Study, timeout_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = study.user_attrs.get(SWEEP_ATTR)
        if isinstance(found, dict) and found.get("run_id"):
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


@contextlib.contextmanager
def optuna_logging(level: int) -> Iterator[None]:
    """Optuna logs every trial at INFO; lower it to ``level`` unless the user already changed
    Optuna's default verbosity."""
    previous = optuna.logging.get_verbosity()
    if previous == optuna.logging.INFO:
        optuna.logging.set_verbosity(level)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
