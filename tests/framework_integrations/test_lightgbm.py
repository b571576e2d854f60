"""``cairn.lightgbm.callback()`` and ``log_model``: real LightGBM trainings on CPU land in the
store."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import lightgbm
import numpy as np
import pytest
from sklearn.datasets import make_classification

import cairn
import cairn.lightgbm
from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)

pytestmark = pytest.mark.integration


def data(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=seed)
    return X[:150], X[150:], y[:150], y[150:]


def points(pipeline: Pipeline, run_id: str, key: str) -> list[tuple[int, float]]:
    return [
        (int(step), float(value))
        for step, value in pipeline.rows(
            "SELECT step, value FROM metric_points WHERE run_id = {r:String} AND key = {k:String}"
            " ORDER BY step",
            r=run_id,
            k=key,
        )
    ]


def artifacts(pipeline: Pipeline, run_id: str) -> dict[str, tuple[str, str]]:
    rows = pipeline.rows(
        "SELECT DISTINCT name, kind, uri FROM artifacts FINAL WHERE run_id = {r:String}", r=run_id
    )
    return {name: (kind, uri) for name, kind, uri in rows}


def test_lightgbm_train_records_params_metrics_per_iteration_and_the_model(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "lgb-train")
    X_train, X_val, y_train, y_val = data()
    train_set = lightgbm.Dataset(X_train, y_train)
    valid_set = lightgbm.Dataset(X_val, y_val, reference=train_set)
    history: dict[str, Any] = {}

    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 7, "metric": "binary_logloss", "verbose": -1},
        train_set,
        num_boost_round=6,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            cairn.lightgbm.callback(name="lgb-booster", registered_model_name="lgb-booster"),
            lightgbm.record_evaluation(history),
        ],
    )

    # No run was active: the callback started one and finished it at the last iteration.
    (run_id,) = pipeline.wait_for_runs(project="lgb-train", count=1, status="finished")
    name, params = pipeline.rows(
        "SELECT name, params FROM runs WHERE run_id = {r:String}", r=run_id
    )[0]
    assert name == "lgb-booster"
    assert params["num_leaves"] == "7"
    assert params["objective"] == "binary"
    assert params["num_iterations"] == "6"
    recorded = points(pipeline, run_id, "validation-binary_logloss")
    assert [step for step, _ in recorded] == list(range(6))
    assert [value for _, value in recorded] == pytest.approx(
        history["validation"]["binary_logloss"]
    )
    stored = artifacts(pipeline, run_id)
    assert stored["feature_importance.csv"][0] == "table"
    kind, uri = stored["model.txt"]
    assert kind == "model"
    restored = lightgbm.Booster(model_file=unquote(urlparse(uri).path))
    assert np.allclose(restored.predict(X_val), booster.predict(X_val))
    # registered_model_name: model.txt is version 1 of the model, built by this run.
    [version] = cairn.model_versions("lgb-booster")
    assert (version.version, version.run_id, version.artifact_name) == (1, run_id, "model.txt")
    assert version.tags["flavor"] == "lightgbm"
    registered = lightgbm.Booster(model_file=str(cairn.use_model("lgb-booster:1")))
    assert np.allclose(registered.predict(X_val), booster.predict(X_val))


def test_the_sklearn_api_records_on_the_active_run(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "lgb-sklearn")
    X_train, X_val, y_train, y_val = data()

    with cairn.init(name="mine") as run:
        lightgbm.LGBMClassifier(n_estimators=4, num_leaves=5, verbose=-1).fit(
            X_train,
            y_train,
            eval_X=(X_val,),
            eval_y=(y_val,),
            callbacks=[cairn.lightgbm.callback()],
        )

    (run_id,) = pipeline.wait_for_runs(project="lgb-sklearn", count=1, status="finished")
    assert run_id == run.id
    assert [step for step, _ in points(pipeline, run_id, "valid_0-binary_logloss")] == [0, 1, 2, 3]
    assert set(artifacts(pipeline, run_id)) == {"model.txt", "feature_importance.csv"}


def test_with_early_stopping_log_model_records_the_best_iteration(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "lgb-early")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = rng.integers(0, 2, size=120)  # noise: validation loss soon stops improving
    train_set = lightgbm.Dataset(X[:80], y[:80])
    valid_set = lightgbm.Dataset(X[80:], y[80:], reference=train_set)

    history: dict[str, Any] = {}

    with cairn.init(name="early") as run:
        booster = lightgbm.train(
            {"objective": "binary", "learning_rate": 0.5, "verbose": -1},
            train_set,
            num_boost_round=50,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[
                cairn.lightgbm.callback(),
                lightgbm.early_stopping(2, verbose=False),
                lightgbm.record_evaluation(history),
            ],
        )
        cairn.lightgbm.log_model(booster)

    trained = len(history["validation"]["binary_logloss"])
    assert trained < 50
    (run_id,) = pipeline.wait_for_runs(project="lgb-early", count=1, status="finished")
    assert run_id == run.id
    steps = [step for step, _ in points(pipeline, run_id, "validation-binary_logloss")]
    assert steps == list(range(trained))
    assert points(pipeline, run_id, "best_iteration") == [(0, float(booster.best_iteration))]
    best = booster.best_score["validation"]["binary_logloss"]
    ((step, value),) = points(pipeline, run_id, "best_score.validation-binary_logloss")
    assert step == 0
    assert value == pytest.approx(best)
    assert set(artifacts(pipeline, run_id)) == {"model.txt", "feature_importance.csv"}
