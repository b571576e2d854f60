"""People and keys as the projections know them: team members, a person's teams, an API key.

Follows the query layer's rules (see :mod:`query.projects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from query import _execute
from query.access import Caller, Visibility


@dataclass(frozen=True)
class Member:
    team: str
    user_id: str
    display_name: str
    email: str
    role: str
    active: bool
    joined_at: datetime | None
    left_at: datetime | None


def members(client: Client, caller: Caller, *, database: str | None = None) -> tuple[Member, ...]:
    """members of the caller's teams (every team for
    admins), people who left included (``active`` false), ordered by team and name."""
    vis = Visibility.load(client, caller, database)
    condition = "1" if caller.admin else "has({caller_teams:Array(String)}, team)"
    sql = f"""
SELECT team, user_id, display_name, email, role, active, joined_at, left_at
FROM {vis.table("members_current")} WHERE {condition}
ORDER BY team, display_name, user_id
"""
    rows = _execute.rows(client, sql, vis.parameters)
    return tuple(Member(**{**row, "active": bool(row["active"])}) for row in rows)


def teams_of_user(client: Client, user_id: str, *, database: str | None = None) -> frozenset[str]:
    """the teams ``user_id`` is an active member of.
    For sign-in, before there is a caller: it reveals team slugs only, to the server."""
    db = str(database or client.database)
    vis = Visibility(Caller(user_id), db)
    sql = (
        f"SELECT team FROM {vis.table('members_current')}"
        " WHERE user_id = {user:String} AND active ORDER BY team"
    )
    return frozenset(row["team"] for row in _execute.rows(client, sql, {"user": user_id}))


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    team: str
    role: str  # writer / admin
    name: str
    user_id: str  # '' for a service key
    revoked: bool


def api_key_info(client: Client, key_id: str, *, database: str | None = None) -> ApiKeyInfo | None:
    """what the ``api_keys`` projection knows about a key
    id (never the key itself: only ingest can tell whether a key text is valid)."""
    if not key_id:
        return None
    db = str(database or client.database)
    vis = Visibility(Caller(""), db)
    sql = f"""
SELECT key_id, anyIf(team, action = 'issued') AS team, anyIf(role, action = 'issued') AS role,
    anyIf(name, action = 'issued') AS name, anyIf(user_id, action = 'issued') AS user_id,
    countIf(action = 'revoked') > 0 AS revoked
FROM {vis.table("api_keys")} WHERE key_id = {{key_id:String}}
GROUP BY key_id HAVING countIf(action = 'issued') > 0
"""
    rows = _execute.rows(client, sql, {"key_id": key_id})
    return ApiKeyInfo(**{**rows[0], "revoked": bool(rows[0]["revoked"])}) if rows else None
