"""The Media sections: what a run logged with ``run.log_image``/``log_table``/``log_text``/
``log_figure``/``log_audio``, per key and step, on the Run page; one key at one step side by
side across runs on the Compare page.

Every item shown comes from :func:`query.media.media_at` as the viewer (only runs they may see),
and its bytes are read from the artifact store by this server (``CAIRN_ARTIFACT_STORE``, as
downloads are), checked against their sha256 and handed to Streamlit as bytes: the browser is
never given a store URL. A table's image cells name digests; they are shown only when
:func:`query.media.run_blobs` confirms they are media of that run (a digest alone opens
nothing). User text (captions, texts, table cells, keys) is shown as text: captions and keys
escaped (:func:`reports.format.md`), texts with ``st.text``, cells by ``st.dataframe``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from query import media as media_reads
from query.access import Caller
from query.media import MediaItem, MediaKey
from reports.format import md
from ui import context, media_render
from ui.downloads import open_blob

SECTION = "Media"
MAX_ITEMS = 500  # items of one key at one step on a page (the rest are counted, not shown)
IMAGES_PER_PAGE = 100  # images drawn at once (about 1.5 s in the browser; 500 took 6.5 s)
MAX_DEFAULT_KEYS = 6  # keys shown before the viewer picks
MAX_BLOB_BYTES = 64 << 20  # as the SDK's limit: larger blobs are not read into the portal
MAX_TABLE_IMAGES = 500  # table rows whose image cells are drawn
COMPARE_COLUMNS = 3  # runs per row on the Compare page


@st.cache_data(ttl=30, show_spinner=False)
def keys(caller: Caller, run_id: str) -> tuple[MediaKey, ...]:
    return media_reads.media_keys(context.client(), caller, run_id)


@st.cache_data(ttl=30, show_spinner=False)
def _items(caller: Caller, run_id: str, key: str, step: int) -> tuple[MediaItem, ...]:
    """The key's items at the step, one more than shown (to say that there are more)."""
    return media_reads.media_at(context.client(), caller, [run_id], key, step, limit=MAX_ITEMS + 1)


@st.cache_data(ttl=30, show_spinner=False)
def _table(caller: Caller, item: MediaItem) -> pd.DataFrame:
    return media_reads.table_at(context.client(), caller, item)


@st.cache_data(ttl=30, show_spinner=False)
def _run_blobs(caller: Caller, run_id: str, digests: tuple[str, ...]) -> frozenset[str]:
    return media_reads.run_blobs(context.client(), caller, run_id, digests)


# Bytes are immutable: cached as resources, shared and never copied (cache_data would pickle
# every image on every rerun).
@st.cache_resource(max_entries=2_048, ttl=300, show_spinner=False)
def _stored(store: str, sha256: str) -> bytes | None:
    """The blob's bytes, or None when this server cannot read them or they do not match their
    digest. Call only with digests of media the viewer may see (see the module docstring)."""
    try:
        with open_blob(store, sha256) as stream:
            content = stream.read(MAX_BLOB_BYTES + 1)
    except (CairnError, OSError, ValueError):
        return None
    if len(content) > MAX_BLOB_BYTES or hashlib.sha256(content).hexdigest() != sha256:
        return None
    return content


def _blob(sha256: str) -> bytes | None:
    return _stored(context.settings().artifact_store, sha256) if sha256 else None


@st.cache_resource(max_entries=2_048, ttl=300, show_spinner=False)
def _shown(store: str, item: MediaItem, overlays: bool) -> bytes | None:
    """The image as the grid sends it (:func:`ui.media_render.display`): scaled, with its boxes
    and masks when ``overlays``."""
    image = _stored(store, item.blobs.get("image", ""))
    if image is None:
        return None
    boxes = item.boxes if overlays else ()
    roles = sorted(r for r in item.blobs if r.startswith("mask")) if overlays else []
    masks = [_stored(store, item.blobs[r]) for r in roles]
    try:
        return media_render.display(image, boxes, [m for m in masks if m is not None])
    except (OSError, ValueError, KeyError):  # not an image Pillow reads: send it as it is
        return image


def sections(base: Sequence[str], media_keys: Sequence[MediaKey]) -> tuple[str, ...]:
    """The Run page's sections, with Media after Histograms (or Charts) when the run has any."""
    if not media_keys:
        return tuple(base)
    after = "Histograms" if "Histograms" in base else "Charts"
    at = base.index(after) + 1 if after in base else len(base)
    return (*base[:at], SECTION, *base[at:])


