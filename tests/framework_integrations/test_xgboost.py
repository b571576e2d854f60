"""``cairn.xgboost.CairnCallback``: real XGBoost trainings on CPU land in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import xgboost
from sklearn.datasets import make_classification

import cairn
import cairn.xgboost
from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)

pytestmark = pytest.mark.integration


def data() -> tuple[Any, Any, Any, Any]:
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
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


def local(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def test_xgboost_train_records_params_metrics_per_iteration_importance_and_model(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "xgb-train")
    X_train, X_val, y_train, y_val = data()
    dtrain = xgboost.DMatrix(X_train, label=y_train)
    dvalid = xgboost.DMatrix(X_val, label=y_val)
    history: dict[str, Any] = {}

    booster = xgboost.train(
        {"max_depth": 2, "eta": 0.3, "objective": "binary:logistic", "eval_metric": "logloss"},
        dtrain,
        num_boost_round=6,
        evals=[(dtrain, "train"), (dvalid, "validation")],
        evals_result=history,
        verbose_eval=False,
        callbacks=[cairn.xgboost.CairnCallback(name="xgb-booster")],
    )

    (run_id,) = pipeline.wait_for_runs(project="xgb-train", count=1, status="finished")
    (name, params) = pipeline.rows(
        "SELECT name, params FROM runs WHERE run_id = {r:String}", r=run_id
    )[0]
    assert name == "xgb-booster"
    assert params["max_depth"] == "2"
    assert params["objective"] == "binary:logistic"
    assert params["eval_metric"] == "logloss"
    recorded = points(pipeline, run_id, "validation-logloss")
    assert [step for step, _ in recorded] == list(range(6))
    assert [value for _, value in recorded] == pytest.approx(history["validation"]["logloss"])
    assert len(points(pipeline, run_id, "train-logloss")) == 6

    stored = artifacts(pipeline, run_id)
    assert stored["feature_importance.csv"][0] == "table"
    kind, uri = stored["model.json"]
    assert kind == "model"
    downloaded = tmp_path / "downloaded.json"  # the store names blobs by digest, no extension
    downloaded.write_bytes(local(uri).read_bytes())
    restored = xgboost.Booster(model_file=str(downloaded))
    assert np.allclose(restored.predict(dvalid), booster.predict(dvalid))


def test_the_sklearn_api_records_on_the_active_run_with_early_stopping(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "xgb-sklearn")
    X_train, X_val, y_train, y_val = data()

    with cairn.init(name="mine") as run:
        model = xgboost.XGBClassifier(
            n_estimators=30,
            max_depth=2,
            early_stopping_rounds=2,
            eval_metric="logloss",
            callbacks=[cairn.xgboost.CairnCallback()],
        )
        model.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=False)

    (run_id,) = pipeline.wait_for_runs(project="xgb-sklearn", count=1, status="finished")
    assert run_id == run.id
    rounds = model.get_booster().num_boosted_rounds()
    recorded = points(pipeline, run_id, "validation_0-logloss")
    assert [step for step, _ in recorded] == list(range(rounds))
    assert points(pipeline, run_id, "best_iteration") == [(0, float(model.best_iteration))]
    ((step, best_score),) = points(pipeline, run_id, "best_score")
    assert step == 0
    assert best_score == pytest.approx(model.best_score)
    assert set(artifacts(pipeline, run_id)) == {"model.json", "feature_importance.csv"}
