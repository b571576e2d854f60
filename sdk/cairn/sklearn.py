"""scikit-learn autologging: ``cairn.sklearn.autolog()``, then fit as usual.

::

    import cairn
    from sklearn.linear_model import LogisticRegression

    cairn.sklearn.autolog()
    model = LogisticRegression().fit(X_train, y_train)  # one finished run
    model.score(X_val, y_val)  # validation_score on the same run

What each ``fit`` (also ``fit_transform``/``fit_predict``) of a scikit-learn estimator records,
on the active run (``cairn.current_run()``) or, when there is none, on a run it starts, named
after the estimator class, and finishes when the fit returns (``failed`` if the fit raises):

- params: ``estimator.get_params(deep=True)`` (objects as their repr), recorded before fitting;
- tags ``estimator_name`` and ``estimator_class``;
- metrics at step 0: ``fit_time_s``, ``training_score`` (``estimator.score`` on the training
  data) and for classifiers ``training_accuracy_score``, ``training_precision_score``,
  ``training_recall_score``, ``training_f1_score`` (weighted averages), ``training_log_loss``,
  ``training_roc_auc``; for regressors ``training_mean_squared_error``,
  ``training_root_mean_squared_error``, ``training_mean_absolute_error``, ``training_r2_score``;
- for classifiers, the table ``training_confusion_matrix`` at step 0 (``run.log_confusion_matrix``:
  one row per pair of ``classes_``, up to 100 classes; the portal's Media tab draws it);
- the fitted estimator, pickled, as artifact ``model.pkl`` (kind ``model``);
- with ``log_datasets=True``, the training data as datasets ``train_X`` and ``train_y``.

Hyperparameter searches (anything with ``cv_results_``: GridSearchCV, RandomizedSearchCV, the
halving searches) also record params ``best_params.<name>``, metric ``best_cv_score``, artifacts
``best_estimator.pkl`` (kind ``model``) and ``cv_results.csv`` (kind ``table``), and one *child*
run per candidate, best ranked first, at most ``max_tuning_runs``: the candidate's params, its
``mean_*``, ``std_*`` and ``rank_*`` columns from ``cv_results_`` as metrics, and tag
``cairn.sklearn.candidate`` (its row in ``cv_results_``).

Post-training metrics: ``estimator.score(X, y)`` called later on an estimator autolog fitted logs
``validation_score`` and the same standard metrics with prefix ``validation_`` (and a
classifier's ``validation_confusion_matrix``) to that estimator's run, at step n for its n-th
evaluation (0, 1, ...). A run autolog started is finished
by then, so it is resumed for the evaluation and finished again.

Nested fits (a Pipeline's steps, the clones a search fits per fold, the refit of the best
candidate) are not recorded on their own: one fit at a time is recorded in a process.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import pickle
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cairn
from cairn import _sklearn_patch as patching
from cairn._framework_values import safe_key, safe_params
from cairn.errors import CairnError, ValidationError
from cairn.run import Run

try:
    import sklearn
    from sklearn import base as sklearn_base
    from sklearn import metrics as sklearn_metrics
    from sklearn.utils import all_estimators
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("cairn.sklearn needs scikit-learn: pip install 'cairn-sdk[sklearn]'") from exc

__all__ = ["autolog"]

log = logging.getLogger("cairn")

CANDIDATE_TAG = "cairn.sklearn.candidate"
MAX_CONFUSION_CLASSES = 100  # more classes: no confusion matrix (100 x 100 = 10,000 rows)


@dataclass(frozen=True, slots=True)
class _Options:
    log_models: bool
    log_datasets: bool
    log_post_training_metrics: bool
    max_tuning_runs: int | None
    registered_model_name: str | None = None


@dataclass(slots=True)
class _Fitted:
    """Where a fitted estimator's run is, for its post-training metrics."""

    run: Run
    evaluations: int = 0


_options = _Options(True, False, True, 5)
_fitted: dict[int, _Fitted] = {}  # id(estimator) -> its run; entries leave with the estimator


