"""Building ``MediaItem`` messages from what users log: tables, boxes, evaluation curves.

Each function checks its input by the server's rules (``domain/_media_checks.py`` and the field
rules) and raises :class:`~cairn.errors.ValidationError` naming the argument and the rule, so a
bad table fails at the line that logged it. A table is a pandas DataFrame, a list of dicts (the
columns in the order first seen; a missing cell is empty text) or a dict of equally long
columns. Cells are numbers, strings, booleans, ``None`` (empty text) or a :class:`MediaRef`
(an image logged with ``run.log_image``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn import _checks as checks
from cairn_contract.limits import Limits
from cairn_contract.v1 import media_pb2

_LIMITS = Limits()
MAX_MEDIA_BLOB_BYTES = _LIMITS.max_media_blob_bytes
MAX_MEDIA_PER_STEP = _LIMITS.max_media_per_step
MAX_TABLE_ROWS = _LIMITS.max_items_per_list
# An event must stay under max_event_bytes; leave room for the envelope.
MAX_ITEM_BYTES = _LIMITS.max_event_bytes - 4096


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A logged image (or other media item), as ``run.log_image`` returns it: where it is
    recorded and its content digest. Put it in a table cell to show the image in the table."""

    key: str
    step: int
    index: int
    sha256: str


def table(data: Any, field: str = "data") -> media_pb2.MediaTable:
    """``data`` as a table message (see the module docstring for what is accepted)."""
    columns, rows = _columns_and_rows(data, field)
    if not columns:
        checks.fail(field, "required", "a table needs at least one column")
    if len(rows) > MAX_TABLE_ROWS:
        detail = f"{len(rows)} rows, at most {MAX_TABLE_ROWS} allowed"
        checks.fail(field, "max_items", detail)
    names = [checks.check_name(str(c), f"{field}.columns[{j}]") for j, c in enumerate(columns)]
    if len(set(names)) != len(names):
        checks.fail(f"{field}.columns", "unique_columns", "column names must be unique")
    message = media_pb2.MediaTable(columns=names)
    for r, values in enumerate(rows):
        row = message.rows.add()
        for j, value in enumerate(values):
            _cell(row.cells.add(), value, f"{field}[{r}][{names[j]!r}]")
    return message


def boxes(given: Any, field: str = "boxes") -> list[media_pb2.BoundingBox]:
    """Boxes as dicts (``x_min``, ``y_min``, ``x_max``, ``y_max``, optional ``label`` and
    ``score``) or tuples ``(x_min, y_min, x_max, y_max[, label[, score]])``, in pixels."""
    found = []
    for i, box in enumerate(given):
        path = f"{field}[{i}]"
        if isinstance(box, Mapping):
            corners = [box.get(k) for k in ("x_min", "y_min", "x_max", "y_max")]
            label, score = box.get("label", ""), box.get("score", 0.0)
        elif isinstance(box, Sequence) and 4 <= len(box) <= 6:
            corners = list(box[:4])
            label = box[4] if len(box) > 4 else ""
            score = box[5] if len(box) > 5 else 0.0
        else:
            checks.fail(
                path,
                "media_type",
                "a box is a dict or (x_min, y_min, x_max, y_max[, label[, score]])",
            )
        try:
            x0, y0, x1, y1, s = (float(v) for v in (*corners, score))
        except (TypeError, ValueError):
            checks.fail(path, "box_corners", "corners and score must be numbers")
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1, s)):
            checks.fail(path, "box_corners", "corners and score must be finite")
        if x1 < x0 or y1 < y0:
            checks.fail(
                path,
                "box_corners",
                f"needs x_min <= x_max and y_min <= y_max, got ({x0}, {y0}, {x1}, {y1})",
            )
        name = checks.check_name(str(label), f"{path}.label")
        found.append(
            media_pb2.BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1, label=name, score=s)
        )
    return found


def check_size(item: media_pb2.MediaItem, field: str) -> None:
    """An item must fit in one event (the server's ``max_event_bytes``)."""
    size = item.ByteSize()
    if size > MAX_ITEM_BYTES:
        detail = f"{size} bytes serialized, at most {MAX_ITEM_BYTES} fit in one event"
        checks.fail(field, "max_event_bytes", detail)


def _columns_and_rows(data: Any, field: str) -> tuple[list[Any], list[list[Any]]]:
    if hasattr(data, "columns") and hasattr(data, "itertuples"):  # a pandas DataFrame
        columns = list(data.columns)
        return columns, [list(row) for row in data.itertuples(index=False, name=None)]
    if isinstance(data, Mapping):
        columns = list(data)
        lengths = {len(data[c]) for c in columns}
        if len(lengths) > 1:
            checks.fail(
                field, "equal_lengths", f"columns have different lengths: {sorted(lengths)}"
            )
        count = lengths.pop() if lengths else 0
        return columns, [[data[c][r] for c in columns] for r in range(count)]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        columns = []
        for r, row in enumerate(data):
            if not isinstance(row, Mapping):
                checks.fail(
                    f"{field}[{r}]", "media_type", f"rows must be dicts, got {type(row).__name__}"
                )
            columns.extend(c for c in row if c not in columns)
        return columns, [[row.get(c) for c in columns] for row in data]
    detail = f"must be a pandas DataFrame, a list of dicts or a dict of columns, got {type(data).__name__}"
    checks.fail(field, "media_type", detail)
    return None


def _cell(cell: media_pb2.TableCell, value: Any, field: str) -> None:
    if value is None:
        cell.text = ""
    elif isinstance(value, MediaRef):
        cell.image_sha256 = value.sha256
    elif isinstance(value, str):
        cell.text = checks.check_text(value, field, checks.MAX_TEXT_CHARS)
    elif isinstance(value, bool) or type(value).__name__ == "bool_":
        cell.flag = bool(value)
    elif isinstance(value, (int, float)) or hasattr(value, "__float__"):
        try:
            cell.number = float(value)
        except (TypeError, ValueError):
            checks.fail(field, "media_type", f"cannot be read as a number: {type(value).__name__}")
    else:
        detail = f"cells are numbers, strings, booleans or images, got {type(value).__name__}"
        checks.fail(field, "media_type", detail)
