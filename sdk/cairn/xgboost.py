"""XGBoost: :class:`CairnCallback`, a training callback for ``xgboost.train`` and the sklearn API.

::

    import cairn.xgboost

    booster = xgboost.train(params, dtrain, 100, evals=[(dvalid, "validation")],
                            callbacks=[cairn.xgboost.CairnCallback()])
    model = xgboost.XGBClassifier(callbacks=[cairn.xgboost.CairnCallback()]).fit(
        X, y, eval_set=[(X_valid, y_valid)])

What it records, on the run it is given, else the active run (``cairn.current_run()``), else a
run it starts before training (tag ``framework`` = ``xgboost``) and finishes after it:

- params, before training: the booster's configuration (``Booster.save_config()``) as
  XGBoost's own parameter names (``max_depth``, ``eta``, ``objective``, ``num_feature`` ...,
  numbers as numbers) and ``eval_metric`` (the metric names, comma-separated);
- metrics, every iteration at step = iteration: ``<eval name>-<metric>`` as XGBoost prints them
  (``validation-logloss``; ``validation_0-rmse`` from the sklearn API's ``eval_set``); with
  ``xgboost.cv``, the mean under that key and the standard deviation under ``<key>-std``;
- metrics after training, at step 0: ``best_iteration`` and ``best_score`` when early stopping
  set them;
- artifacts after training: ``feature_importance.csv`` (kind ``table``: one row per feature,
  columns weight, gain, cover, total_gain, total_cover) and the model as ``model.json``
  (``Booster.save_model``, kind ``model``) unless ``log_model=False``; with
  ``registered_model_name=`` it is also registered as the next version of that model.
"""

from __future__ import annotations

import copy
import csv
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cairn
from cairn._flatten import Scalar
from cairn._framework_values import param_value, safe_key
from cairn.run import Run

try:
    import xgboost
    from xgboost.callback import TrainingCallback
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("cairn.xgboost needs XGBoost: pip install 'cairn-sdk[xgboost]'") from exc

__all__ = ["CairnCallback", "booster_params", "metrics_at"]

IMPORTANCE_TYPES = ("weight", "gain", "cover", "total_gain", "total_cover")
_SKIPPED_SECTIONS = frozenset({"updater", "metrics"})  # per-updater internals; metrics: see below


