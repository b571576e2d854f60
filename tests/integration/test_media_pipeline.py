"""Rich media through the real write path: a tiny real model (a scikit-learn logistic regression
on CPU) logs images with boxes and masks, a table of predictions, text, a matplotlib and a plotly
figure, audio and a confusion matrix; ``run.log_*`` → ingest → Kafka → processors → ClickHouse,
read back with ``query.media`` as a team member (and as an outsider), through the reporting
views ``media`` and ``table_rows`` (the cross-run SQL of docs/media.md), and from the artifact
store by digest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn
from cairn.artifacts import open_store
from query.access import Caller
from query.media import media_at, media_keys, run_blobs, table_at
from query.reporting_schema import reporting_database
from tests.pipeline import TEAM, Pipeline  # the fixture itself is registered by tests/conftest.py

pytestmark = pytest.mark.integration

OUTSIDER = Caller("mallory", frozenset({"some-other-team"}))
PROJECT = "media-digits"


def _digits() -> tuple[Any, Any]:
    """8 x 8 grey images of two classes: a bright box top-left (0) or bottom-right (1); the
    first ten are the validation examples."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.3, size=(60, 8, 8))
    labels = np.arange(60) % 2
    for image, label in zip(images, labels, strict=True):
        if label:
            image[4:, 4:] += 0.7
        else:
            image[:4, :4] += 0.7
    # Two validation examples drawn as the other class (mislabelled): every fitted run misses them.
    images[5], images[6] = images[0], images[1]
    return images, labels


