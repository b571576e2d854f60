"""``run.log_image``/``log_table``/``log_text``/``log_figure``/``log_audio`` and the evaluation
summaries as a user calls them, offline: what lands in the spool and in the artifact store, and
the exact error each misuse raises at the call site, before anything is spooled."""

from __future__ import annotations

import io
import wave
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn
from cairn.artifacts import open_store
from cairn.errors import FailedPreconditionError, ValidationError
from cairn.run import Run
from cairn.v1 import media_pb2
from domain.validation import BatchValidator
from tests.sdk.helpers import offline_settings, payloads, spooled_events


@pytest.fixture
def run(tmp_path: Path) -> Any:
    with cairn.init(name="media", settings=offline_settings(tmp_path)) as started:
        yield started


def items_of(run: Run) -> list[media_pb2.MediaItem]:
    assert run.flush(10)
    assert run.spool_dir is not None
    events = spooled_events(run.spool_dir)
    BatchValidator().check(_batch(events), now_ns=_now())  # what the server would accept
    return [item for batch in payloads(events, "media_logged") for item in batch.items]


def _batch(events: list[Any]) -> Any:
    from cairn.v1 import events_pb2

    return events_pb2.EventBatch(events=events)


def _now() -> int:
    import time

    return time.time_ns()


def stored(run: Run, sha256: str) -> bytes:
    with open_store(run.settings.artifact_location).open_blob(sha256) as blob:
        return blob.read()


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of a PNG this SDK wrote, read back independently (by Pillow), as H x W x C."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image)
    return pixels if pixels.ndim == 3 else pixels[:, :, None]


def test_an_image_is_stored_as_png_once_and_recorded_with_caption_boxes_and_masks(run: Run) -> None:
    pixels = np.random.default_rng(1).integers(0, 255, size=(32, 48, 3), dtype=np.uint8)
    mask = np.zeros((32, 48), dtype=np.uint8)
    mask[4:10, 5:20] = 2
    ref = run.log_image(
        "val/samples",
        pixels,
        step=3,
        caption="a cat",
        boxes=[{"x_min": 5, "y_min": 4, "x_max": 20, "y_max": 10, "label": "cat", "score": 0.9}],
        masks={"classes": mask},
    )
    again = run.log_image("val/samples", pixels, step=3)
    first, second = items_of(run)
    assert (first.key, first.step, first.index, second.index) == ("val/samples", 3, 0, 1)
    assert (first.kind, first.caption, first.width, first.height) == (
        media_pb2.MEDIA_KIND_IMAGE,
        "a cat",
        48,
        32,
    )
    assert [(b.label, b.x_max, b.score) for b in first.boxes] == [("cat", 20.0, 0.9)]
    image, mask_blob = first.blobs
    assert (image.role, image.content_type, mask_blob.role) == (
        "image",
        "image/png",
        "mask:classes",
    )
    assert ref.sha256 == image.sha256 == again.sha256 == second.blobs[0].sha256  # stored once
    assert (decode_png(stored(run, image.sha256)) == pixels).all()
    assert (decode_png(stored(run, mask_blob.sha256))[:, :, 0] == mask).all()


def test_float_chw_tensors_and_grey_images_become_the_same_pixels(run: Run) -> None:
    grey = np.linspace(0, 1, 12, dtype=np.float32).reshape(1, 3, 4)  # C x H x W, like torch
    run.log_image("grey", grey, step=0)
    (item,) = items_of(run)
    pixels = decode_png(stored(run, item.blobs[0].sha256))
    assert pixels.shape == (3, 4, 1)
    assert pixels[0, 0, 0] == 0
    assert pixels[-1, -1, 0] == 255


def test_a_png_file_is_stored_as_it_is(run: Run, tmp_path: Path) -> None:
    run.log_image("file", np.zeros((2, 2), dtype=np.uint8), step=0)
    (item,) = items_of(run)
    path = tmp_path / "x.png"
    path.write_bytes(stored(run, item.blobs[0].sha256))
    run.log_image("file", path, step=1)
    assert items_of(run)[-1].blobs[0].sha256 == item.blobs[0].sha256


def test_a_table_keeps_columns_rows_and_typed_cells(run: Run) -> None:
    ref = run.log_image("img", np.ones((2, 2), dtype=np.uint8), step=0)
    run.log_table(
        "val/predictions",
        [
            {"id": "ex1", "label": 1, "pred": 0, "ok": False, "img": ref},
            {"id": "ex2", "label": 0, "pred": 0, "ok": True, "score": 0.25},
        ],
        step=2,
    )
    table = items_of(run)[-1]
    assert table.kind == media_pb2.MEDIA_KIND_TABLE
    assert table.index == 0
    assert list(table.table.columns) == ["id", "label", "pred", "ok", "img", "score"]
    first = [c.WhichOneof("value") for c in table.table.rows[0].cells]
    assert first == ["text", "number", "number", "flag", "image_sha256", "text"]
    assert table.table.rows[0].cells[4].image_sha256 == ref.sha256
    assert table.table.rows[1].cells[5].number == 0.25


def test_a_dataframe_and_a_dict_of_columns_are_tables_too(run: Run) -> None:
    import pandas as pd

    run.log_table("df", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), step=0)
    run.log_table("cols", {"a": [1.5], "b": [True]}, step=0)
    df, cols = items_of(run)
    assert [c.number for r in df.table.rows for c in r.cells[:1]] == [1.0, 2.0]
    assert cols.table.rows[0].cells[1].flag is True