class CairnCallback(TrainingCallback):
    """Record an XGBoost training on a Cairn run (see the module docstring for what).

    ``run``: the run to record on (default: the active run, else a run started for this
    training, named ``name``). Reusable across trainings; a copy (``clone``, ``deepcopy`` of an
    estimator) records on the same run. Not picklable with its run: pickling drops it.
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        log_model: bool = True,
        name: str | None = None,
        registered_model_name: str | None = None,
    ) -> None:
        super().__init__()
        self.run = run
        self.log_model = log_model
        self.name = name
        self.registered_model_name = registered_model_name
        self._active: Run | None = None
        self._own = False

    # -- the TrainingCallback protocol ----------------------------------------------------------

    def before_training(self, model: Any) -> Any:
        self._active, self._own = self._resolve_run()
        config = getattr(model, "save_config", None)
        if callable(config):
            self._active.log_params(booster_params(json.loads(config())))
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: TrainingCallback.EvalsLog) -> bool:
        if self._active is not None:
            metrics = metrics_at(evals_log)
            if metrics:
                self._active.log(metrics, step=epoch)
        return False

    def after_training(self, model: Any) -> Any:
        run, self._active = self._active, None
        if run is None:
            return model
        try:
            if isinstance(model, xgboost.Booster):
                self._record_result(run, model)
        finally:
            if self._own:
                run.finish()
        return model

    # -- copies ---------------------------------------------------------------------------------

    def __deepcopy__(self, memo: dict[int, Any]) -> CairnCallback:
        """The sklearn API clones estimators with their params, callbacks included: a copy
        shares the run (a Run cannot be copied), not the state of a training in progress."""
        clone = copy.copy(self)
        clone._active, clone._own = None, False
        return clone

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(run=None, _active=None, _own=False)
        return state

    # -- helpers --------------------------------------------------------------------------------

    def _resolve_run(self) -> tuple[Run, bool]:
        if self.run is not None:
            return self.run, False
        current = cairn.current_run()
        if current is not None:
            return current, False
        return cairn.init(name=self.name or "xgboost", tags={"framework": "xgboost"}), True

    def _record_result(self, run: Run, booster: xgboost.Booster) -> None:
        attributes = booster.attributes()
        summary: dict[str, float] = {}
        for key in ("best_iteration", "best_score"):
            value = attributes.get(key)
            if value is not None:
                summary[key] = float(value)
        if summary:
            run.log(summary, step=0)
        with tempfile.TemporaryDirectory(prefix="cairn-xgboost-") as scratch:
            table = Path(scratch) / "feature_importance.csv"
            if _write_importance(booster, table):
                run.log_artifact(table, kind="table")
            if self.log_model:
                model_path = Path(scratch) / "model.json"
                booster.save_model(model_path)
                metadata = {"format": "xgboost-json", "xgboost_version": xgboost.__version__}
                if self.registered_model_name:  # the artifact, registered as the next version
                    run.log_model(model_path, self.registered_model_name, metadata=metadata)
                else:
                    run.log_artifact(model_path, kind="model", metadata=metadata)


def metrics_at(evals_log: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The latest value of every evaluation metric: ``{"<eval>-<metric>": value}``; ``cv``
    histories hold ``(mean, std)`` pairs, recorded as ``<key>`` and ``<key>-std``."""
    metrics: dict[str, float] = {}
    for data_name, by_metric in evals_log.items():
        for metric_name, history in by_metric.items():
            if not history:
                continue
            key = safe_key(f"{data_name}-{metric_name}")
            latest = history[-1]
            if isinstance(latest, tuple | list):
                metrics[key] = float(latest[0])
                metrics[f"{key}-std"] = float(latest[1])
            else:
                metrics[key] = float(latest)
    return metrics


def booster_params(config: Mapping[str, Any]) -> dict[str, Scalar]:
    """The parameters in a ``save_config()`` document under XGBoost's own names.

    Parameters sit in the ``*_param`` sections of the learner (``generic_param``,
    ``tree_train_param``, ``learner_train_param`` ...); the first section to name a parameter
    wins. Values are text in the document; numbers come back as numbers.
    """
    params: dict[str, Scalar] = {}

    def visit(node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if key in _SKIPPED_SECTIONS:
                continue
            if isinstance(value, Mapping):
                if key.endswith("_param"):
                    for name, raw in value.items():
                        if not isinstance(raw, Mapping | list):
                            params.setdefault(safe_key(name), _number_or_text(raw))
                else:
                    visit(value)

    learner = config.get("learner", config)
    if isinstance(learner, Mapping):
        visit(learner)
        metrics = learner.get("metrics")
        if isinstance(metrics, list) and metrics:
            names = [str(m.get("name", "")) for m in metrics if isinstance(m, Mapping)]
            params["eval_metric"] = ",".join(name for name in names if name)
    return params


def _number_or_text(raw: object) -> Scalar:
    if not isinstance(raw, str):
        return param_value(raw)
    for kind in (int, float):
        try:
            return param_value(kind(raw))
        except ValueError:
            continue
    return param_value(raw)


def _write_importance(booster: xgboost.Booster, path: Path) -> bool:
    """Write every importance type per feature; False when the model has none (linear)."""
    try:
        scores = {kind: booster.get_score(importance_type=kind) for kind in IMPORTANCE_TYPES}
    except xgboost.core.XGBoostError:
        return False
    features = sorted({name for by_feature in scores.values() for name in by_feature})
    if not features:
        return False
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["feature", *IMPORTANCE_TYPES])
        for feature in features:
            writer.writerow(
                [feature, *(scores[kind].get(feature, 0.0) for kind in IMPORTANCE_TYPES)]
            )
    return True