def _train(pipeline: Pipeline, tmp_path: Path, seed: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from sklearn.linear_model import LogisticRegression

    images, labels = _digits()
    flat = images.reshape(len(images), -1)
    with cairn.init(name=f"digits-{seed}", config={"seed": seed}) as run:
        for step, strength in enumerate((1e-4, 1.0)):  # heavily regularised, then fitted
            model = LogisticRegression(C=strength * seed, max_iter=500, random_state=seed)
            model.fit(flat[10:], labels[10:])
            predicted = model.predict(flat[:10])
            run.log({"accuracy": float((predicted == labels[:10]).mean())}, step=step)
            rows = []
            for i in range(10):
                ref = run.log_image(
                    "val/examples",
                    images[i],
                    caption=f"label {labels[i]}",
                    boxes=[(0, 0, 3, 3, "top-left")] if labels[i] == 0 else [(4, 4, 7, 7, "b-r")],
                    masks=(images[i] > 0.5).astype(np.uint8),
                )
                rows.append(
                    {
                        "id": f"ex{i}",
                        "label": int(labels[i]),
                        "pred": int(predicted[i]),
                        "image": ref,
                    }
                )
            run.log_table("val/predictions", rows)
            run.log_text("notes", f"<script>alert({seed})</script> step {step}")
            run.log_confusion_matrix("val/confusion", labels[:10], predicted, labels=[0, 1])
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.imshow(model.coef_.reshape(8, 8))
        run.log_figure("weights", fig)
        plt.close(fig)
        run.log_figure("weights_interactive", go.Figure(go.Heatmap(z=model.coef_.reshape(8, 8))))
        run.log_audio("tone", np.sin(np.linspace(0, 880 * np.pi, 4000)), 4000)
        return run.id


def _docs_query() -> str:
    """The cross-run query of docs/media.md, as a reader copies it."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "media.md").read_text()
    section = page.split("## Which validation examples does every run get wrong?", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def _wait_for_media(pipeline: Pipeline, run_ids: list[str], items: int) -> None:
    deadline = time.monotonic() + 90
    sql = "SELECT count() FROM media_items WHERE has({r:Array(String)}, run_id)"
    while pipeline.rows(sql, r=run_ids) != [(items,)]:
        assert time.monotonic() < deadline, f"{items} media items not projected in 90 s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def trained(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    directory = tmp_path_factory.mktemp("media")
    with pytest.MonkeyPatch.context() as monkeypatch:
        pipeline.configure(monkeypatch, directory, PROJECT)
        run_ids = [_train(pipeline, directory, seed) for seed in (1, 2)]
    per_run = 2 * (10 + 1 + 1 + 1) + 3  # per step: images, table, text, matrix; 2 figures, audio
    _wait_for_media(pipeline, run_ids, 2 * per_run)
    return run_ids, directory / "artifacts"


def test_every_kind_lands_in_the_store_with_its_blobs(
    pipeline: Pipeline, trained: tuple[list[str], Path]
) -> None:
    (run_id, _), artifacts = trained
    client = pipeline.client()
    keys = {k.key: (k.kind, k.steps) for k in media_keys(client, pipeline.caller, run_id)}
    assert keys == {
        "notes": ("text", (0, 1)),
        "tone": ("audio", (1,)),
        "val/confusion": ("table", (0, 1)),
        "val/examples": ("image", (0, 1)),
        "val/predictions": ("table", (0, 1)),
        "weights": ("figure", (1,)),
        "weights_interactive": ("figure", (1,)),
    }
    images = media_at(client, pipeline.caller, [run_id], "val/examples", 1)
    assert [i.position for i in images] == list(range(10))
    first = images[0]
    assert (first.caption, first.width, first.height, first.content_type) == (
        "label 0",
        8,
        8,
        "image/png",
    )
    assert first.boxes[0]["label"] == "top-left"
    assert set(first.blobs) == {"image", "mask"}
    store = open_store(str(artifacts))
    with store.open_blob(first.digest) as blob:
        assert blob.read(8) == b"\x89PNG\r\n\x1a\n"
    # The same image at both steps is stored once: one digest, one file.
    assert first.digest == media_at(client, pipeline.caller, [run_id], "val/examples", 0)[0].digest
    (text,) = media_at(client, pipeline.caller, [run_id], "notes", 1)
    assert text.text == "<script>alert(1)</script> step 1"
    (matplotlib_fig,) = media_at(client, pipeline.caller, [run_id], "weights", 1)
    assert set(matplotlib_fig.blobs) == {"image", "svg"}
    (plotly_fig,) = media_at(client, pipeline.caller, [run_id], "weights_interactive", 1)
    assert plotly_fig.content_type == "application/json"
    (tone,) = media_at(client, pipeline.caller, [run_id], "tone", 1)
    assert (tone.content_type, tone.sample_rate, tone.duration_seconds) == ("audio/wav", 4000, 1.0)

    (table,) = media_at(client, pipeline.caller, [run_id], "val/predictions", 1)
    frame = table_at(client, pipeline.caller, table)
    assert list(frame.columns) == ["id", "label", "pred", "image"]
    assert frame["label"].tolist() == [0, 1] * 5
    assert frame["image"][0] == first.digest
    assert run_blobs(client, pipeline.caller, run_id, [first.digest, "0" * 64]) == {first.digest}
    (matrix,) = media_at(client, pipeline.caller, [run_id], "val/confusion", 1)
    counts = table_at(client, pipeline.caller, matrix)
    assert counts["count"].sum() == 10


def test_an_outsider_sees_no_keys_items_rows_or_blobs(
    pipeline: Pipeline, trained: tuple[list[str], Path]
) -> None:
    (run_id, _), _ = trained
    client = pipeline.client()
    assert media_keys(client, OUTSIDER, run_id) == ()
    assert media_at(client, OUTSIDER, [run_id], "val/examples", 1) == ()
    digest = media_at(client, pipeline.caller, [run_id], "val/examples", 1)[0].digest
    assert run_blobs(client, OUTSIDER, run_id, [digest]) == frozenset()


def test_the_cross_run_sql_of_the_docs_finds_the_examples_every_run_gets_wrong(
    pipeline: Pipeline, trained: tuple[list[str], Path]
) -> None:
    run_ids, _ = trained
    reporting = reporting_database(pipeline.client().database)
    sql = _docs_query().replace("cairn_reporting.", f"`{reporting}`.")
    wrong = pipeline.rows(sql.replace("'media-docs'", f"'{PROJECT}'"))
    client = pipeline.client()
    missed = []
    for run_id in run_ids:
        per_step = []
        for step in (0, 1):
            (table,) = media_at(client, pipeline.caller, [run_id], "val/predictions", step)
            frame = table_at(client, pipeline.caller, table)
            per_step.append(set(frame["id"][frame["pred"] != frame["label"]]))
        missed.append(set.union(*per_step))
    expected = sorted(set.intersection(*missed))
    assert {"ex5", "ex6"} <= set(expected), missed  # the mislabelled examples
    assert [(example, len(run_ids)) for example in expected] == wrong
    rows = pipeline.rows(
        f"SELECT team, count(), uniqExact(run_id) FROM `{reporting}`.table_rows"
        " WHERE key = 'val/predictions' AND project = {p:String} GROUP BY team",
        p=PROJECT,
    )
    assert rows == [(TEAM, 2 * 2 * 10, 2)]
    media = pipeline.rows(
        f"SELECT kind, count() FROM `{reporting}`.media WHERE project = {{p:String}}"
        " GROUP BY kind ORDER BY kind",
        p=PROJECT,
    )
    assert media == [("audio", 2), ("figure", 4), ("image", 40), ("table", 8), ("text", 4)]
    activity = pipeline.rows(
        f"SELECT count() FROM `{reporting}`.activity WHERE event_type = 'media_logged'"
    )
    assert activity == [(0,)]
