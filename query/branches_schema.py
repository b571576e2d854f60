"""Migration 8: forks and rewinds (issue #23). Tables, the current-branch views every read uses,
and the reporting views.

A **fork** needs nothing here for its points: the SDK copies the parent's points at steps up to
the fork step into the new run's own events (docs/sdk.md, "Fork and rewind", has the figures
behind that choice), so every table and aggregate already holds them. ``run_branches`` records
the fork (and ``lineage`` the ``forked_from`` edge) for the portal and the provenance report.

A **rewind** to step N at sequence S abandons the run's points at steps after N with a sequence
below S. ``metrics`` keeps one row per (run, key, step), the highest sequence, so a step the new
branch logs again replaces the old value by itself; the views below hide the rest:

- ``metric_points`` (replaced): the current branch only. Runs without a rewind read
  ``metrics FINAL`` as before; rewound runs are filtered against their rewinds
  (``run_rewinds``: every rewind's step and sequence).
- ``metric_summaries_current`` has the columns of the ``metric_summaries`` aggregate table: runs
  without a rewind pass through, rewound runs are aggregated again from ``metric_points``. Every
  reader of the aggregate reads this view instead, so summaries (``metrics_last`` and the rest),
  search filters and sorts, compare and run details see only the current branch.
- ``metric_bounds_current`` does the same for ``metric_bounds`` (chart ranges and last points);
  for rewound runs it reports one row more than steps, which sends their charts to the exact
  path over ``metric_points`` (the 64-step rollup cannot forget an abandoned value).
- ``metric_summary`` (replaced) reads ``metric_summaries_current``.

The abandoned points themselves are kept in ``metric_attempts`` (the projection copies them when
it projects the rewind: query/branches.py) and shown by ``cairn_reporting.metric_earlier_attempts``.
"""

from __future__ import annotations

from domain.tables import METRIC_ATTEMPTS, RUN_BRANCHES
from query.ddl import Statement, View
from query.reporting_schema import METRIC_EARLIER_ATTEMPTS, RUN_BRANCHES_REPORT, ReportingView
from query.schema import projection_table

_REWOUND = "(SELECT run_id FROM {db}.run_branches WHERE kind = 'rewind')"

RUN_REWINDS = View(
    "run_rewinds",
    "SELECT run_id, groupArray(step) AS to_steps, groupArray(sequence) AS sequences"
    " FROM {db}.run_branches WHERE kind = 'rewind' GROUP BY run_id",
)

METRIC_POINTS = View(
    "metric_points",
    f"""
SELECT run_id, key, step, timestamp, value, sequence FROM {{db}}.metrics FINAL
WHERE run_id NOT IN {_REWOUND}
UNION ALL
SELECT m.run_id AS run_id, m.key AS key, m.step AS step, m.timestamp AS timestamp,
    m.value AS value, m.sequence AS sequence
FROM (SELECT * FROM {{db}}.metrics FINAL WHERE run_id IN {_REWOUND}) AS m
INNER JOIN {{db}}.run_rewinds AS r ON r.run_id = m.run_id
WHERE NOT arrayExists((t, s) -> m.step > t AND m.sequence < s, r.to_steps, r.sequences)
""",
)

METRIC_SUMMARIES_CURRENT = View(
    "metric_summaries_current",
    f"""
SELECT run_id, key, toFloat64(min_value) AS min_value, toFloat64(max_value) AS max_value,
    toInt64(last_step) AS last_step, toDateTime64(last_timestamp, 9, 'UTC') AS last_timestamp,
    last_value, steps
FROM {{db}}.metric_summaries WHERE run_id NOT IN {_REWOUND}
UNION ALL
SELECT run_id, key, min(value) AS min_value, max(value) AS max_value, max(step) AS last_step,
    max(timestamp) AS last_timestamp, argMaxState(value, step) AS last_value,
    groupBitmapState(toUInt64(step)) AS steps
FROM {{db}}.metric_points WHERE run_id IN {_REWOUND}
GROUP BY run_id, key
""",
)

METRIC_BOUNDS_CURRENT = View(
    "metric_bounds_current",
    f"""
SELECT run_id, key, toInt64(min_step) AS min_step, toInt64(max_step) AS max_step,
    toDateTime64(min_time, 9, 'UTC') AS min_time, toDateTime64(max_time, 9, 'UTC') AS max_time,
    toUInt64(rows) AS rows, steps, last_value, last_time
FROM {{db}}.metric_bounds WHERE run_id NOT IN {_REWOUND}
UNION ALL
SELECT run_id, key, min(step) AS min_step, max(step) AS max_step, min(timestamp) AS min_time,
    max(timestamp) AS max_time, count() + 1 AS rows, groupBitmapState(toUInt64(step)) AS steps,
    argMaxState(value, step) AS last_value, argMaxState(timestamp, step) AS last_time
FROM {{db}}.metric_points WHERE run_id IN {_REWOUND}
GROUP BY run_id, key
""",
)

METRIC_SUMMARY = View(
    "metric_summary",
    "SELECT run_id, key, min(min_value) AS min, max(max_value) AS max,"
    " argMaxMerge(last_value) AS last, max(last_step) AS last_step,"
    " max(last_timestamp) AS last_timestamp, groupBitmapMerge(steps) AS count"
    " FROM {db}.metric_summaries_current GROUP BY run_id, key",
)

BRANCH_REPORTING_VIEWS: tuple[ReportingView, ...] = (RUN_BRANCHES_REPORT, METRIC_EARLIER_ATTEMPTS)

BRANCH_STATEMENTS: tuple[Statement, ...] = (
    projection_table(RUN_BRANCHES),
    projection_table(METRIC_ATTEMPTS),
    RUN_REWINDS,
    METRIC_POINTS,
    METRIC_SUMMARIES_CURRENT,
    METRIC_BOUNDS_CURRENT,
    METRIC_SUMMARY,
    *BRANCH_REPORTING_VIEWS,
)
