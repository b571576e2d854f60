"""Cairn: track ML runs as immutable events.

::

    import cairn

    with cairn.init(project="churn", config={"lr": 3e-4}) as run:
        for step in range(n):
            run.log({"loss": loss}, step=step)

``import cairn`` stays light (no protobuf, grpc or psutil until ``init``); see docs/sdk.md for
every call, the configuration and what is captured. The package also owns the event contract
types (``cairn.v1``) and the error hierarchy shared with the services (``cairn.errors``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.errors import (
    AlreadyExistsError,
    CairnError,
    ConfigError,
    ErrorCode,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)

if TYPE_CHECKING:  # annotations only: importing these eagerly would cost import time
    from collections.abc import Mapping
    from pathlib import Path

    from cairn.api import Api
    from cairn.config import Capture, Settings
    from cairn.models import ModelVersion as ModelVersion
    from cairn.models import archive_model_version as archive_model_version
    from cairn.models import delete_model_alias as delete_model_alias
    from cairn.models import list_models as list_models
    from cairn.models import model_alias_history as model_alias_history
    from cairn.models import model_report as model_report
    from cairn.models import model_versions as model_versions
    from cairn.models import register_model as register_model
    from cairn.models import resolve_model as resolve_model
    from cairn.models import set_model_alias as set_model_alias
    from cairn.models import update_model_version as update_model_version
    from cairn.models import use_model as use_model
    from cairn.reproduce._context import ReproductionContext
    from cairn.run import Run
    from cairn.sweeps import sweep as sweep

__all__ = [
    "AlreadyExistsError",
    "Api",
    "CairnError",
    "ConfigError",
    "ErrorCode",
    "FailedPreconditionError",
    "NotFoundError",
    "Run",
    "UnavailableError",
    "ValidationError",
    "current_run",
    "delete_model_alias",
    "finish",
    "init",
    "model_report",
    "register_model",
    "set_model_alias",
    "sweep",
    "use_model",
]
__version__ = "0.1.0"


def init(
    project: str | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    team: str | None = None,
    description: str | None = None,
    parent: Run | str | None = None,
    resume: str | None = None,
    run_id: str | None = None,
    sweep_id: str | None = None,
    fork_from: str | None = None,
    fork_step: int | None = None,
    rewind_to: int | None = None,
    mode: str | None = None,
    capture: bool | Mapping[str, bool] | Capture | None = None,
    ingest_url: str | None = None,
    api_key: str | None = None,
    portal_url: str | None = None,
    dir: str | Path | None = None,
    artifact_store: str | None = None,
    settings: Settings | None = None,
) -> Run:
    """Start recording a run and return it.

    ``project``, ``team`` and the connection settings fall back to ``CAIRN_*`` variables and to
    ``~/.cairn/local-stack.json`` (written by ``cairn up``). ``config`` is recorded as the run's
    parameters (nested mappings become dotted keys), ``tags`` as its tags. ``parent`` (a run or
    run id) makes a nested run; ``resume`` continues an existing run; ``mode`` is ``"online"``
    (default), ``"offline"`` (spool only; upload with ``cairn sync``) or ``"disabled"``.
    ``capture`` switches automatic capture off (``False``) or in part (``{"diff": False}``).
    ``sweep_id`` records the run as a trial of that sweep run (``cairn.sweep`` sets it).
    ``fork_from`` and ``fork_step`` start a new run from another run's history: its points up
    to and including ``fork_step`` and its params (``config`` overrides them), with the lineage
    edge ``forked_from``; logging continues at ``fork_step + 1``. ``resume`` with ``rewind_to``
    continues a run from that step: its later points stay only as earlier attempts.
    When the variable ``CAIRN_RESUME`` holds a run id, the first ``init`` of the process that
    names neither ``resume``, ``run_id`` nor ``parent`` continues that run (``cairn sweep``
    starts a trial's command that way). Under ``cairn reproduce`` (``CAIRN_REPRODUCTION``), the
    first such ``init`` records the reproduction: the recorded params and ``--set`` overrides
    replace ``config``'s values (read them back from ``run.config``). Misuse raises :class:`ValidationError` or
    :class:`ConfigError` here, before anything is recorded.
    """
    import copy

    from cairn._start import start_run

    inherited = _inherited_run()
    reproduction = _inherited_reproduction()
    if resume is None and run_id is None and parent is None and fork_from is None:
        resume = inherited
        if reproduction is not None and resume is None:
            from cairn.reproduce._record import TAG_REPRODUCES

            run_id = reproduction.run_id
            config = reproduction.apply(config)
            tags = {**(tags or {}), **reproduction.tags, TAG_REPRODUCES: reproduction.original}
        else:
            reproduction = None
    else:
        reproduction = None

    overrides = {
        "ingest_url": ingest_url,
        "api_key": api_key,
        "portal_url": portal_url,
        "dir": dir,
        "artifact_store": artifact_store,
    }
    run = start_run(
        project=project,
        name=name,
        config=config,
        tags=tags,
        team=team,
        description=description,
        parent=parent,
        resume=resume,
        run_id=run_id,
        mode=mode,
        capture=capture,
        settings=settings,
        overrides=overrides,
        sweep_id=sweep_id,
        fork_from=fork_from,
        fork_step=fork_step,
        rewind_to=rewind_to,
    )
    run.config = copy.deepcopy(dict(config)) if config is not None else {}
    if reproduction is not None:
        run._record_reproduces(reproduction.original)
    return run


_inherit_pending = True  # CAIRN_RESUME applies to the first init of the process only


def _inherited_run() -> str | None:
    global _inherit_pending
    if not _inherit_pending:
        return None
    _inherit_pending = False
    from cairn.config import read_handover

    return read_handover().resume or None


_reproduction_pending = True  # CAIRN_REPRODUCTION applies to the first init of the process only


def _inherited_reproduction() -> ReproductionContext | None:
    global _reproduction_pending
    if not _reproduction_pending:
        return None
    _reproduction_pending = False
    from cairn.config import read_handover

    raw = read_handover().reproduction
    if not raw:
        return None
    from cairn.reproduce._context import ReproductionContext

    return ReproductionContext.decode(raw)


def current_run() -> Run | None:
    """The most recently started run that is still active, if any."""
    from cairn import _lifecycle

    return _lifecycle.current()


def finish() -> None:
    """Finish the current run (see :meth:`Run.finish`); does nothing when there is none."""
    run = current_run()
    if run is not None:
        run.finish()


if not TYPE_CHECKING:  # the checker sees cairn.sweeps.sweep's signature (imported above)

    def sweep(objective: Any, **options: Any) -> Any:
        """Run a hyperparameter sweep with Optuna, recorded as a sweep run and one child run
        per trial; see :func:`cairn.sweeps.sweep` and docs/sweeps.md."""
        from cairn.sweeps import sweep as run_sweep

        return run_sweep(objective, **options)


# Integrations and sweeps, imported on first use so ``import cairn`` never pulls in a framework:
# ``cairn.sklearn.autolog()`` works after a plain ``import cairn``.
_LAZY_SUBMODULES = frozenset(
    {
        "huggingface",
        "keras",
        "lightgbm",
        "lightning",
        "sklearn",
        "sweeps",
        "tensorboard",
        "torch",
        "xgboost",
    }
)


# The model registry's calls (cairn.models), imported on first use too.
_MODEL_CALLS = frozenset(
    {
        "ModelVersion",
        "archive_model_version",
        "delete_model_alias",
        "list_models",
        "model_alias_history",
        "model_report",
        "model_versions",
        "register_model",
        "resolve_model",
        "set_model_alias",
        "update_model_version",
        "use_model",
    }
)


def __getattr__(name: str) -> Any:
    """``cairn.Run``, ``cairn.Api``, ``cairn.Settings``, ``cairn.Capture`` and the integration modules
    without importing them eagerly."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"cairn.{name}")
    if name in _MODEL_CALLS:
        from cairn import models

        return getattr(models, name)
    if name == "Run":
        from cairn.run import Run

        return Run
    if name == "Api":
        from cairn.api import Api

        return Api
    if name in ("Settings", "Capture"):
        from cairn import config

        return getattr(config, name)
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
