"""``cairn.keras.CairnCallback`` (Keras 3 on the PyTorch backend): a tiny model fitted on CPU;
its fit and optimizer params, epoch and batch metrics, summary and saved model read back from the
store."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before Keras is imported: torch is the backend installed

from pathlib import Path

import keras
import numpy as np
import pytest

import cairn
from cairn.keras import CairnCallback
from tests.pipeline import Pipeline, pipeline  # noqa: F401
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    return model


def test_fit_records_params_epoch_and_batch_metrics_summary_and_saved_model(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "keras-fit")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    callback = CairnCallback(
        name="tiny-dense",
        log_batch_frequency=2,
        save_model=True,
        registered_model_name="keras-dense",
        config={"batch_size": 8},
    )
    # 24 training rows in batches of 8: 3 batches per epoch, 6 in all (batch steps 0..5).
    tiny_model().fit(
        x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, callbacks=[callback]
    )

    [run_id] = pipeline.wait_for_runs(project="keras-fit", count=1, status="finished")
    assert callback.run is not None
    assert run_id == callback.run.id
    eventually(
        pipeline,
        "SELECT key, groupArray(step) FROM (SELECT key, step FROM metric_points"
        " WHERE run_id = {r:String} ORDER BY step) GROUP BY key ORDER BY key",
        [
            ("batch/loss", [0, 2, 4]),
            ("batch/mae", [0, 2, 4]),
            ("loss", [0, 1]),
            ("mae", [0, 1]),
            ("val_loss", [0, 1]),
            ("val_mae", [0, 1]),
        ],
        r=run_id,
    )
    [(name, params)] = pipeline.rows(
        "SELECT name, params FROM runs WHERE run_id = {r:String}", r=run_id
    )
    assert name == "tiny-dense"
    assert {
        key: params[key]
        for key in (
            "batch_size",
            "fit.epochs",
            "fit.steps_per_epoch",
            "optimizer.name",
            "optimizer.learning_rate",
            "model.class",
            "model.parameters_total",
            "model.parameters_trainable",
        )
    } == {
        "batch_size": "8",
        "fit.epochs": "2",
        "fit.steps_per_epoch": "3",
        "optimizer.name": "adam",
        "optimizer.learning_rate": "0.009999999776482582",  # float32, as Keras holds it
        "model.class": "Sequential",
        "model.parameters_total": "49",
        "model.parameters_trainable": "49",
    }
    artifacts = pipeline.rows(
        "SELECT DISTINCT name, kind FROM artifacts WHERE run_id = {r:String} ORDER BY name",
        r=run_id,
    )
    assert artifacts == [("model.keras", "model"), ("model_summary.txt", "other")]
    # registered_model_name: the saved file is version 1 of the model, built by this run.
    [version] = cairn.model_versions("keras-dense")
    assert (version.version, version.run_id, version.artifact_name) == (1, run_id, "model.keras")
    assert version.tags["flavor"] == "keras"
    restored = keras.saving.load_model(cairn.use_model("keras-dense:1"))
    assert restored.count_params() == 49


def test_registered_model_name_needs_save_model() -> None:
    with pytest.raises(cairn.errors.ValidationError, match="registered_model_name"):
        CairnCallback(registered_model_name="keras-dense")


def test_a_callback_inside_an_active_run_records_into_it_and_leaves_it_running(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "keras-active")
    x = np.ones((8, 4), dtype="float32")
    with cairn.init(name="outer") as run:
        tiny_model().fit(
            x, x[:, :1], epochs=1, batch_size=4, verbose=0, callbacks=[CairnCallback()]
        )
        run.log({"after_fit": 1.0}, step=1)  # still running: the callback did not finish it

    [run_id] = pipeline.wait_for_runs(project="keras-active", count=1, status="finished")
    assert run_id == run.id
    eventually(
        pipeline,
        "SELECT key, step FROM metric_points WHERE run_id = {r:String} ORDER BY key",
        [("after_fit", 1), ("loss", 0), ("mae", 0)],
        r=run_id,
    )