def test_text_figures_and_audio_are_recorded(run: Run) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    run.log_text("samples", "<b>not bold</b>\nline two", step=1)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    run.log_figure("loss_curve", fig, step=1)
    plt.close(fig)
    run.log_figure("interactive", go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), step=1)
    tone = np.sin(np.linspace(0, 2 * np.pi * 440, 8000)).astype(np.float32)
    run.log_audio("speech", tone, 8000, step=1)
    text, matplotlib_fig, plotly_fig, audio = items_of(run)
    assert text.text == "<b>not bold</b>\nline two"
    assert [b.role for b in matplotlib_fig.blobs] == ["image", "svg"]
    assert stored(run, matplotlib_fig.blobs[1].sha256).lstrip().startswith(b"<?xml")
    assert [b.role for b in plotly_fig.blobs] == ["plotly"]
    assert b'"scatter"' in stored(run, plotly_fig.blobs[0].sha256)
    assert (audio.sample_rate, audio.duration_seconds) == (8000, 1.0)
    with wave.open(io.BytesIO(stored(run, audio.blobs[0].sha256))) as clip:
        assert (clip.getframerate(), clip.getnframes(), clip.getsampwidth()) == (8000, 8000, 2)


def test_confusion_matrix_and_curves_are_tables(run: Run) -> None:
    run.log_confusion_matrix("cm", [0, 1, 1, 2], [0, 1, 2, 2], labels=[0, 1, 2], step=4)
    run.log_pr_curve("pr", [0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], step=4)
    run.log_roc_curve("roc", [0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], step=4)
    cm, pr, roc = items_of(run)
    cells = {(r.cells[0].text, r.cells[1].text): r.cells[2].number for r in cm.table.rows}
    assert len(cells) == 9
    assert cells[("1", "2")] == 1.0
    assert cells[("2", "1")] == 0.0
    assert list(pr.table.columns) == ["threshold", "precision", "recall"]
    assert [r.cells[2].number for r in pr.table.rows][-1] == 1.0
    assert [r.cells[1].number for r in roc.table.rows][:2] == [0.0, 0.0]


def test_step_defaults_to_the_latest_logged_step_and_numbering_restarts_per_step(run: Run) -> None:
    run.log({"loss": 1.0}, step=7)
    run.log_text("t", "a")
    run.log_text("t", "b")
    run.log_text("t", "c", step=8)
    assert [(i.step, i.index) for i in items_of(run)] == [(7, 0), (7, 1), (8, 0)]


@pytest.mark.parametrize(
    ("call", "field", "rule"),
    [
        (lambda r: r.log_image("bad key", np.zeros((2, 2))), "key", "key_format"),
        (lambda r: r.log_image("k", "not/a/file.png"), "image", "exists"),
        (lambda r: r.log_image("k", object()), "image", "media_type"),
        (lambda r: r.log_image("k", np.zeros((2, 2, 2))), "image", "media_shape"),
        (lambda r: r.log_image("k", np.full((2, 2), np.nan)), "image", "media_range"),
        (
            lambda r: r.log_image("k", np.zeros((2, 2)), boxes=[(3, 0, 1, 1)]),
            "boxes[0]",
            "box_corners",
        ),
        (
            lambda r: r.log_image("k", np.zeros((2, 2)), masks=np.zeros((3, 3))),
            "masks",
            "mask_size",
        ),
        (lambda r: r.log_image("k", np.zeros((2, 2)), step=-1), "step", "non_negative_step"),
        (lambda r: r.log_table("k", "text"), "data", "media_type"),
        (lambda r: r.log_table("k", {"a": [1], "b": [1, 2]}), "data", "equal_lengths"),
        (lambda r: r.log_table("k", [{"a": object()}]), "data[0]['a']", "media_type"),
        (lambda r: r.log_text("k", ""), "text", "required"),
        (lambda r: r.log_text("k", "x" * 70_000), "text", "max_length"),
        (lambda r: r.log_figure("k", 42), "fig", "media_type"),
        (lambda r: r.log_audio("k", np.zeros(10), 0), "sample_rate", "media_range"),
        (lambda r: r.log_audio("k", np.zeros((2, 2, 2)), 8000), "samples", "media_shape"),
        (
            lambda r: r.log_confusion_matrix("k", [1, 2], [1, 3], labels=[1, 2]),
            "labels",
            "known_labels",
        ),
    ],
)
def test_misuse_names_the_argument_and_the_rule_and_spools_nothing(
    run: Run, call: Any, field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        call(run)
    assert (raised.value.field, raised.value.rule) == (field, rule)
    assert str(raised.value).startswith(f"{field}: ")
    assert items_of(run) == []


def test_logging_after_finish_is_refused(tmp_path: Path) -> None:
    run = cairn.init(name="done", settings=offline_settings(tmp_path))
    run.finish()
    with pytest.raises(FailedPreconditionError):
        run.log_text("t", "late")


@pytest.mark.parametrize("fast", [True, False], ids=["isal", "zlib"])
def test_png_pixels_survive_with_either_deflate(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ISA-L (the ``media`` extra) and zlib write the same pixels, photo-like noise included."""
    from cairn import _media_encode

    if not fast:
        monkeypatch.setattr(_media_encode, "deflate", lambda data: zlib.compress(data, 1))
    else:
        from isal import isal_zlib

        assert _media_encode.deflate(b"abc" * 100) == isal_zlib.compress(b"abc" * 100, 1)
    pixels = np.random.default_rng(3).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(_media_encode.png(pixels, "image").data), pixels)
