"""Drawing logged media for the portal's Media sections; pure functions of bytes and frames.

Box and mask overlays are drawn onto the image on the portal server with Pillow, so the browser
gets one ordinary PNG per image (no script, nothing to fetch): small images are first enlarged
with nearest-neighbour sampling so a box and its label stay readable, masks are blended in
with one colour per class id, boxes are outlined in the colour of their label and labelled
(``label 0.93``) in pixels, never as markup.

Plotly figures are logged as JSON by anyone in the team; :func:`safe_plotly` keeps what draws
from the figure's own data and drops what would make the viewer's browser fetch something
(layout images by URL, map tiles, geo outlines from a CDN). Logged tables are drawn as a
heatmap (a confusion matrix: ``actual``, ``predicted``, ``count``) or a curve (``threshold``,
``precision``, ``recall`` or ``threshold``, ``fpr``, ``tpr``) above the table itself.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from ui.charts import PALETTE

MIN_OVERLAY_SIDE = 192  # pixels: smaller images are enlarged (nearest) before drawing on them
DISPLAY_SIDE = 256  # pixels: the widest an image is sent to the browser in a grid
THUMBNAIL_SIDE = 96  # pixels: images in table cells
MASK_ALPHA = 0.45
# Trace types whose drawing fetches tiles or outlines from the network.
_REMOTE_TRACES = frozenset(
    {
        "scattermapbox", "choroplethmapbox", "densitymapbox", "scattermap", "choroplethmap",
        "densitymap", "scattergeo", "choropleth",
    }
)  # fmt: skip


def _colour(index: int) -> tuple[int, int, int]:
    code = PALETTE[index % len(PALETTE)].lstrip("#")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


def _scale(width: int, height: int) -> float:
    """How much to scale an image for the grid: enlarge a small one by the integer factor that
    brings its shorter side to MIN_OVERLAY_SIDE, shrink a wide one to DISPLAY_SIDE, else 1."""
    side = max(min(width, height), 1)
    factor = max(1, -(-MIN_OVERLAY_SIDE // side))
    if width * factor <= DISPLAY_SIDE:
        return float(factor)
    fitting = DISPLAY_SIDE // max(width, 1)  # the largest whole factor that still fits
    return float(fitting) if fitting >= 1 else DISPLAY_SIDE / width


def display(
    image: bytes, boxes: Sequence[Mapping[str, Any]] = (), masks: Sequence[bytes] = ()
) -> bytes:
    """``image`` (PNG or JPEG bytes) as the grid shows it: at most DISPLAY_SIDE pixels wide
    (scaled here once, so Streamlit sends the bytes as they are), a small one enlarged with
    nearest-neighbour sampling, ``masks`` (grey PNGs of class ids, the image's size) blended in
    and ``boxes`` (pixel corners, optional ``label`` and ``score``) drawn after scaling, so lines
    and labels stay sharp. The bytes themselves when nothing needs doing."""
    with Image.open(io.BytesIO(image)) as opened:
        scale = _scale(*opened.size)
        if scale == 1 and not boxes and not masks:
            return image
        picture = opened.convert("RGB")
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    if size != picture.size:
        sampling = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR
        picture = picture.resize(size, sampling)
    for mask_bytes in masks:
        with Image.open(io.BytesIO(mask_bytes)) as opened:
            mask = opened.convert("L").resize(size, Image.Resampling.NEAREST)
        picture = _blend(picture, mask)
    draw = ImageDraw.Draw(picture)
    labels: dict[str, int] = {}
    for box in boxes:
        label = str(box.get("label", ""))
        colour = _colour(labels.setdefault(label, len(labels)))
        corners = [float(box[k]) * scale for k in ("x_min", "y_min", "x_max", "y_max")]
        draw.rectangle(corners, outline=colour, width=max(2, int(scale) // 4))
        score = float(box.get("score", 0.0) or 0.0)
        text = " ".join(t for t in (label, f"{score:.2f}" if score else "") if t)
        if text:
            left, top = corners[0], max(corners[1] - 12, 0)
            right, bottom = draw.textbbox((left + 2, top), text)[2:]
            draw.rectangle((left, top, right + 2, bottom + 1), fill=colour)
            draw.text((left + 2, top), text, fill=(255, 255, 255))
    return png(picture)


def _blend(picture: Image.Image, mask: Image.Image) -> Image.Image:
    """Class ids > 0 coloured over the picture (0 is background, left as it is)."""
    palette = [0, 0, 0]
    for class_id in range(1, 256):
        palette.extend(_colour(class_id - 1))
    coloured = mask.copy()
    coloured.putpalette(palette)
    alpha = mask.point(lambda v: int(255 * MASK_ALPHA) if v else 0)
    return Image.composite(coloured.convert("RGB"), picture, alpha)


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # drawn per view: fast over small
    return buffer.getvalue()


def thumbnail_data_url(image: bytes) -> str:
    """A small PNG of ``image`` as a ``data:`` URL, for an image column of a table (the bytes
    travel with the table; the browser is never handed a store URL)."""
    with Image.open(io.BytesIO(image)) as opened:
        picture = opened.convert("RGBA")
    factor = -(-THUMBNAIL_SIDE // max(max(picture.size), 1))
    if factor > 1:
        picture = picture.resize(
            (picture.width * factor, picture.height * factor), Image.Resampling.NEAREST
        )
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return "data:image/png;base64," + base64.b64encode(png(picture)).decode()


def safe_plotly(spec: bytes) -> tuple[go.Figure, tuple[str, ...]]:
    """A logged plotly figure without what would fetch from the network; also what was left
    out (to say so under the figure)."""
    figure = json.loads(spec)
    dropped: list[str] = []
    data = figure.get("data") or []
    kept = [t for t in data if str(t.get("type", "scatter")) not in _REMOTE_TRACES]
    if len(kept) < len(data):
        dropped.append(f"{len(data) - len(kept)} map traces")
    figure["data"] = kept
    layouts = [figure.get("layout") or {}]
    layouts.append(((layouts[0].get("template") or {}).get("layout")) or {})
    for layout in layouts:
        if layout.pop("images", None):
            dropped.append("layout images")
        for name in ("mapbox", "map", "geo"):
            layout.pop(name, None)
    return go.Figure(figure), tuple(dropped)


def table_chart(frame: pd.DataFrame, key: str) -> go.Figure | None:
    """A confusion matrix as a heatmap, a PR or ROC curve as a line; None for other tables."""
    columns = list(frame.columns)
    if columns == ["actual", "predicted", "count"] and len(frame):
        grid = frame.pivot_table(
            index="actual", columns="predicted", values="count", aggfunc="sum", sort=False
        )
        fig = go.Figure(
            go.Heatmap(
                x=[_plain(c) for c in grid.columns], y=[_plain(i) for i in grid.index],
                z=grid.to_numpy().tolist(), colorscale="Blues", texttemplate="%{z}",
                hovertemplate="actual %{y}<br>predicted %{x}<br>count %{z}<extra></extra>",
            )
        )  # fmt: skip
        fig.update_yaxes(autorange="reversed", title_text="actual", type="category")
        fig.update_xaxes(title_text="predicted", type="category")
        return _layout(fig, key)
    for x, y in (("recall", "precision"), ("fpr", "tpr")):
        if sorted(columns) == sorted(("threshold", x, y)) and len(frame):
            ordered = frame.sort_values(x)
            fig = go.Figure(
                go.Scatter(
                    x=ordered[x], y=ordered[y], mode="lines", customdata=ordered["threshold"],
                    hovertemplate=f"{x} %{{x:.3f}}<br>{y} %{{y:.3f}}<br>threshold %{{customdata:.4g}}<extra></extra>",
                )
            )  # fmt: skip
            fig.update_xaxes(title_text=x, range=[0, 1.02])
            fig.update_yaxes(title_text=y, range=[0, 1.02])
            return _layout(fig, key)
    return None


def _plain(label: object) -> str:
    """A label as plotly shows it literally (plotly reads a few HTML tags in text)."""
    return str(label).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": _plain(title), "font": {"size": 14}, "x": 0, "xanchor": "left"},
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def filter_rows(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """The rows any of whose cells contains ``text`` (case-insensitive); all rows for ''."""
    needle = text.strip().lower()
    if not needle or frame.empty:
        return frame
    keep = [
        any(needle in str(cell).lower() for cell in row)
        for row in frame.itertuples(index=False, name=None)
    ]
    return frame.loc[keep]


def image_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose every non-empty cell is a sha256 (a table's image cells)."""
    found = []
    for column in frame.columns:
        values = [v for v in frame[column].tolist() if isinstance(v, str) and v]
        if values and all(len(v) == 64 and all(c in "0123456789abcdef" for c in v) for v in values):
            found.append(str(column))
    return found