def _missing(what: str) -> None:
    st.caption(f"The {what} is not readable from the portal's artifact store.")


def show_items(caller: Caller, items: Sequence[MediaItem], *, where: str, overlays: bool) -> None:
    """One key's items at one step of one run, drawn by kind; ``where`` keeps widget keys apart."""
    if not items:
        st.caption("Nothing logged at this step.")
        return
    kind = items[0].kind
    if len(items) > MAX_ITEMS:
        st.caption(f"The first {MAX_ITEMS} items are shown.")
        items = items[:MAX_ITEMS]
    if kind == "image":
        _images(items, overlays, f"{where}.images")
    elif kind == "text":
        for item in items:
            with st.container(border=True):
                st.text(item.text)
    elif kind == "audio":
        for item in items:
            clip = _blob(item.blobs.get("audio", ""))
            if clip is None:
                _missing("audio clip")
                continue
            st.audio(clip, format="audio/wav")
            st.caption(f"{item.duration_seconds:.2f} s · {item.sample_rate} Hz")
    elif kind == "figure":
        for i, item in enumerate(items):
            _figure(item, f"{where}.figure.{i}")
    elif kind == "table":
        for i, item in enumerate(items):
            _table_view(caller, item, f"{where}.table.{i}")
    else:
        st.caption(f"Items of kind {kind!r} are not shown by this portal.")


def _images(items: Sequence[MediaItem], overlays: bool, widget: str) -> None:
    """A grid of images, IMAGES_PER_PAGE at a time (a page slider when there are more)."""
    start = 0
    if len(items) > IMAGES_PER_PAGE:
        pages = -(-len(items) // IMAGES_PER_PAGE)
        page = st.select_slider(
            f"Images {IMAGES_PER_PAGE} at a time", options=list(range(1, pages + 1)), value=1,
            format_func=lambda p: f"{(p - 1) * IMAGES_PER_PAGE + 1}-{min(p * IMAGES_PER_PAGE, len(items))}",
            key=f"{widget}.page",
        )  # fmt: skip
        start = (int(page) - 1) * IMAGES_PER_PAGE
    store = context.settings().artifact_store
    pictures, captions, names = [], [], []
    for index, item in enumerate(items[start : start + IMAGES_PER_PAGE], start=start):
        picture = _shown(store, item, overlays)
        if picture is None:
            continue
        pictures.append(picture)
        captions.append(md(item.caption) if item.caption else "")
        names.append(f"{item.key} image {index}")
    shown = min(IMAGES_PER_PAGE, len(items) - start)
    if len(pictures) < shown:
        _missing(f"{shown - len(pictures)} of {shown} images")
    if pictures:
        st.image(
            pictures,
            caption=captions if any(captions) else None,
            width="content",  # sized by media_render.display: Streamlit sends the bytes as they are
            alt=names,
        )


def _figure(item: MediaItem, widget: str) -> None:
    if "plotly" in item.blobs:
        spec = _blob(item.blobs["plotly"])
        if spec is None:
            _missing("figure")
            return
        try:
            figure, dropped = media_render.safe_plotly(spec)
        except ValueError:
            st.caption("The logged plotly figure could not be read.")
            return
        st.plotly_chart(figure, key=widget)
        if dropped:
            st.caption("Not drawn (they would load from the network): " + ", ".join(dropped))
        return
    picture = _blob(item.blobs.get("image", ""))
    if picture is None:
        _missing("figure")
        return
    st.image(picture, alt=f"{item.key} figure")
    svg = _blob(item.blobs.get("svg", ""))
    if svg is not None:
        st.download_button("SVG", svg, file_name="figure.svg", mime="image/svg+xml",
                           key=f"{widget}.svg", icon=":material/download:")  # fmt: skip


def _table_view(caller: Caller, item: MediaItem, widget: str) -> None:
    frame = _table(caller, item)
    chart = media_render.table_chart(frame, item.key)
    if chart is not None:
        st.plotly_chart(chart, key=f"{widget}.chart")
    needle = st.text_input("Filter rows", key=f"{widget}.filter", placeholder="text in any cell")
    shown = media_render.filter_rows(frame, needle)
    config = {}
    image_columns = media_render.image_columns(shown)
    if image_columns:
        digests = {str(v) for c in image_columns for v in shown[c].head(MAX_TABLE_IMAGES) if v}
        allowed = _run_blobs(caller, item.run_id, tuple(sorted(digests)))
        shown = shown.copy()
        for column in image_columns:
            urls = [
                _thumbnail(str(v)) if i < MAX_TABLE_IMAGES and v in allowed else None
                for i, v in enumerate(shown[column])
            ]
            shown[column] = urls
            config[column] = st.column_config.ImageColumn(column)
    st.dataframe(shown, hide_index=True, column_config=config, key=f"{widget}.frame")
    st.caption(
        f"{len(shown)} of {len(frame)} rows · sort by clicking a column header · "
        "in SQL: cairn_reporting.table_rows"
    )


@st.cache_resource(max_entries=4_096, ttl=300, show_spinner=False)
def _thumbnail_of(store: str, sha256: str) -> str | None:
    image = _stored(store, sha256)
    if image is None:
        return None
    try:
        return media_render.thumbnail_data_url(image)
    except (OSError, ValueError):
        return None


def _thumbnail(sha256: str) -> str | None:
    return _thumbnail_of(context.settings().artifact_store, sha256)


def _step_picker(steps: Sequence[int], widget: str, wanted: int | None = None) -> int:
    if len(steps) == 1:
        st.caption(f"step {steps[0]}")
        return steps[0]
    value = wanted if wanted in steps else steps[-1]
    picked = st.select_slider("Step", options=list(steps), value=value, key=widget)
    return int(picked)


def _kind_summary(media_key: MediaKey) -> str:
    steps = media_key.steps
    span = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)} steps, {steps[0]}-{steps[-1]}"
    return f"{media_key.kind} · {span}"


