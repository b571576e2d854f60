"""Saved views: the ones a caller may see, one by id, and a person's default columns.

Who sees a saved view (docs/permissions.md, R19): its owner (the person who first saved it, while
a member of its team); every member of its team when its visibility is ``team``; whoever it is
shared with (``resource_shared`` on the view, to the person or one of their teams); a portal
admin opening it by id. Deleted views are seen by no one. Unlike runs, a shared *project* does
not reveal the views of its team: a view is shared one by one. Every statement binds the caller
as parameters; nothing the caller typed becomes SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError
from query import _execute
from query.access import CALLER_TEAMS, CALLER_USER, Caller, Visibility

_COLUMNS = (
    "view_id, team, project, name, page, state_version, params, visibility, user_default,"
    " owner, updated_by, created_at, updated_at"
)
SHARED_VIEWS = "shared_views"


@dataclass(frozen=True)
class SavedView:
    view_id: str
    team: str
    project: str
    name: str
    page: str  # the portal page: "runs"
    state_version: int
    params: Mapping[str, str] = field(hash=False)  # the page's URL parameters
    visibility: str  # "personal" or "team"
    user_default: bool
    owner: str  # who saved it first
    updated_by: str
    created_at: datetime
    updated_at: datetime


def _visible(vis: Visibility, *, by_id: bool) -> str:
    """The rule above as SQL over ``saved_views_current``; a portal admin sees every view by id
    and, in lists, every team view (not other people's personal ones, which are no one's
    business in a picker)."""
    mine = f"(owner = {{{CALLER_USER}:String}} AND has({{{CALLER_TEAMS}:Array(String)}}, team))"
    shared = f"has({{{SHARED_VIEWS}:Array(String)}}, view_id)"
    if vis.caller.admin:
        return "1" if by_id else f"({mine} OR visibility = 'team' OR {shared})"
    team = f"(visibility = 'team' AND has({{{CALLER_TEAMS}:Array(String)}}, team))"
    return f"({mine} OR {team} OR {shared})"


def _parameters(vis: Visibility) -> dict[str, object]:
    return {
        CALLER_USER: vis.caller.user_id,
        CALLER_TEAMS: sorted(vis.caller.teams),
        SHARED_VIEWS: sorted(i for kind, i in vis.shared_objects if kind == "view"),
    }


def _load(client: Client, caller: Caller, database: str | None) -> Visibility:
    if caller.admin:  # Visibility.load reads no shares for admins; a list still wants them
        vis = Visibility.load(client, Caller(caller.user_id, caller.teams), database)
        return Visibility(caller, vis.database, vis.shared_projects, vis.shared_objects)
    return Visibility.load(client, caller, database)


def list_views(
    client: Client, caller: Caller, page: str = "runs", *, database: str | None = None
) -> tuple[SavedView, ...]:
    """The named views of ``page`` the caller may see (defaults left out), by name."""
    vis = _load(client, caller, database)
    sql = (
        f"SELECT {_COLUMNS} FROM {vis.table('saved_views_current')}"
        f" WHERE NOT deleted AND NOT user_default AND page = {{page:String}}"
        f" AND {_visible(vis, by_id=False)} ORDER BY lower(name), created_at"
    )
    rows = _execute.rows(client, sql, {**_parameters(vis), "page": page})
    return tuple(SavedView(**row) for row in rows)


def get_view(
    client: Client, caller: Caller, view_id: str, *, database: str | None = None
) -> SavedView:
    """One view by id; NotFoundError when there is none, it was deleted, or the caller may not
    see it (the same error: a link does not reveal that a view exists)."""
    vis = _load(client, caller, database)
    sql = (
        f"SELECT {_COLUMNS} FROM {vis.table('saved_views_current')}"
        f" WHERE view_id = {{view_id:String}} AND NOT deleted AND {_visible(vis, by_id=True)}"
    )
    rows = _execute.rows(client, sql, {**_parameters(vis), "view_id": view_id})
    if not rows:
        raise NotFoundError(f"saved view {view_id!r} does not exist or is not visible to you")
    return SavedView(**rows[0])


def user_default(
    client: Client, caller: Caller, page: str = "runs", *, database: str | None = None
) -> SavedView | None:
    """The caller's own default view of ``page`` (the newest, in any of their teams), or None."""
    vis = Visibility(caller, database or client.database or "default")
    sql = (
        f"SELECT {_COLUMNS} FROM {vis.table('saved_views_current')}"
        f" WHERE NOT deleted AND user_default AND page = {{page:String}}"
        f" AND owner = {{{CALLER_USER}:String}} AND has({{{CALLER_TEAMS}:Array(String)}}, team)"
        " ORDER BY updated_at DESC, view_id DESC LIMIT 1"
    )
    params = {CALLER_USER: caller.user_id, CALLER_TEAMS: sorted(caller.teams), "page": page}
    rows = _execute.rows(client, sql, params)
    return SavedView(**rows[0]) if rows else None