def autolog(
    *,
    log_models: bool = True,
    log_datasets: bool = False,
    log_post_training_metrics: bool = True,
    max_tuning_runs: int | None = 5,
    registered_model_name: str | None = None,
    disable: bool = False,
) -> None:
    """Record every scikit-learn ``fit`` from now on (see the module docstring for what).

    ``max_tuning_runs`` caps the child runs of a search (the best ranked candidates; ``None``
    records all, ``0`` none). ``registered_model_name`` also registers each fitted ``model.pkl``
    as the next version of that model (``run.log_model``, docs/models.md). ``disable=True`` puts scikit-learn's methods back as they were.
    Calling it again replaces the options. Recording never breaks a fit: if something cannot
    be recorded (no Cairn configuration, an estimator that cannot be pickled) a warning is
    logged and the fit's result is returned as usual.
    """
    global _options
    if disable:
        patching.uninstall()
        _fitted.clear()
        return
    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise ValidationError(
            f"max_tuning_runs: must be None or >= 0, got {max_tuning_runs} (rule non_negative)",
            field="max_tuning_runs",
            rule="non_negative",
        )
    _options = _Options(
        log_models, log_datasets, log_post_training_metrics, max_tuning_runs, registered_model_name
    )
    classes = [cls for _, cls in all_estimators()]
    patching.install(classes, _on_fit, _on_score, with_score=log_post_training_metrics)


# -- fit ---------------------------------------------------------------------------------------


