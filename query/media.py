"""Media a run logged (images, tables, text, figures, audio), for the Run and Compare pages.

:func:`media_keys` lists a visible run's keys with their kind and steps; :func:`media_at` returns
a key's items at one step of one or more runs (at most ``limit``, in logging order);
:func:`table_at` a logged table as a DataFrame, its columns in the order logged; :func:`run_blobs`
which digests named in a table's image cells are media of that run (the only ones the portal
serves: a digest alone opens nothing).

Reads go through ``media_items`` and ``table_rows_current`` (each item and row once) and only
rows of runs the caller may see (:class:`~query.access.Visibility`); an invisible or unknown run
has no keys and no items, never an error that would confirm it exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _execute
from query.access import Caller, Visibility
from query.histograms import _check_text  # one check of a text argument for both readers

MAX_ITEMS = 2_000

_KEYS_SQL = """
SELECT key, any(kind) AS kind, arraySort(groupUniqArray(step)) AS steps
FROM {table}
WHERE run_id = {{run_id:String}} AND run_id IN ({visible})
GROUP BY key ORDER BY key
"""

_ITEMS_SQL = """
SELECT run_id, key, step, position, kind, caption, digest, content_type, size_bytes, blobs,
    width, height, boxes, text, columns, row_count, sample_rate, duration_seconds
FROM {table}
WHERE run_id IN {{run_ids:Array(String)}} AND key = {{key:String}} AND step = {{step:Int64}}
    AND run_id IN ({visible})
ORDER BY run_id, position
LIMIT {{limit:UInt32}}
"""

_ROWS_SQL = """
SELECT row_index, cells FROM {table}
WHERE run_id = {{run_id:String}} AND key = {{key:String}} AND step = {{step:Int64}}
    AND run_id IN ({visible})
ORDER BY row_index
"""

_BLOBS_SQL = """
SELECT DISTINCT sha256 FROM (
    SELECT arrayJoin(mapValues(blobs)) AS sha256 FROM {table}
    WHERE run_id = {{run_id:String}} AND run_id IN ({visible})
) WHERE has({{digests:Array(String)}}, sha256)
"""


@dataclass(frozen=True)
class MediaKey:
    key: str
    kind: str  # image, table, text, figure, audio
    steps: tuple[int, ...]


@dataclass(frozen=True)
class MediaItem:
    """One logged item; ``blobs`` maps a role (image, svg, plotly, audio, mask:<name>) to the
    sha256 of its bytes in the artifact store."""

    run_id: str
    key: str
    step: int
    position: int
    kind: str
    caption: str
    digest: str
    content_type: str
    size_bytes: int
    blobs: Mapping[str, str]
    width: int
    height: int
    boxes: tuple[Mapping[str, Any], ...]
    text: str
    columns: tuple[str, ...]
    row_count: int
    sample_rate: int
    duration_seconds: float


def media_keys(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> tuple[MediaKey, ...]:
    """The keys a visible run logged media under, sorted, with their kind and steps."""
    _check_text(run_id, "run_id")
    vis = Visibility.load(client, caller, database)
    sql = _KEYS_SQL.format(
        table=vis.table("media_items"), visible=vis.visible_runs("run_id = {run_id:String}")
    )
    rows = _execute.rows(client, sql, {"run_id": run_id, **vis.parameters})
    return tuple(
        MediaKey(str(r["key"]), str(r["kind"]), tuple(int(s) for s in r["steps"])) for r in rows
    )


def media_at(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    key: str,
    step: int,
    *,
    limit: int = 500,
    database: str | None = None,
) -> tuple[MediaItem, ...]:
    """The items of ``key`` at ``step`` of the visible runs among ``run_ids`` (by run, then
    position), at most ``limit`` (1 to :data:`MAX_ITEMS`)."""
    for i, run_id in enumerate(run_ids):
        _check_text(run_id, f"run_ids[{i}]")
    _check_text(key, "key")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ITEMS:
        raise ValidationError(
            f"limit must be between 1 and {MAX_ITEMS}, got {limit!r}", field="limit", rule="range"
        )
    vis = Visibility.load(client, caller, database)
    sql = _ITEMS_SQL.format(
        table=vis.table("media_items"),
        visible=vis.visible_runs("run_id IN {run_ids:Array(String)}"),
    )
    params = {"run_ids": list(run_ids), "key": key, "step": int(step), "limit": limit}
    rows = _execute.rows(client, sql, {**params, **vis.parameters})
    return tuple(_item(r) for r in rows)


def table_at(
    client: Client, caller: Caller, item: MediaItem, *, database: str | None = None
) -> pd.DataFrame:
    """The rows of a logged table (``item.kind == "table"``) as text cells, its columns in the
    order logged; numbers are converted back for columns whose every cell is a number, so
    sorting in the portal sorts them as numbers."""
    vis = Visibility.load(client, caller, database)
    sql = _ROWS_SQL.format(
        table=vis.table("table_rows_current"),
        visible=vis.visible_runs("run_id = {run_id:String}"),
    )
    params = {"run_id": item.run_id, "key": item.key, "step": item.step}
    rows = _execute.rows(client, sql, {**params, **vis.parameters})
    frame = pd.DataFrame(
        [[r["cells"].get(c, "") for c in item.columns] for r in rows],
        columns=list(item.columns),
        dtype=object,
    )
    for column in item.columns:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if len(frame) and numbers.notna().all():
            frame[column] = numbers
    return frame


def run_blobs(
    client: Client,
    caller: Caller,
    run_id: str,
    digests: Sequence[str],
    *,
    database: str | None = None,
) -> frozenset[str]:
    """Those of ``digests`` that are blobs of media the visible run ``run_id`` logged. The
    portal serves a table's image cells only through this: a cell names a digest, and a digest
    alone (guessed, or copied from another team's page) must open nothing."""
    _check_text(run_id, "run_id")
    vis = Visibility.load(client, caller, database)
    sql = _BLOBS_SQL.format(
        table=vis.table("media_items"), visible=vis.visible_runs("run_id = {run_id:String}")
    )
    params = {"run_id": run_id, "digests": list(digests), **vis.parameters}
    return frozenset(str(r["sha256"]) for r in _execute.rows(client, sql, params))


def _item(r: Mapping[str, Any]) -> MediaItem:
    return MediaItem(
        run_id=str(r["run_id"]),
        key=str(r["key"]),
        step=int(r["step"]),
        position=int(r["position"]),
        kind=str(r["kind"]),
        caption=str(r["caption"]),
        digest=str(r["digest"]),
        content_type=str(r["content_type"]),
        size_bytes=int(r["size_bytes"]),
        blobs=dict(r["blobs"]),
        width=int(r["width"]),
        height=int(r["height"]),
        boxes=tuple(json.loads(r["boxes"])) if r["boxes"] else (),
        text=str(r["text"]),
        columns=tuple(str(c) for c in r["columns"]),
        row_count=int(r["row_count"]),
        sample_rate=int(r["sample_rate"]),
        duration_seconds=float(r["duration_seconds"]),
    )
