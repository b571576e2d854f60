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
from query.media import media_at, table_at
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


def test_samples_log_a_predictions_table_with_the_inputs_as_images_every_epoch(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An 8x8 image classifier with four validation examples: a table per epoch whose rows name
    the classes, show each input as an image (logged once) and say whether it was right."""
    pipeline.configure(monkeypatch, tmp_path, "keras-samples")
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(24, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 3, size=24)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callback = CairnCallback(
        name="samples",
        samples=(images[:4], labels[:4]),
        class_names=["cat", "dog", "fox"],
    )
    model.fit(images, labels, epochs=2, batch_size=8, verbose=0, callbacks=[callback])

    [run_id] = pipeline.wait_for_runs(project="keras-samples", count=1, status="finished")
    eventually(
        pipeline,
        "SELECT key, step, count() FROM media_items WHERE run_id = {r:String}"
        " GROUP BY key, step ORDER BY key, step",
        [
            ("samples/predictions", 0, 1),
            ("samples/predictions", 1, 1),
            ("samples/predictions/inputs", 0, 4),  # the inputs once, not every epoch
        ],
        r=run_id,
    )
    client = pipeline.client()
    for step in (0, 1):
        (table,) = media_at(client, pipeline.caller, [run_id], "samples/predictions", step)
        frame = table_at(client, pipeline.caller, table)
        assert list(frame.columns) == [
            "example", "input", "label", "prediction", "confidence", "correct",
        ]  # fmt: skip
        assert list(frame["label"]) == [["cat", "dog", "fox"][i] for i in labels[:4]]
        assert set(frame["prediction"]) <= {"cat", "dog", "fox"}
        assert all(1 / 3 <= c <= 1 for c in frame["confidence"])
        assert list(frame["correct"]) == [
            str(p == t).lower() for p, t in zip(frame["prediction"], frame["label"], strict=True)
        ]


def test_samples_are_checked_when_the_callback_is_made() -> None:
    with pytest.raises(cairn.errors.ValidationError, match=r"samples.*4 examples but 3 labels"):
        CairnCallback(samples=(np.zeros((4, 2)), np.zeros(3)))
    with pytest.raises(cairn.errors.ValidationError, match=r"samples_every.*integer >= 1"):
        CairnCallback(samples=np.zeros((4, 2)), samples_every=0)