def _on_fit(
    original: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    label = type(estimator).__name__
    run = cairn.current_run()
    own = run is None
    try:
        if run is None:
            run = cairn.init(name=label, tags=_estimator_tags(estimator))
        else:
            run.set_tags(_estimator_tags(estimator))
    except Exception as exc:
        log.warning("cairn: sklearn autolog is not recording %s.fit: %s", label, exc)
        return original(estimator, *args, **kwargs)
    try:  # before fitting, so a fit that fails still shows what it was given
        run.log_params(safe_params(estimator.get_params(deep=True)))
    except Exception as exc:
        log.warning("cairn: sklearn autolog could not record the params of %s: %s", label, exc)
    started = time.perf_counter()
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as exc:
        if own:
            run.fail_with(exc, killed=isinstance(exc, KeyboardInterrupt))
        raise
    elapsed = time.perf_counter() - started
    try:
        run.log({"fit_time_s": elapsed}, step=0)
        _record_fit(run, estimator, patching.call_arguments(original, estimator, args, kwargs))
        _remember(estimator, run)
    except Exception as exc:
        log.warning("cairn: sklearn autolog could not record all of %s.fit: %s", label, exc)
    finally:
        if own:
            run.finish()
    return result


def _estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def _record_fit(run: Run, estimator: Any, arguments: Mapping[str, Any]) -> None:
    X, y = arguments.get("X"), arguments.get("y", arguments.get("Y"))
    sample_weight = arguments.get("sample_weight")
    if X is not None:
        predicted: list[Any] = []
        metrics = _standard_metrics(estimator, X, y, sample_weight, "training_", out=predicted)
        run.log(metrics, step=0)
        _log_confusion_matrix(run, estimator, y, predicted, "training_confusion_matrix", 0)
        if _options.log_datasets:
            _log_datasets(run, X, y)
    if hasattr(estimator, "cv_results_") and "params" in estimator.cv_results_:
        _record_search(run, estimator)
    if _options.log_models:
        _log_pickle(run, estimator, "model.pkl")


def _remember(estimator: Any, run: Run) -> None:
    key = id(estimator)
    _fitted[key] = _Fitted(run)
    with contextlib.suppress(TypeError):  # not weak-referenceable: kept until its id is reused
        weakref.finalize(estimator, _fitted.pop, key, None)


# -- metrics -----------------------------------------------------------------------------------


def _standard_metrics(
    estimator: Any,
    X: Any,
    y: Any,
    sample_weight: Any,
    prefix: str,
    *,
    with_score: bool = True,
    out: list[Any] | None = None,
) -> dict[str, float]:
    """``score`` and the usual metrics for classifiers and regressors; a metric that does not
    apply (no ``predict_proba``, one class in ``y``, a search without refit) is left out. A
    classifier's predictions are appended to ``out`` (for its confusion matrix)."""
    metrics: dict[str, float] = {}
    weights = {} if sample_weight is None else {"sample_weight": sample_weight}
    with warnings.catch_warnings():  # e.g. ill-defined precision: our extra metrics, not theirs
        warnings.simplefilter("ignore")
        if with_score and hasattr(estimator, "score"):
            score_args = (X,) if y is None else (X, y)
            _attempt(metrics, f"{prefix}score", lambda: estimator.score(*score_args, **weights))
        if y is None:
            return metrics
        try:
            if sklearn_base.is_classifier(estimator):
                predicted = _classifier_metrics(metrics, estimator, X, y, weights, prefix)
                if out is not None:
                    out.append(predicted)
            elif sklearn_base.is_regressor(estimator):
                _regressor_metrics(metrics, estimator, X, y, weights, prefix)
        except Exception as exc:  # predict itself failed: keep what was computed
            log.debug("cairn: sklearn autolog skipped the %smetrics: %s", prefix, exc)
    return metrics


def _classifier_metrics(
    metrics: dict[str, float], estimator: Any, X: Any, y: Any, weights: Any, prefix: str
) -> Any:
    """Fills ``metrics``; returns the predictions."""
    m = sklearn_metrics
    predicted = estimator.predict(X)
    _attempt(metrics, f"{prefix}accuracy_score", lambda: m.accuracy_score(y, predicted, **weights))
    averaged = {"average": "weighted", "zero_division": 0, **weights}
    _attempt(
        metrics, f"{prefix}precision_score", lambda: m.precision_score(y, predicted, **averaged)
    )
    _attempt(metrics, f"{prefix}recall_score", lambda: m.recall_score(y, predicted, **averaged))
    _attempt(metrics, f"{prefix}f1_score", lambda: m.f1_score(y, predicted, **averaged))
    if not hasattr(estimator, "predict_proba"):
        return predicted
    try:
        proba = estimator.predict_proba(X)
    except Exception:  # e.g. SVC(probability=False) exposes the method but refuses
        return predicted
    labels = getattr(estimator, "classes_", None)
    _attempt(metrics, f"{prefix}log_loss", lambda: m.log_loss(y, proba, labels=labels, **weights))
    if proba.ndim == 2 and proba.shape[1] == 2:
        _attempt(metrics, f"{prefix}roc_auc", lambda: m.roc_auc_score(y, proba[:, 1], **weights))
    else:
        _attempt(
            metrics,
            f"{prefix}roc_auc",
            lambda: m.roc_auc_score(
                y, proba, multi_class="ovr", average="weighted", labels=labels, **weights
            ),
        )
    return predicted


def _log_confusion_matrix(
    run: Run, estimator: Any, y: Any, predicted: list[Any], key: str, step: int
) -> None:
    """A classifier's confusion matrix as a table (``run.log_confusion_matrix``), its classes in
    ``classes_`` order; left out for multi-output targets and more than 100 classes."""
    labels = getattr(estimator, "classes_", None)
    if not predicted or labels is None or not 0 < len(labels) <= MAX_CONFUSION_CLASSES:
        return
    import numpy as np

    actual, guessed = np.asarray(y), np.asarray(predicted[0])
    if actual.ndim != 1 or actual.shape != guessed.shape:
        return
    try:
        run.log_confusion_matrix(key, actual, guessed, labels=list(labels.tolist()), step=step)
    except CairnError as exc:
        log.debug("cairn: sklearn autolog skipped the confusion matrix %s: %s", key, exc)


def _regressor_metrics(
    metrics: dict[str, float], estimator: Any, X: Any, y: Any, weights: Any, prefix: str
) -> None:
    m = sklearn_metrics
    predicted = estimator.predict(X)
    mse = m.mean_squared_error(y, predicted, **weights)
    metrics[f"{prefix}mean_squared_error"] = float(mse)
    metrics[f"{prefix}root_mean_squared_error"] = math.sqrt(float(mse))
    _attempt(
        metrics,
        f"{prefix}mean_absolute_error",
        lambda: m.mean_absolute_error(y, predicted, **weights),
    )
    _attempt(metrics, f"{prefix}r2_score", lambda: m.r2_score(y, predicted, **weights))


def _attempt(metrics: dict[str, float], key: str, compute: Callable[[], Any]) -> None:
    try:
        value = float(compute())
    except Exception as exc:
        log.debug("cairn: sklearn autolog skipped metric %s: %s", key, exc)
        return
    metrics[key] = value


# -- searches ----------------------------------------------------------------------------------


def _record_search(run: Run, search: Any) -> None:
    best = getattr(search, "best_params_", None)
    if isinstance(best, Mapping):
        run.log_params(safe_params(best, prefix="best_params."))
    if getattr(search, "best_score_", None) is not None:
        metrics: dict[str, float] = {}
        _attempt(metrics, "best_cv_score", lambda: search.best_score_)
        run.log(metrics, step=0)
    results: Mapping[str, Any] = search.cv_results_
    with tempfile.TemporaryDirectory(prefix="cairn-sklearn-") as scratch:
        table = Path(scratch) / "cv_results.csv"
        _write_cv_results(results, table)
        run.log_artifact(table, kind="table")
    if _options.log_models and getattr(search, "best_estimator_", None) is not None:
        _log_pickle(run, search.best_estimator_, "best_estimator.pkl")
    for index in _candidates(search, _options.max_tuning_runs):
        _record_candidate(run, search, results, index)


def _candidates(search: Any, limit: int | None) -> list[int]:
    """Rows of ``cv_results_`` to record as child runs, best ranked first."""
    results = search.cv_results_
    count = len(results["params"])
    refit = getattr(search, "refit", True)
    rank_key = f"rank_test_{refit}" if isinstance(refit, str) else "rank_test_score"
    if rank_key not in results:
        rank_key = next((key for key in results if key.startswith("rank_test_")), "")
    ranks = results.get(rank_key)
    order = list(range(count))
    if ranks is not None:
        order.sort(key=lambda i: (int(ranks[i]), i))
    return order if limit is None else order[:limit]


def _record_candidate(parent: Run, search: Any, results: Mapping[str, Any], index: int) -> None:
    inner = getattr(search, "estimator", None)
    label = type(inner).__name__ if inner is not None else type(search).__name__
    child = cairn.init(
        name=f"{label}-candidate-{index}",
        config=safe_params(results["params"][index]),
        tags={CANDIDATE_TAG: index},
        parent=parent,
        settings=parent.settings,
    )
    metrics: dict[str, float] = {}
    for key, column in results.items():
        if key.startswith(("mean_", "std_", "rank_")):
            try:
                metrics[safe_key(key)] = float(column[index])
            except (TypeError, ValueError):  # a masked or non-numeric cell
                continue
    with child:
        child.log(metrics, step=0)


def _write_cv_results(results: Mapping[str, Any], path: Path) -> None:
    columns = [key for key in results if key != "params"]
    rows = len(results["params"])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i in range(rows):
            writer.writerow([_cell(results[key][i]) for key in columns])


def _cell(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return item()
    return value if isinstance(value, int | float | str) else str(value)


# -- artifacts and datasets ----------------------------------------------------------------------


def _log_pickle(run: Run, estimator: Any, filename: str) -> None:
    metadata = {
        "format": "pickle",
        "flavor": "sklearn",
        "sklearn_version": sklearn.__version__,
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "estimator_class": f"{type(estimator).__module__}.{type(estimator).__name__}",
    }
    with tempfile.TemporaryDirectory(prefix="cairn-sklearn-") as scratch:
        path = Path(scratch) / filename
        try:
            with path.open("wb") as handle:
                pickle.dump(estimator, handle, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            log.warning("cairn: sklearn autolog could not pickle %s: %s", type(estimator), exc)
            return
        if filename == "model.pkl" and _options.registered_model_name:
            try:
                run.log_model(path, _options.registered_model_name, metadata=metadata)
            except CairnError as exc:  # recording never breaks a fit
                log.warning("cairn: sklearn autolog could not register the model: %s", exc)
            return
        run.log_artifact(path, kind="model", metadata=metadata)


def _log_datasets(run: Run, X: Any, y: Any) -> None:
    try:
        import pandas
    except ImportError:
        log.warning("cairn: sklearn autolog records datasets only with pandas installed")
        return
    for name, data in (("train_X", X), ("train_y", y)):
        if data is None:
            continue
        try:
            frame = data if isinstance(data, pandas.DataFrame) else pandas.DataFrame(data)
            run.use_dataset(frame, name=name)
        except Exception as exc:
            log.warning("cairn: sklearn autolog could not record dataset %s: %s", name, exc)


# -- post-training metrics ---------------------------------------------------------------------


def _on_score(
    original: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = original(estimator, *args, **kwargs)
    fitted = _fitted.get(id(estimator))
    if fitted is None:
        return result
    try:
        arguments = patching.call_arguments(original, estimator, args, kwargs)
        X, y = arguments.get("X"), arguments.get("y", arguments.get("Y"))
        sample_weight = arguments.get("sample_weight")
        predicted: list[Any] = []
        metrics = _standard_metrics(
            estimator, X, y, sample_weight, "validation_", with_score=False, out=predicted
        )
        metrics["validation_score"] = float(result)

        def confusion(run: Run, step: int) -> None:
            _log_confusion_matrix(run, estimator, y, predicted, "validation_confusion_matrix", step)

        _log_evaluation(fitted, metrics, confusion)
    except Exception as exc:
        log.warning("cairn: sklearn autolog could not record %s.score: %s", type(estimator), exc)
    return result


def _log_evaluation(
    fitted: _Fitted, metrics: Mapping[str, float], also: Callable[[Run, int], None]
) -> None:
    step = fitted.evaluations
    fitted.evaluations += 1
    run = fitted.run
    if run.status == "running":
        run.log(metrics, step=step)
        also(run, step)
        return
    with cairn.init(resume=run.id, settings=run.settings) as resumed:
        resumed.log(metrics, step=step)
        also(resumed, step)