def show_run(caller: Caller, run_id: str, media_keys: Sequence[MediaKey]) -> None:
    """The Run page's section: pick keys (kept in the URL as ``media``), a step per key."""
    if not media_keys:
        st.caption("No media was logged.")
        return
    by_name = {k.key: k for k in media_keys}
    wanted = [k for k in st.query_params.get("media", "").split(",") if k in by_name]
    picked_col, overlay_col = st.columns([4, 1])
    picked = picked_col.multiselect(
        "Keys", list(by_name), default=wanted or list(by_name)[:MAX_DEFAULT_KEYS], key="run.media.keys"
    )  # fmt: skip
    overlays = overlay_col.toggle("Boxes and masks", value=True, key="run.media.overlays")
    st.query_params["media"] = ",".join(picked)
    for name in picked:
        media_key = by_name[name]
        with st.container(border=True):
            st.markdown(f"**{md(name)}** · {_kind_summary(media_key)}")
            step = _step_picker(media_key.steps, f"run.media.step.{name}")
            found = _items(caller, run_id, name, step)
            show_items(caller, found, where=f"run.{name}", overlays=overlays)


def show_compare(caller: Caller, run_ids: Sequence[str], names: dict[str, str]) -> None:
    """The Compare page's section: one key, one step, each run's items side by side."""
    found = {run_id: {k.key: k for k in keys(caller, run_id)} for run_id in run_ids}
    all_keys = sorted({name for per_run in found.values() for name in per_run})
    if not all_keys:
        st.caption("None of these runs logged media.")
        return
    wanted = st.query_params.get("media", "")
    key_col, step_col, overlay_col = st.columns([3, 3, 1])
    name = key_col.selectbox(
        "Key", all_keys, index=all_keys.index(wanted) if wanted in all_keys else 0,
        key="compare.media.key",
    ) or all_keys[0]  # fmt: skip
    st.query_params["media"] = name
    steps = sorted(
        {s for per_run in found.values() if name in per_run for s in per_run[name].steps}
    )
    with step_col:
        raw_step = st.query_params.get("media_step", "")
        step = _step_picker(
            steps, "compare.media.step", int(raw_step) if raw_step.isdigit() else None
        )
    st.query_params["media_step"] = str(step)
    overlays = overlay_col.toggle("Boxes and masks", value=True, key="compare.media.overlays")
    having = [r for r in run_ids if name in found[r]]
    for start in range(0, len(run_ids), COMPARE_COLUMNS):
        row = run_ids[start : start + COMPARE_COLUMNS]
        for column, run_id in zip(st.columns(COMPARE_COLUMNS), row, strict=False):
            with column, st.container(border=True):
                st.markdown(f"**{md(names.get(run_id, run_id))}**")
                if run_id not in having:
                    st.caption(f"Logged nothing under {md(name)}.")
                    continue
                own = _items(caller, run_id, name, step)
                show_items(caller, own, where=f"compare.{run_id}.{name}", overlays=overlays)
