"""Migration 10: logged media (issue #19). The ``media`` and ``table_rows`` projection tables, the
views that read each fact once, and the reporting views ``media`` and ``table_rows``.

``media`` is keyed by (run, key, step, position) with ``sequence`` as version, like histograms, and
read through ``media_items`` (``FINAL``). A table logged again at a step may have fewer rows than
before, and the rows of the earlier table stay in ``table_rows`` (their identities differ), so
``table_rows_current`` keeps only the rows written by the same event as the step's current media
row (equal ``sequence``): the latest table, whole, and nothing of the one it replaced.
"""

from __future__ import annotations

from domain.tables import MEDIA, TABLE_ROWS
from query.ddl import Statement, View
from query.reporting_schema import ACTIVITY_V10
from query.reporting_schema import MEDIA as MEDIA_REPORT
from query.reporting_schema import TABLE_ROWS as TABLE_ROWS_REPORT
from query.schema import projection_table

MEDIA_ITEMS = View(
    "media_items",
    "SELECT run_id, key, step, position, timestamp, kind, caption, digest, content_type,"
    " size_bytes, blobs, width, height, boxes, text, columns, row_count, sample_rate,"
    " duration_seconds, sequence FROM {db}.media FINAL",
)

TABLE_ROWS_CURRENT = View(
    "table_rows_current",
    """
SELECT t.run_id AS run_id, t.key AS key, t.step AS step, t.row_index AS row_index,
    t.cells AS cells
FROM {db}.table_rows AS t FINAL
INNER JOIN (SELECT run_id, key, step, sequence FROM {db}.media FINAL WHERE kind = 'table') AS m
    ON m.run_id = t.run_id AND m.key = t.key AND m.step = t.step AND m.sequence = t.sequence
""",
)

MEDIA_STATEMENTS: tuple[Statement, ...] = (
    projection_table(MEDIA),
    projection_table(TABLE_ROWS),
    MEDIA_ITEMS,
    TABLE_ROWS_CURRENT,
    MEDIA_REPORT,
    TABLE_ROWS_REPORT,
    ACTIVITY_V10,
)
