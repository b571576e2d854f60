"""Rich logging on a run: images, tables, text, figures, audio and evaluation summaries.

:class:`MediaLogging` is a part of :class:`cairn.Run` (its methods are the run's public API,
docs/media.md); it lives here because ``run.py`` holds the rest of the run. Every call checks
its input first (a :class:`~cairn.errors.ValidationError` naming the argument and the rule),
writes the item's bytes (PNG, SVG, WAV, plotly JSON) to the content-addressed artifact store
(identical bytes are stored once) and puts one ``media_logged`` event in the run's buffer, which
the sender spools and delivers like any other event: nothing waits for the network. The cost in
the calling thread is the encoding and one local file write (about a millisecond for a 256 x 256
image, docs/media.md has the figures).

``step`` defaults to the step of the latest ``run.log`` (0 before any) and does not advance it.
Items logged under one key at one step are numbered 0, 1, ... in call order (a key's numbering
starts again at 0 when it moves to another step); a table is always item 0, so a table logged
again at a step replaces the earlier one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex

from cairn import _checks as checks
from cairn import _media_curves as curves
from cairn import _media_encode as encode
from cairn import _media_payloads as payloads
from cairn._media_payloads import MediaRef
from cairn.artifacts import ArtifactStore, open_store
from cairn_contract.v1 import media_pb2

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from cairn.config import Settings
    from cairn.errors import FailedPreconditionError

_KIND = media_pb2.MediaKind


class MediaLogging:
    """The media half of :class:`cairn.Run` (see the module docstring for the contract)."""

    if TYPE_CHECKING:
        settings: Settings
        _next_step: int
        _finished: bool

        def _emit(self, field: str, message: Message) -> None: ...

        def _after_finish(self, call: str) -> FailedPreconditionError: ...

    _media_lock: threading.Lock
    _media_positions: dict[str, tuple[int, int]]  # key -> (step, next index)
    _media_store: ArtifactStore | None

    def _init_media(self) -> None:
        self._media_lock = threading.Lock()
        self._media_positions = {}
        self._media_store = None

    def log_image(
        self,
        key: str,
        image: Any,
        *,
        step: SupportsIndex | None = None,
        caption: str = "",
        boxes: Sequence[Any] | None = None,
        masks: Any = None,
    ) -> MediaRef:
        """Log an image: a numpy array (``H x W``, ``H x W x C`` or ``C x H x W``; uint8 0-255 or
        float 0-1), a torch tensor, a PIL image, or the path of a PNG/JPEG file. ``boxes`` are
        drawn over it (dicts with ``x_min``, ``y_min``, ``x_max``, ``y_max`` in pixels, optional
        ``label`` and ``score``); ``masks`` is one ``H x W`` array of class ids or a dict of
        them by name. Returns a :class:`MediaRef` to put in a table cell."""
        name, at = self._media_where("log_image", key, step)
        text = checks.check_text(caption, "caption", checks.MAX_TEXT_CHARS)
        picture = encode.image_bytes(image)
        item = media_pb2.MediaItem(kind=_KIND.MEDIA_KIND_IMAGE, caption=text)
        item.width, item.height = picture.width, picture.height
        if boxes is not None:
            item.boxes.extend(payloads.boxes(boxes))
        named = masks if isinstance(masks, Mapping) else {"": masks} if masks is not None else {}
        for mask_name, mask in named.items():
            role = f"mask:{mask_name}" if mask_name else "mask"
            field = f"masks[{mask_name!r}]" if mask_name else "masks"
            checks.check_id(role, field)
            drawn = encode.mask_bytes(mask, picture.width, picture.height, field)
            item.blobs.append(self._store_blob(drawn, role, field))
        item.blobs.insert(0, self._store_blob(picture, "image", "image"))
        index = self._media_emit(item, name, at, "image")
        return MediaRef(name, at, index, item.blobs[0].sha256)

    def log_table(self, key: str, data: Any, *, step: SupportsIndex | None = None) -> None:
        """Log a table: a pandas DataFrame, a list of dicts or a dict of columns; cells are
        numbers, strings, booleans, ``None`` or images (what :meth:`log_image` returned). Its
        rows are queryable across runs in ``cairn_reporting.table_rows``."""
        name, at = self._media_where("log_table", key, step)
        item = media_pb2.MediaItem(kind=_KIND.MEDIA_KIND_TABLE, table=payloads.table(data))
        self._media_emit(item, name, at, "data", fixed_index=True)

    def log_text(self, key: str, text: str, *, step: SupportsIndex | None = None) -> None:
        """Log a text (generated samples, prompts, notes); shown as text, never as markup."""
        name, at = self._media_where("log_text", key, step)
        body = checks.check_text(text, "text", checks.MAX_MARKDOWN_CHARS)
        if not body:
            checks.fail("text", "required", "is required")
        self._media_emit(
            media_pb2.MediaItem(kind=_KIND.MEDIA_KIND_TEXT, text=body), name, at, "text"
        )

    def log_figure(self, key: str, fig: Any, *, step: SupportsIndex | None = None) -> None:
        """Log a figure: matplotlib (rendered to PNG, plus SVG) or plotly (kept interactive as
        JSON). The figure is rendered in this call; close it afterwards as usual."""
        name, at = self._media_where("log_figure", key, step)
        item = media_pb2.MediaItem(kind=_KIND.MEDIA_KIND_FIGURE)
        for role, encoded in encode.figure_bytes(fig).items():
            item.blobs.append(self._store_blob(encoded, role, "fig"))
            item.width, item.height = (
                max(item.width, encoded.width),
                max(item.height, encoded.height),
            )
        self._media_emit(item, name, at, "fig")

    def log_audio(
        self, key: str, samples: Any, sample_rate: int, *, step: SupportsIndex | None = None
    ) -> None:
        """Log audio: ``n`` (mono) or ``n x channels`` samples, floats in -1..1 or int16, at
        ``sample_rate`` Hz; stored as 16-bit WAV."""
        name, at = self._media_where("log_audio", key, step)
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, int)
            or not 1 <= sample_rate <= 768_000
        ):
            checks.fail(
                "sample_rate",
                "media_range",
                f"must be an integer Hz in 1..768000, got {sample_rate!r}",
            )
        clip, seconds = encode.wav(samples, sample_rate)
        item = media_pb2.MediaItem(kind=_KIND.MEDIA_KIND_AUDIO, sample_rate=sample_rate)
        item.duration_seconds = seconds
        item.blobs.append(self._store_blob(clip, "audio", "samples"))
        self._media_emit(item, name, at, "samples")

    def log_confusion_matrix(
        self,
        key: str,
        y_true: Any,
        y_pred: Any,
        labels: Sequence[Any] | None = None,
        *,
        step: SupportsIndex | None = None,
    ) -> None:
        """Log a confusion matrix as a table (``actual``, ``predicted``, ``count``; every pair
        of ``labels``, zeros too), drawn as a heatmap in the portal and queryable in SQL."""
        self.log_table(key, curves.confusion_matrix(y_true, y_pred, labels), step=step)

    def log_pr_curve(
        self, key: str, y_true: Any, y_score: Any, *, step: SupportsIndex | None = None
    ) -> None:
        """Log a binary classifier's precision-recall curve as a table (``threshold``,
        ``precision``, ``recall``; at most 500 thresholds)."""
        self.log_table(key, curves.pr_curve(y_true, y_score), step=step)

    def log_roc_curve(
        self, key: str, y_true: Any, y_score: Any, *, step: SupportsIndex | None = None
    ) -> None:
        """Log a binary classifier's ROC curve as a table (``threshold``, ``fpr``, ``tpr``; at
        most 500 thresholds)."""
        self.log_table(key, curves.roc_curve(y_true, y_score), step=step)

    # -- helpers ---------------------------------------------------------------------------------

    def _media_where(self, call: str, key: str, step: SupportsIndex | None) -> tuple[str, int]:
        if self._finished:
            raise self._after_finish(call)
        name = checks.check_key(key, "key")
        at = max(self._next_step - 1, 0) if step is None else checks.check_step(step)
        return name, at

    def _store_blob(self, encoded: encode.Encoded, role: str, field: str) -> media_pb2.MediaBlob:
        size = len(encoded.data)
        if size > payloads.MAX_MEDIA_BLOB_BYTES:
            detail = f"{size} bytes, at most {payloads.MAX_MEDIA_BLOB_BYTES} allowed"
            checks.fail(field, "max_media_blob_bytes", detail)
        store = self._media_store
        if store is None:
            store = self._media_store = open_store(self.settings.artifact_location)
        stored = store.put_bytes(encoded.data)
        return media_pb2.MediaBlob(
            role=role, sha256=stored.sha256, content_type=encoded.content_type, size_bytes=size
        )

    def _media_emit(
        self,
        item: media_pb2.MediaItem,
        key: str,
        step: int,
        field: str,
        *,
        fixed_index: bool = False,
    ) -> int:
        item.key, item.step, item.logged_at_ns = key, step, time.time_ns()
        payloads.check_size(item, field)
        with self._media_lock:
            if fixed_index:
                index = 0
            else:
                last_step, following = self._media_positions.get(key, (step, 0))
                index = following if last_step == step else 0
                if index >= payloads.MAX_MEDIA_PER_STEP:
                    detail = f"at most {payloads.MAX_MEDIA_PER_STEP} items per key and step"
                    checks.fail("key", "max_media_per_step", detail)
                self._media_positions[key] = (step, index + 1)
            item.index = index
            self._emit("media_logged", media_pb2.MediaBatch(items=[item]))
        return index
