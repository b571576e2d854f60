"""Migration 6: the automation tables, their current-state views and two reporting views.

- ``rules_current``: one row per rule that exists now (deleted rules are gone), with its latest
  definition and whether it is paused. Rebuilt from ``rules`` (the history of rule events).
- ``delivery_log``: one row per delivery (``delivery_id``): its last status, the number of
  attempts, the last error, first and last attempt times.
- ``cairn_reporting.automation_rules`` and ``cairn_reporting.automation_deliveries`` present the
  same to SQL users (docs/sql.md); neither carries a webhook secret (none is ever projected).
"""

from __future__ import annotations

from domain.tables import AUTOMATION_TABLES
from query._execute import LATEST
from query.ddl import Statement, View
from query.reporting_schema import AUTOMATION_DELIVERIES, AUTOMATION_RULES
from query.schema import projection_table

_DEFINED = "action IN ('created', 'changed')"

RULES_CURRENT = View(
    "rules_current",
    f"""
SELECT team, rule, rule_id, trigger, condition, rule_project, stalled_after_s, targets, paused,
    created_by, created_at, updated_at
FROM (
    SELECT team, rule,
        argMaxIf(rule_id, {LATEST}, action = 'created') AS rule_id,
        argMaxIf(trigger, {LATEST}, {_DEFINED}) AS trigger,
        argMaxIf(condition, {LATEST}, {_DEFINED}) AS condition,
        argMaxIf(rule_project, {LATEST}, {_DEFINED}) AS rule_project,
        argMaxIf(stalled_after_s, {LATEST}, {_DEFINED}) AS stalled_after_s,
        argMaxIf(targets, {LATEST}, {_DEFINED}) AS targets,
        argMaxIf(action, {LATEST}, action IN ('paused', 'resumed', 'created')) = 'paused'
            AS paused,
        argMax(action, {LATEST}) AS last_action,
        argMaxIf(actor, {LATEST}, action = 'created') AS created_by,
        maxIf(occurred_at, action = 'created') AS created_at,
        max(occurred_at) AS updated_at
    FROM {{db}}.rules GROUP BY team, rule
)
WHERE last_action != 'deleted'
""",
)

DELIVERY_LOG = View(
    "delivery_log",
    """
SELECT delivery_id, team, rule, any(trigger) AS trigger, any(event_id) AS event_id,
    any(action_kind) AS action_kind, any(target) AS target,
    argMax(status, attempt) AS status, max(attempt) AS attempts,
    argMax(http_status, attempt) AS http_status, argMax(error, attempt) AS last_error,
    any(text) AS text, min(attempted_at) AS first_attempt_at, max(attempted_at) AS last_attempt_at
FROM {db}.deliveries FINAL GROUP BY delivery_id, team, rule
""",
)

AUTOMATION_STATEMENTS: tuple[Statement, ...] = (
    *(projection_table(t) for t in AUTOMATION_TABLES),
    RULES_CURRENT,
    DELIVERY_LOG,
    AUTOMATION_RULES,
    AUTOMATION_DELIVERIES,
)
