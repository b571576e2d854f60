"""``cairn.sklearn.autolog()``: real scikit-learn fits on CPU land as runs in the store (through
the real ingest, Kafka, processors and ClickHouse)."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import StandardScaler

import cairn
import cairn.sklearn
from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def autolog() -> Iterator[None]:
    cairn.sklearn.autolog()
    try:
        yield
    finally:
        cairn.sklearn.autolog(disable=True)


def iris_split() -> tuple[Any, Any, Any, Any]:
    X, y = load_iris(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    return X_train, X_val, y_train, y_val


def run_row(pipeline: Pipeline, run_id: str) -> dict[str, Any]:
    columns = "name, status, parent_run_id, params, tags, metrics_last"
    rows = pipeline.rows(f"SELECT {columns} FROM runs WHERE run_id = {{r:String}}", r=run_id)
    assert rows, f"run {run_id} is not in the store"
    return dict(zip([c.strip() for c in columns.split(",")], rows[0], strict=True))


def artifacts(pipeline: Pipeline, run_id: str) -> dict[str, tuple[str, str]]:
    rows = pipeline.rows(
        "SELECT DISTINCT name, kind, uri FROM artifacts FINAL WHERE run_id = {r:String}", r=run_id
    )
    return {name: (kind, uri) for name, kind, uri in rows}


def wait_for_metric(pipeline: Pipeline, run_id: str, key: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pipeline.rows(
            "SELECT count() FROM metric_points WHERE run_id = {r:String} AND key = {k:String}",
            r=run_id,
            k=key,
        )
        if found[0][0]:
            return
        time.sleep(0.3)
    raise AssertionError(f"metric {key} of run {run_id} not in the store within {timeout}s")


def load_pickle(uri: str) -> Any:
    with Path(unquote(urlparse(uri).path)).open("rb") as handle:
        return pickle.load(handle)  # noqa: S301 - our own test artifact


def test_a_classifier_fit_is_a_finished_run_with_params_metrics_model_and_validation_score(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autolog: None
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "sk-classifier")
    X_train, X_val, y_train, y_val = iris_split()

    model = LogisticRegression(C=0.5, max_iter=300).fit(X_train, y_train)
    validation = model.score(X_val, y_val)

    (run_id,) = pipeline.wait_for_runs(project="sk-classifier", count=1, status="finished")
    wait_for_metric(pipeline, run_id, "validation_score")
    pipeline.wait_for_runs(project="sk-classifier", count=1, status="finished")
    run = run_row(pipeline, run_id)
    assert run["name"] == "LogisticRegression"
    assert run["params"]["C"] == "0.5"
    assert run["params"]["max_iter"] == "300"
    assert run["tags"]["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    metrics = run["metrics_last"]
    assert metrics["training_score"] == pytest.approx(model.score(X_train, y_train))
    assert metrics["training_accuracy_score"] == pytest.approx(metrics["training_score"])
    for key in ("training_f1_score", "training_log_loss", "training_roc_auc", "fit_time_s"):
        assert key in metrics
    assert metrics["validation_score"] == pytest.approx(validation)
    assert metrics["validation_accuracy_score"] == pytest.approx(validation)
    kind, uri = artifacts(pipeline, run_id)["model.pkl"]
    assert kind == "model"
    restored = load_pickle(uri)
    assert np.array_equal(restored.predict(X_val), model.predict(X_val))
    # Confusion matrices of the fit and of the evaluation: 3 x 3 classes, every example counted.
    eventually(
        pipeline,
        "SELECT key, step, count(), sum(toInt64(cells['count'])) FROM table_rows_current"
        " WHERE run_id = {r:String} GROUP BY key, step ORDER BY key",
        [
            ("training_confusion_matrix", 0, 9, len(y_train)),
            ("validation_confusion_matrix", 0, 9, len(y_val)),
        ],
        r=run_id,
    )


def test_a_fit_that_raises_leaves_a_failed_run(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autolog: None
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "sk-failing")
    X, y = load_iris(return_X_y=True)
    X = X.copy()
    X[0, 0] = np.nan

    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(X, y)

    (run_id,) = pipeline.wait_for_runs(project="sk-failing", count=1, status="failed")
    assert run_row(pipeline, run_id)["params"]["solver"] == "lbfgs"


def test_a_grid_search_is_a_parent_run_with_a_child_run_per_best_candidate(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "sk-search")
    cairn.sklearn.autolog(max_tuning_runs=2)
    try:
        X_train, _, y_train, _ = iris_split()
        search = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.01, 0.1, 1.0]}, cv=3).fit(
            X_train, y_train
        )
    finally:
        cairn.sklearn.autolog(disable=True)

    # The 9 fold fits and the refit are nested: one parent and two children, nothing else.
    run_ids = pipeline.wait_for_runs(project="sk-search", count=3, status="finished")
    time.sleep(1.0)
    assert len(pipeline.wait_for_runs(project="sk-search", count=3)) == 3
    runs = {run_id: run_row(pipeline, run_id) for run_id in run_ids}
    (parent_id,) = [run_id for run_id, run in runs.items() if not run["parent_run_id"]]
    parent = runs[parent_id]
    assert parent["name"] == "GridSearchCV"
    assert parent["params"]["best_params.C"] == str(search.best_params_["C"])
    assert parent["params"]["estimator__max_iter"] == "300"
    assert parent["metrics_last"]["best_cv_score"] == pytest.approx(search.best_score_)
    assert set(artifacts(pipeline, parent_id)) == {
        "model.pkl",
        "best_estimator.pkl",
        "cv_results.csv",
    }

    children = [run for run_id, run in runs.items() if run_id != parent_id]
    assert all(child["parent_run_id"] == parent_id for child in children)
    results = search.cv_results_
    best_two = sorted(range(3), key=lambda i: (results["rank_test_score"][i], i))[:2]
    by_candidate = {int(child["tags"]["cairn.sklearn.candidate"]): child for child in children}
    assert sorted(by_candidate) == sorted(best_two)
    for index, child in by_candidate.items():
        assert child["params"]["C"] == str(results["params"][index]["C"])
        metrics = child["metrics_last"]
        assert metrics["mean_test_score"] == pytest.approx(results["mean_test_score"][index])
        assert metrics["std_test_score"] == pytest.approx(results["std_test_score"][index])
        assert metrics["rank_test_score"] == results["rank_test_score"][index]


def test_a_pipeline_fitted_inside_an_active_run_is_recorded_on_it_once(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autolog: None
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "sk-pipeline")
    X, y = load_diabetes(return_X_y=True)

    with cairn.init(name="mine") as run:
        model = SkPipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=2.0))]).fit(X, y)
        assert cairn.current_run() is run  # autolog did not end the user's run

    (run_id,) = pipeline.wait_for_runs(project="sk-pipeline", count=1, status="finished")
    assert run_id == run.id
    recorded = run_row(pipeline, run_id)
    assert recorded["name"] == "mine"
    assert recorded["params"]["ridge__alpha"] == "2.0"
    assert recorded["tags"]["estimator_name"] == "Pipeline"
    metrics = recorded["metrics_last"]
    assert metrics["training_r2_score"] == pytest.approx(model.score(X, y))
    assert metrics["training_root_mean_squared_error"] ** 2 == pytest.approx(
        metrics["training_mean_squared_error"]
    )
    assert "model.pkl" in artifacts(pipeline, run_id)
