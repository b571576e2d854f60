"""Validation rules for logged media (``media_logged`` events) that relate several fields.

The generic walk (``domain/validation.py``) has checked each field on its own (key format, digests,
caption and text lengths, known kind) before these run. What they add: a step and index in range,
the content each kind needs (an image needs its ``image`` blob, a table its columns and rows of
equal width, audio its sample rate), blob sizes within ``Limits.max_media_blob_bytes`` and boxes
whose corners are finite and ordered. The SDK raises the same errors before anything is spooled
(``cairn._media_payloads``), so ingest repeats them only for writers other than the SDK.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import cast

from google.protobuf.message import Message

from cairn_contract.field_rules import fail
from cairn_contract.limits import Limits
from cairn_contract.v1 import media_pb2

Check = Callable[[Message, str], None]

# The blob each kind cannot do without (a figure needs one of two).
_NEEDED_ROLES: Mapping[int, tuple[str, ...]] = {
    media_pb2.MEDIA_KIND_IMAGE: ("image",),
    media_pb2.MEDIA_KIND_FIGURE: ("image", "plotly"),
    media_pb2.MEDIA_KIND_AUDIO: ("audio",),
}


def media_checks(limits: Limits) -> Mapping[str, Check]:
    """Message full name -> its cross-field check, bound to ``limits``."""

    def batch(message: Message, path: str) -> None:
        items = cast(media_pb2.MediaBatch, message).items
        if len(items) > limits.max_media_per_event:
            detail = f"{len(items)} items, at most {limits.max_media_per_event} allowed"
            fail(f"{path}.items", "max_media_per_event", detail)

    def item(message: Message, path: str) -> None:
        media = cast(media_pb2.MediaItem, message)
        if media.step < 0:
            fail(f"{path}.step", "non_negative_step", f"step must be >= 0, got {media.step}")
        if not 0 <= media.index < limits.max_media_per_step:
            detail = (
                f"index must be in [0, {limits.max_media_per_step}) (at most "
                f"{limits.max_media_per_step} items per key and step), got {media.index}"
            )
            fail(f"{path}.index", "max_media_per_step", detail)
        for j, blob in enumerate(media.blobs):
            if not 0 <= blob.size_bytes <= limits.max_media_blob_bytes:
                detail = f"{blob.size_bytes} bytes, at most {limits.max_media_blob_bytes} allowed"
                fail(f"{path}.blobs[{j}].size_bytes", "max_media_blob_bytes", detail)
        _content(media, path)
        for j, box in enumerate(media.boxes):
            _box(box, f"{path}.boxes[{j}]")

    return {"cairn.v1.MediaBatch": batch, "cairn.v1.MediaItem": item}


def _content(media: media_pb2.MediaItem, path: str) -> None:
    kind_name = media_pb2.MediaKind.Name(media.kind)
    needed = _NEEDED_ROLES.get(media.kind)
    roles = {blob.role for blob in media.blobs}
    if needed is not None and not roles.intersection(needed):
        wanted = " or ".join(repr(r) for r in needed)
        fail(f"{path}.blobs", "media_content", f"a {kind_name} needs a blob with role {wanted}")
    if media.kind == media_pb2.MEDIA_KIND_TEXT and not media.text:
        fail(f"{path}.text", "media_content", f"is required for {kind_name}")
    if media.kind == media_pb2.MEDIA_KIND_AUDIO and media.sample_rate <= 0:
        detail = f"must be > 0 for {kind_name}, got {media.sample_rate}"
        fail(f"{path}.sample_rate", "media_content", detail)
    if media.kind == media_pb2.MEDIA_KIND_TABLE:
        if not media.HasField("table"):
            fail(f"{path}.table", "media_content", f"is required for {kind_name}")
        width = len(media.table.columns)
        if len(set(media.table.columns)) != width:
            fail(f"{path}.table.columns", "unique_columns", "column names must be unique")
        for r, row in enumerate(media.table.rows):
            if len(row.cells) != width:
                detail = f"has {len(row.cells)} cells but the table has {width} columns"
                fail(f"{path}.table.rows[{r}].cells", "row_cells", detail)
    if media.HasField("table") and media.kind != media_pb2.MEDIA_KIND_TABLE:
        fail(f"{path}.table", "media_content", f"is only for MEDIA_KIND_TABLE, not {kind_name}")


def _box(box: media_pb2.BoundingBox, path: str) -> None:
    corners = (box.x_min, box.y_min, box.x_max, box.y_max, box.score)
    if not all(math.isfinite(v) for v in corners):
        fail(path, "box_corners", "corners and score must be finite")
    if box.x_max < box.x_min or box.y_max < box.y_min:
        detail = (
            f"needs x_min <= x_max and y_min <= y_max, got "
            f"({box.x_min}, {box.y_min}, {box.x_max}, {box.y_max})"
        )
        fail(path, "box_corners", detail)
