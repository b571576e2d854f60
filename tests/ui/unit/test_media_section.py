"""The Media sections of the Run and Compare pages, run by ``streamlit.testing`` against a store
of their own.

Runs are projected into a fresh database on the session's real ClickHouse endpoint, exactly as
the processors would, and their blobs put into the portal's artifact store as the SDK puts them:
two runs of team risk with an image (a box and a mask), a table whose image cells name the
run's image and an image of a vision run, a hostile text, a matplotlib and a plotly figure, audio
and a confusion matrix; a run without media has no Media section.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import streamlit as st
from PIL import Image

from cairn import _media_encode as encode
from cairn.artifacts import LocalStore
from cairn.v1 import events_pb2, media_pb2, runs_pb2
from localstack.demo import write_users_file
from query.client import connect
from query.migrations import apply_migrations, drop_database
from tests.builders import event
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.ui.conftest import ALICE, PageHarness, PortalStore, project_events

FIRST, SECOND, PLAIN, VISION = "run-media-1", "run-media-2", "run-media-none", "run-media-vision"
HOSTILE = "<script>alert(1)</script> **not bold** [x](javascript:alert(1))"
_K = media_pb2.MediaKind


def _blob(store: LocalStore, role: str, data: bytes, content_type: str) -> media_pb2.MediaBlob:
    stored = store.put_bytes(data)
    return media_pb2.MediaBlob(
        role=role, sha256=stored.sha256, content_type=content_type, size_bytes=len(data)
    )


def _media(store: LocalStore, seed: int, foreign: str) -> list[media_pb2.MediaItem]:
    pixels = np.full((16, 16, 3), 40 * seed, dtype=np.uint8)
    image = _blob(store, "image", encode.png(pixels, "image").data, "image/png")
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[8:, 8:] = 1
    masked = _blob(store, "mask", encode.png(mask, "mask").data, "image/png")
    box = media_pb2.BoundingBox(x_min=1, y_min=1, x_max=6, y_max=6, label="cat", score=0.9)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buffer, format="PNG")
    plot_png = _blob(store, "image", buffer.getvalue(), "image/png")
    svg = _blob(store, "svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    figure = go.Figure(go.Bar(x=["a", "b"], y=[seed, 2]))
    figure.add_layout_image(source="http://tracker.example/p.png", x=0, y=0)
    plotly = _blob(store, "plotly", figure.to_json().encode(), "application/json")
    clip, seconds = encode.wav(np.zeros(800), 8000)
    audio = _blob(store, "audio", clip.data, "audio/wav")
    text_cell = media_pb2.TableCell
    table = media_pb2.MediaTable(
        columns=["id", "pred", "image"],
        rows=[
            media_pb2.TableRow(cells=[text_cell(text="ex0"), text_cell(number=1), text_cell(image_sha256=image.sha256)]),
            media_pb2.TableRow(cells=[text_cell(text="ex1"), text_cell(number=0), text_cell(image_sha256=foreign)]),
        ],
    )  # fmt: skip
    matrix = media_pb2.MediaTable(
        columns=["actual", "predicted", "count"],
        rows=[
            media_pb2.TableRow(cells=[text_cell(text=a), text_cell(text=p), text_cell(number=n)])
            for a, p, n in (("0", "0", 3), ("0", "1", 1), ("1", "0", 0), ("1", "1", 6))
        ],
    )
    return [
        media_pb2.MediaItem(key="val/examples", kind=_K.MEDIA_KIND_IMAGE, caption=f"**cat** {seed}",
                            blobs=[image, masked], boxes=[box], width=16, height=16, step=1),
        media_pb2.MediaItem(key="val/examples", kind=_K.MEDIA_KIND_IMAGE, step=0, blobs=[image],
                            width=16, height=16),
        media_pb2.MediaItem(key="val/predictions", kind=_K.MEDIA_KIND_TABLE, table=table, step=1),
        media_pb2.MediaItem(key="val/confusion", kind=_K.MEDIA_KIND_TABLE, table=matrix, step=1),
        media_pb2.MediaItem(key="notes", kind=_K.MEDIA_KIND_TEXT, text=HOSTILE, step=1),
        media_pb2.MediaItem(key="weights", kind=_K.MEDIA_KIND_FIGURE, blobs=[plot_png, svg],
                            width=40, height=30, step=1),
        media_pb2.MediaItem(key="weights_plotly", kind=_K.MEDIA_KIND_FIGURE, blobs=[plotly], step=1),
        media_pb2.MediaItem(key="tone", kind=_K.MEDIA_KIND_AUDIO, blobs=[audio], sample_rate=8000,
                            duration_seconds=seconds, step=1),
    ]  # fmt: skip


def _run(run_id: str, team: str, items: list[media_pb2.MediaItem]) -> list[events_pb2.Event]:
    now = time.time_ns() - 60_000_000_000
    scope = {"run_id": run_id, "team": team, "project": "media"}
    created = runs_pb2.RunCreated(name=run_id)
    events = [event("run_created", created, sequence=1, occurred_at_ns=now, **scope)]
    for offset, item in enumerate(items):
        batch = media_pb2.MediaBatch(items=[item])
        events.append(
            event("media_logged", batch, sequence=2 + offset, occurred_at_ns=now + offset, **scope)
        )
    return events


@pytest.fixture(scope="module")
def media_store(
    clickhouse_endpoint: ClickHouseEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalStore]:
    root = tmp_path_factory.mktemp("media-portal")
    database = f"ui_m_{uuid.uuid4().hex[:10]}"
    admin = connect(clickhouse_endpoint.url, database="default")
    apply_migrations(admin, database)
    url = f"{clickhouse_endpoint.url}/{database}"
    store = LocalStore(root / "artifacts")
    secret = store.put_bytes(encode.png(np.full((4, 4), 7, dtype=np.uint8), "image").data)
    vision_image = media_pb2.MediaBlob(
        role="image", sha256=secret.sha256, content_type="image/png", size_bytes=secret.size_bytes
    )
    vision = [media_pb2.MediaItem(key="x", kind=_K.MEDIA_KIND_IMAGE, blobs=[vision_image])]
    events = [
        *_run(FIRST, "risk", _media(store, 1, secret.sha256)),
        *_run(SECOND, "risk", _media(store, 2, secret.sha256)),
        *_run(PLAIN, "risk", []),
        *_run(VISION, "vision", vision),
    ]
    project_events(url, database, events)
    users_file = root / "portal-users.json"
    write_users_file(users_file)
    st.cache_data.clear()  # reads are cached per caller, not per store (see the histograms test)
    yield PortalStore(url, database, users_file, root / "artifacts", {})
    st.cache_data.clear()
    drop_database(admin, database)


@pytest.fixture
def pages(media_store: PortalStore, monkeypatch: pytest.MonkeyPatch) -> PageHarness:
    return PageHarness(media_store, monkeypatch)


def _images(app: object) -> list[tuple[str, str]]:
    return [(i.caption, i.alt) for e in app.get("image") for i in e.proto.imgs]  # type: ignore[attr-defined]


def _plotly(app: object) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(c.proto.spec) for c in app.get("plotly_chart")]  # type: ignore[attr-defined]


ALL_KEYS = "val/examples,val/predictions,val/confusion,notes,weights,weights_plotly,tone"


def test_the_run_pages_media_section_draws_every_kind_as_text_safe_elements(
    pages: PageHarness,
) -> None:
    app = pages.open("views/run.py", ALICE, {"id": FIRST, "tab": "Media", "media": ALL_KEYS})
    assert not app.exception
    assert "Media" in app.segmented_control(key="run.section").options
    # The image of the last step, its caption escaped (no bold), drawn with its overlays.
    assert _images(app)[0] == ("\\*\\*cat\\*\\* 1", "val/examples image 0")
    assert ("", "weights figure") in _images(app)
    # The hostile text as plain text, never markdown.
    assert [t.value for t in app.text] == [HOSTILE]
    assert HOSTILE not in "".join(m.value for m in app.markdown)
    # The plotly figure without its remote layout image, and the confusion matrix as a heatmap.
    specs = _plotly(app)
    heatmap = next(s for s in specs if s["data"][0]["type"] == "heatmap")
    assert heatmap["data"][0]["z"] == [[3, 1], [0, 6]]
    bars = next(s for s in specs if s["data"][0]["type"] == "bar")
    assert "images" not in bars["layout"]
    assert any("layout images" in c.value for c in app.caption)
    # The table: its own image as a thumbnail, the vision run's image not at all.
    predictions = app.dataframe[0].value
    assert list(predictions["id"]) == ["ex0", "ex1"]
    assert predictions["image"][0].startswith("data:image/png;base64,")
    assert pd.isna(predictions["image"][1])
    assert len(app.get("audio")) == 1
    assert app.query_params["media"] == ALL_KEYS


def test_the_overlay_enlarges_small_images_and_draws_the_box_and_mask() -> None:
    from ui import media_render

    image = encode.png(np.full((16, 16, 3), 40, dtype=np.uint8), "image").data
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[8:, 8:] = 1
    box = {"x_min": 1, "y_min": 1, "x_max": 6, "y_max": 6, "label": "cat", "score": 0.9}
    drawn = Image.open(io.BytesIO(media_render.display(image, [box], [encode.png(mask, "m").data])))
    assert drawn.size == (192, 192)  # 16 px enlarged 12 times
    assert drawn.getpixel((4, 4)) == (40, 40, 40)  # untouched background
    assert drawn.getpixel((150, 150)) != (40, 40, 40)  # the mask's class 1, coloured
    assert drawn.getpixel((12 * 6, 12 * 4)) != (40, 40, 40)  # the box's right edge
    large = encode.png(np.full((600, 900, 3), 40, dtype=np.uint8), "image").data
    assert Image.open(io.BytesIO(media_render.display(large))).size == (256, 171)  # scaled down
    plain = encode.png(np.full((200, 220, 3), 40, dtype=np.uint8), "image").data
    assert media_render.display(plain) == plain  # nothing to do: the bytes as logged


def test_a_run_without_media_has_no_media_section(pages: PageHarness) -> None:
    app = pages.open("views/run.py", ALICE, {"id": PLAIN, "tab": "Media"})
    assert not app.exception
    assert "Media" not in app.segmented_control(key="run.section").options


def test_compare_shows_the_key_of_each_run_side_by_side_at_the_chosen_step(
    pages: PageHarness,
) -> None:
    params = {"runs": f"{FIRST},{SECOND}", "tab": "Media", "media": "val/examples"}
    app = pages.open("views/compare.py", ALICE, params)
    assert not app.exception
    assert [c for c, _ in _images(app)] == ["\\*\\*cat\\*\\* 1", "\\*\\*cat\\*\\* 2"]
    app = app.select_slider(key="compare.media.step").set_value(0).run()
    assert not app.exception
    assert app.query_params["media_step"] == "0"
    assert [c for c, _ in _images(app)] == ["", ""]
    app = app.selectbox(key="compare.media.key").set_value("notes").run()
    assert not app.exception
    assert [t.value for t in app.text] == [HOSTILE, HOSTILE]


def test_a_run_of_another_team_shows_no_media(pages: PageHarness) -> None:
    params = {"runs": f"{FIRST},{VISION}", "tab": "Media", "media": "x"}
    app = pages.open("views/compare.py", ALICE, params)
    assert not _images(app)
    assert not [s for s in app.selectbox if s.key == "compare.media.key" and "x" in s.options]
