"""Rows that ``media_logged`` events project into: one ``media`` row per item and, for tables,
one ``table_rows`` row per table row.

A table's cells become text in a ``Map(String, String)`` (column -> cell) so SQL users can read
any table with one shape: numbers as the shortest text that reads back as the same double
(``repr``), booleans as ``true``/``false``, image cells as the image's sha256. Named after the
event type (``domain.projections`` finds it by that name). Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cairn_contract.v1 import events_pb2, media_pb2
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event

# The blob whose digest a media row shows as its ``digest``, by preference.
_MAIN_ROLES = ("image", "audio", "plotly", "svg")


def media_logged(p: Projection, e: Event) -> None:
    env = e.envelope
    media = p.buffers["media"]
    table_rows = p.buffers["table_rows"]
    for item in e.media_logged.items:
        blobs = {blob.role: blob for blob in item.blobs}
        main = next((blobs[r] for r in _MAIN_ROLES if r in blobs), None)
        media.append(
            run_id=env.aggregate_id,
            key=item.key,
            step=item.step,
            position=item.index,
            timestamp=item.logged_at_ns or env.occurred_at_ns,
            kind=rows.enum_label(media_pb2.MediaKind, item.kind),
            caption=item.caption,
            digest=main.sha256 if main is not None else "",
            content_type=main.content_type if main is not None else "",
            size_bytes=sum(blob.size_bytes for blob in item.blobs),
            blobs={role: blob.sha256 for role, blob in blobs.items()},
            width=item.width,
            height=item.height,
            boxes=json.dumps([_box(b) for b in item.boxes]) if item.boxes else "",
            text=item.text,
            columns=list(item.table.columns),
            row_count=len(item.table.rows),
            sample_rate=item.sample_rate,
            duration_seconds=item.duration_seconds,
            sequence=env.sequence,
        )
        columns = item.table.columns
        for r, row in enumerate(item.table.rows):
            table_rows.append(
                run_id=env.aggregate_id,
                key=item.key,
                step=item.step,
                row_index=r,
                cells={c: cell_text(cell) for c, cell in zip(columns, row.cells, strict=True)},
                sequence=env.sequence,
            )


def cell_text(cell: media_pb2.TableCell) -> str:
    """A table cell as the text SQL users read (see the module docstring)."""
    which = cell.WhichOneof("value")
    if which == "number":
        value = cell.number
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if which == "flag":
        return "true" if cell.flag else "false"
    if which == "image_sha256":
        return cell.image_sha256
    return cell.text


def _box(box: media_pb2.BoundingBox) -> dict[str, object]:
    return {
        "x_min": box.x_min,
        "y_min": box.y_min,
        "x_max": box.x_max,
        "y_max": box.y_max,
        "label": box.label,
        "score": box.score,
    }
