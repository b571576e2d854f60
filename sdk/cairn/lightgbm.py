"""LightGBM: :func:`callback` for ``lightgbm.train``/``cv`` and the sklearn API, and
:func:`log_model`.

::

    import cairn.lightgbm

    with cairn.init() as run:
        booster = lightgbm.train(params, train_set, 100, valid_sets=[valid_set],
                                 valid_names=["validation"], callbacks=[cairn.lightgbm.callback()])
    model = lightgbm.LGBMClassifier(n_estimators=50).fit(
        X, y, eval_X=(X_valid,), eval_y=(y_valid,), callbacks=[cairn.lightgbm.callback()])

LightGBM callbacks are plain callables called after every iteration; there is no "training
ended" hook. So the callback records, on the run it is given, else the active run, else a run
it starts at the first iteration (tag ``framework`` = ``lightgbm``):

- params, at the first iteration: the training's params (``objective``, ``num_leaves``,
  ``learning_rate``, ``num_iterations`` ..., objects as their repr);
- metrics, every iteration at step = iteration: ``<dataset>-<metric>`` (``validation-auc``,
  ``training-binary_logloss``; ``valid_0-l2`` for unnamed valid sets); with ``lightgbm.cv``
  the mean under that key and the standard deviation under ``<key>-stdv``;
- at the last planned iteration (``num_boost_round``/``n_estimators``), unless
  ``log_model=False``: :func:`log_model` of the booster (with ``registered_model_name="churn"``
  its ``model.txt`` is registered as the next version of model ``churn``); then a run the
  callback started is finished.

Early stopping ends training before the last planned iteration, so the callback cannot know the
training ended: then call ``cairn.lightgbm.log_model(booster)`` yourself and finish the run
(``cairn.finish()``, or start the run with ``with cairn.init():``).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import cairn
from cairn._framework_values import safe_key, safe_params
from cairn.run import Run

try:
    import lightgbm
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("cairn.lightgbm needs LightGBM: pip install 'cairn-sdk[lightgbm]'") from exc

__all__ = ["CairnCallback", "callback", "evaluation_metrics", "log_model"]

# Before LightGBM's early_stopping (order 30), so the iteration that stops training is recorded.
CALLBACK_ORDER = 20
IMPORTANCE_TYPES = ("split", "gain")


def callback(
    run: Run | None = None,
    *,
    log_model: bool = True,
    name: str | None = None,
    registered_model_name: str | None = None,
) -> CairnCallback:
    """A LightGBM callback recording the training on ``run`` (see the module docstring)."""
    return CairnCallback(
        run, log_model=log_model, name=name, registered_model_name=registered_model_name
    )


class CairnCallback:
    """The callable :func:`callback` returns; one instance per training."""

    order = CALLBACK_ORDER
    before_iteration = False

    def __init__(
        self,
        run: Run | None = None,
        *,
        log_model: bool = True,
        name: str | None = None,
        registered_model_name: str | None = None,
    ) -> None:
        from cairn.models import check_registered_name

        self.run = run
        self.log_model = log_model
        self.registered_model_name = check_registered_name(
            registered_model_name, log_model, "log_model=True"
        )
        self.name = name
        self._active: Run | None = None
        self._own = False

    def __call__(self, env: lightgbm.callback.CallbackEnv) -> None:
        if env.iteration == env.begin_iteration or self._active is None:
            self._start(env)
        assert self._active is not None
        metrics = evaluation_metrics(env.evaluation_result_list or [])
        if metrics:
            self._active.log(metrics, step=env.iteration)
        if env.iteration == env.end_iteration - 1:
            self._end(env.model)

    def _start(self, env: lightgbm.callback.CallbackEnv) -> None:
        if self.run is not None:
            self._active, self._own = self.run, False
        elif (current := cairn.current_run()) is not None:
            self._active, self._own = current, False
        else:
            label = self.name or "lightgbm"
            self._active, self._own = cairn.init(name=label, tags={"framework": "lightgbm"}), True
        self._active.log_params(safe_params(env.params))

    def _end(self, model: Any) -> None:
        run, self._active = self._active, None
        if run is None:
            return
        try:
            if self.log_model and isinstance(model, lightgbm.Booster):
                log_model(model, run, registered_model_name=self.registered_model_name)
        finally:
            if self._own:
                run.finish()


def evaluation_metrics(results: list[Any]) -> dict[str, float]:
    """``CallbackEnv.evaluation_result_list`` as ``{"<dataset>-<metric>": value}``. Entries are
    ``(dataset, metric, value, higher_is_better)``, plus the standard deviation from ``cv``."""
    metrics: dict[str, float] = {}
    for entry in results:
        data_name, metric_name, value = entry[0], entry[1], entry[2]
        key = safe_key(f"{data_name}-{metric_name}")
        metrics[key] = float(value)
        if len(entry) > 4 and entry[4] is not None:
            metrics[f"{key}-stdv"] = float(entry[4])
    return metrics


def log_model(
    booster: lightgbm.Booster, run: Run | None = None, *, registered_model_name: str | None = None
) -> None:
    """Record a trained booster on ``run`` (default: the active run): metrics
    ``best_iteration`` and ``best_score.<dataset>-<metric>`` at step 0 when set, the artifacts
    ``feature_importance.csv`` (kind ``table``: split and gain per feature) and ``model.txt``
    (``Booster.save_model``, kind ``model``), which ``registered_model_name`` also registers as
    the next version of that model."""
    from cairn.models import check_registered_name, register_logged

    registered = check_registered_name(registered_model_name, True, "log_model=True")
    target = run if run is not None else cairn.current_run()
    if target is None:
        from cairn.errors import FailedPreconditionError

        raise FailedPreconditionError(
            "log_model: no active run; pass run= or start one with cairn.init()",
            field="run",
            rule="active_run",
        )
    summary: dict[str, float] = {}
    if booster.best_iteration > 0:
        summary["best_iteration"] = float(booster.best_iteration)
    for data_name, by_metric in (booster.best_score or {}).items():
        for metric_name, value in by_metric.items():
            summary[safe_key(f"best_score.{data_name}-{metric_name}")] = float(value)
    if summary:
        target.log(summary, step=0)
    with tempfile.TemporaryDirectory(prefix="cairn-lightgbm-") as scratch:
        table = Path(scratch) / "feature_importance.csv"
        _write_importance(booster, table)
        target.log_artifact(table, kind="table")
        model_path = Path(scratch) / "model.txt"
        booster.save_model(str(model_path))
        metadata = {"format": "lightgbm-text", "lightgbm_version": lightgbm.__version__}
        artifact = target.log_artifact(model_path, kind="model", metadata=metadata)
        if registered:
            register_logged(
                target, artifact, registered, metadata={"flavor": "lightgbm", **metadata}
            )


def _write_importance(booster: lightgbm.Booster, path: Path) -> None:
    columns = [booster.feature_importance(importance_type=kind) for kind in IMPORTANCE_TYPES]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["feature", *IMPORTANCE_TYPES])
        for index, feature in enumerate(booster.feature_name()):
            writer.writerow([feature, *(float(column[index]) for column in columns)])
