"""Migration 11: saved views (issue #18). The ``saved_views`` projection table and the view
``saved_views_current`` that presents each saved view's latest state.

The table keeps every save and deletion (identity: view id and event id), so a redelivered event
is one row. ``saved_views_current`` takes the latest state by ``(sequence, occurred_at,
event_id)`` like every other "current" view, and the owner from the *first* event: a later save
by a teammate (of a team view) changes the view, never whose it is.

No reporting view: a personal view is its owner's alone, and the per-team SQL credentials
(``reporting_T``) can only tell teams apart, not people.
"""

from __future__ import annotations

from domain.tables import SAVED_VIEWS
from query._execute import LATEST
from query.ddl import Statement, View
from query.schema import projection_table

SAVED_VIEWS_CURRENT = View(
    "saved_views_current",
    f"SELECT view_id, argMin(team, {LATEST}) AS team, argMax(project, {LATEST}) AS project,"
    f" argMax(name, {LATEST}) AS name, argMax(page, {LATEST}) AS page,"
    f" argMax(state_version, {LATEST}) AS state_version, argMax(params, {LATEST}) AS params,"
    f" argMax(visibility, {LATEST}) AS visibility, argMax(user_default, {LATEST}) AS user_default,"
    f" argMin(actor, {LATEST}) AS owner, argMax(actor, {LATEST}) AS updated_by,"
    f" argMax(action = 'deleted', {LATEST}) AS deleted,"
    " min(occurred_at) AS created_at, max(occurred_at) AS updated_at"
    # A view deleted before any save has no state: never listed (the WHERE of every read).
    " FROM {db}.saved_views GROUP BY view_id HAVING countIf(action = 'saved') > 0",
)

SAVED_VIEW_STATEMENTS: tuple[Statement, ...] = (projection_table(SAVED_VIEWS), SAVED_VIEWS_CURRENT)
